// SPDX-License-Identifier: BSL-1.0
// The file's persistent state: what every connection sees, whatever it sets for itself.
#include "doctor/checks.hpp"
#include "doctor/format.hpp"

#include <sqlite_hybrid/options.hpp>

namespace sqlh::doctor {

check journal_mode_check(const std::string& mode) {
    const std::string expected(sqlite_hybrid::to_string(sqlite_hybrid::connection_options{}.journal));
    check c{"journal_mode", check_scope::file, mode, expected};
    if (mode == expected) {
        c.note = "stored in the file: every connection opens in this mode";
        return c;
    }
    c.status = check_status::finding;
    c.note = "a rollback-journal mode is not stored in the file: every connection starts in "
             "it unless the file is switched to WAL";
    c.advice = "The file is in rollback-journal mode (" + mode +
               "): a writer's commit waits for every reader to finish and blocks new readers "
               "meanwhile, so readers and writers run into 'database is locked'. Switch to " +
               expected +
               ": opening the file with sqlite_hybrid's database does it (its writer sets "
               "journal_mode=" +
               expected + " at open), or run `sqlite3 FILE 'PRAGMA journal_mode=" + expected +
               "'` once while no other program has the file open. The mode then stays in the "
               "file for every connection.";
    return c;
}

check page_size_check(std::int64_t page_size) {
    check c{"page_size", check_scope::file, std::to_string(page_size) + " bytes"};
    c.note = "stored in the file; changes only with VACUUM. A WAL frame is one page plus 24 bytes";
    return c;
}

namespace {

check page_count_check(std::int64_t pages, std::int64_t page_size) {
    check c{"page_count", check_scope::file,
            std::to_string(pages) + " (" + format_bytes(pages * page_size) + ")"};
    if (pages == 0)
        c.note = "the file is empty: no table has been written yet";
    return c;
}

check auto_vacuum_check(std::int64_t mode) {
    static constexpr const char* names[] = {"none", "full", "incremental"};
    check c{"auto_vacuum", check_scope::file,
            mode >= 0 && mode <= 2 ? names[mode] : std::to_string(mode)};
    c.note = "stored in the file; the library leaves it as it is";
    return c;
}

check user_version_check(std::int64_t version) {
    check c{"user_version", check_scope::file, std::to_string(version)};
    c.note = "stored in the file; the library's migrations count the steps applied here "
             "(step i sets it to i + 1)";
    return c;
}

check writable_check(bool read_only) {
    check c{"writable", check_scope::file, read_only ? "no" : "yes", "yes"};
    if (!read_only)
        return c;
    c.status = check_status::finding;
    c.advice = "The file is read-only for this user, so every write fails with "
               "SQLITE_READONLY. Writers need write access to the file and, in WAL mode, to its "
               "directory (for the -wal and -shm files): fix the permissions or run the writers "
               "as the file's owner.";
    return c;
}

} // namespace

file_facts add_file_checks(doctor_connection& c, report& r) {
    file_facts facts;
    // The first read: a file that is not a database fails here.
    facts.journal_mode = c.text("PRAGMA journal_mode");
    facts.page_size = c.integer("PRAGMA page_size");
    facts.read_only = sqlite3_db_readonly(c.handle(), "main") == 1;
    r.checks.push_back(journal_mode_check(facts.journal_mode));
    r.checks.push_back(page_size_check(facts.page_size));
    r.checks.push_back(page_count_check(c.integer("PRAGMA page_count"), facts.page_size));
    r.checks.push_back(auto_vacuum_check(c.integer("PRAGMA auto_vacuum")));
    r.checks.push_back(user_version_check(c.integer("PRAGMA user_version")));
    r.checks.push_back(writable_check(facts.read_only));
    return facts;
}

} // namespace sqlh::doctor
