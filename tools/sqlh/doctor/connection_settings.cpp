// SPDX-License-Identifier: BSL-1.0
// Per-connection settings: not stored in the file, so each program that opens it gets SQLite's
// defaults unless it sets its own. sqlite_hybrid applies connection_options{} at every open; the
// doctor's connection sets nothing (its busy timeout is SQLite's default, 0), so it shows what
// any other program gets.
#include "doctor/checks.hpp"
#include "doctor/format.hpp"

#include <sqlite_hybrid/options.hpp>

namespace sqlh::doctor {
namespace {

check setting(const char* name, std::string plain, std::string library, std::string note) {
    check c{name, check_scope::connection, std::move(plain), std::move(library)};
    c.status = c.value == c.expected ? check_status::ok : check_status::info;
    c.note = std::move(note);
    return c;
}

std::string cache_size_text(std::int64_t size) {
    return size < 0 ? std::to_string(-size) + " KiB" : std::to_string(size) + " pages";
}

std::string size_limit_text(std::int64_t bytes) {
    return bytes < 0 ? "no limit" : format_bytes(bytes);
}

std::string mmap_text(std::int64_t bytes) {
    return bytes <= 0 ? "off" : format_bytes(bytes);
}

std::string_view temp_store_name(std::int64_t mode) {
    return mode == 2 ? "memory" : mode == 1 ? "file" : "default";
}

check foreign_keys_check(doctor_connection& c, bool library) {
    const bool plain = c.integer("PRAGMA foreign_keys") != 0;
    const auto declared = c.integer("SELECT count(*) FROM sqlite_master AS s, "
                                    "pragma_foreign_key_list(s.name) WHERE s.type = 'table'");
    auto row =
        setting("foreign_keys", std::string(on_off(plain)), std::string(on_off(library)), "");
    const auto keys = std::to_string(declared) + (declared == 1 ? " foreign key" : " foreign keys");
    row.value += " (the schema declares " + keys + ")";
    row.status = plain == library ? check_status::ok : check_status::info;
    if (plain == library)
        row.note = "the same for every connection";
    else if (declared == 0)
        row.note = "the schema declares no foreign keys: nothing to enforce yet";
    else
        row.note = "programs that do not run PRAGMA foreign_keys=" + std::string(on_off(library)) +
                   " write " + (library ? "without checking" : "while checking") +
                   " the schema's " + keys;
    return row;
}

} // namespace

void add_connection_setting_checks(doctor_connection& c, report& r) {
    const sqlite_hybrid::connection_options library;
    r.checks.push_back(setting(
        "busy_timeout", std::to_string(c.integer("PRAGMA busy_timeout")) + " ms",
        std::to_string(library.busy_timeout.count()) + " ms",
        "a program that sets none gets 'database is locked' as soon as another connection holds "
        "the lock; sqlite_hybrid waits up to this long, polling fairly every " +
            std::to_string(library.busy_poll_interval.count()) +
            " us, and its writer keeps trying until lock_timeout off the pool's threads"));
    r.checks.push_back(setting(
        "synchronous", std::string(synchronous_name(c.integer("PRAGMA synchronous"))),
        std::string(sqlite_hybrid::to_string(library.synchronous)),
        "full syncs the WAL at every commit, which holds the write lock longer; normal in WAL "
        "mode stays consistent and survives a crash of the program (the last commits may roll "
        "back on power loss)"));
    r.checks.push_back(foreign_keys_check(c, library.foreign_keys));
    r.checks.push_back(setting("cache_size", cache_size_text(c.integer("PRAGMA cache_size")),
                               cache_size_text(library.cache_size),
                               "the page cache of each connection"));
    r.checks.push_back(setting("temp_store",
                               std::string(temp_store_name(c.integer("PRAGMA temp_store"))),
                               library.temp_store_memory ? "memory" : "default",
                               "where temporary tables and sort space go"));
    r.checks.push_back(setting("mmap_size", mmap_text(c.integer("PRAGMA mmap_size")),
                               mmap_text(library.mmap_size),
                               "how much of the file is read through memory mapping"));
    r.checks.push_back(setting(
        "journal_size_limit", size_limit_text(c.integer("PRAGMA journal_size_limit")),
        size_limit_text(library.journal_size_limit),
        "when the WAL starts over, a connection with a limit truncates the -wal file to it; "
        "without one the file keeps its largest size"));
    const std::string secure_delete(on_off(c.integer("PRAGMA secure_delete") != 0));
    r.checks.push_back(
        setting("secure_delete", secure_delete,
                library.secure_delete ? std::string(on_off(*library.secure_delete)) : secure_delete,
                "on zeroes deleted content (more writes); sqlite_hybrid keeps the "
                "build's default unless connection_options::secure_delete is set"));
}

} // namespace sqlh::doctor
