// SPDX-License-Identifier: BSL-1.0
// The WAL: how big it is, and how much of it a PASSIVE checkpoint can copy into the file. Frames
// it cannot copy are pinned by readers on older snapshots, the usual cause of a WAL that grows.
#include "doctor/checks.hpp"
#include "doctor/format.hpp"

#include <filesystem>
#include <sqlite_hybrid/options.hpp>

namespace sqlh::doctor {
namespace {

constexpr std::int64_t wal_header_bytes = 32;
constexpr std::int64_t frame_header_bytes = 24;

void add_skipped(report& r, const char* name, const std::string& why) {
    check c{name, check_scope::now, "not applicable: " + why};
    c.status = check_status::skipped;
    r.checks.push_back(std::move(c));
}

check wal_size_check(std::int64_t bytes, std::int64_t page_size) {
    const std::int64_t frames = bytes > wal_header_bytes
                                    ? (bytes - wal_header_bytes) / (page_size + frame_header_bytes)
                                    : 0;
    // The library's writer forces a RESTART checkpoint at checkpoint_restart_pages; a WAL twice
    // that long means checkpoints are not keeping up.
    const std::int64_t restart_pages = sqlite_hybrid::database_options{}.checkpoint_restart_pages;
    const std::int64_t limit = 2 * restart_pages;
    check c{"wal_size", check_scope::now,
            format_bytes(bytes) + " (" + std::to_string(frames) + " frames)",
            "<= " + std::to_string(limit) + " frames"};
    if (frames <= limit)
        return c;
    c.status = check_status::finding;
    c.advice = "The -wal file has grown to " + c.value + ", more than twice the " +
               std::to_string(restart_pages) +
               " pages (database_options::checkpoint_restart_pages) at which sqlite_hybrid "
               "forces a RESTART checkpoint. Causes: readers that never let go of old snapshots "
               "(see wal_checkpoint), one huge transaction, or writers with automatic "
               "checkpoints turned off. A long WAL slows reads (each looks pages up in its "
               "index) and holds disk space. Once no one reads, `sqlite3 FILE 'PRAGMA "
               "wal_checkpoint(TRUNCATE)'` empties it; a journal_size_limit (sqlite_hybrid sets " +
               format_bytes(sqlite_hybrid::connection_options{}.journal_size_limit) +
               ") truncates the file whenever the WAL starts over.";
    return c;
}

check checkpoint_check(doctor_connection& c, wal_figures& wal) {
    check row{"wal_checkpoint", check_scope::now};
    int log = -1;
    int copied = -1;
    // PASSIVE waits for no one and copies only frames no reader still needs: the file's
    // content stays what it was.
    const int rc =
        sqlite3_wal_checkpoint_v2(c.handle(), "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    if ((rc & 0xff) == SQLITE_BUSY) {
        row.value = "not run: another connection is checkpointing right now";
        row.status = check_status::skipped;
        return row;
    }
    if (rc != SQLITE_OK) {
        row.value = "not run: " + std::string(sqlite3_errmsg(c.handle()));
        row.status = check_status::skipped;
        return row;
    }
    wal.log_frames = log;
    wal.checkpointed_frames = copied;
    const int left = log - copied;
    row.value = std::to_string(copied) + " of " + std::to_string(log) + " frames copied";
    row.expected = "all frames copied";
    if (left <= 0)
        return row;
    row.value += ", " + std::to_string(left) + " left";
    row.status = check_status::finding;
    row.advice =
        std::to_string(left) +
        " frames could not be copied into the file: a reader is still inside a read "
        "transaction that began before they were written, and the WAL cannot start over until "
        "it ends. Readers that stay in one transaction (a statement stepped but never finished "
        "or reset, a BEGIN without COMMIT, work done while iterating rows) keep the WAL growing "
        "and every read slower. End read transactions promptly; sqlite_hybrid's queries end "
        "theirs when they complete. Run the doctor again: if frames stay left while nothing "
        "should be reading, `fuser FILE` lists the processes that have the file open.";
    return row;
}

} // namespace

void add_wal_checks(doctor_connection& c, const std::string& path, const file_facts& facts,
                    report& r) {
    if (facts.journal_mode != "wal") {
        const auto why = "journal_mode is " + facts.journal_mode;
        add_skipped(r, "wal_size", why);
        add_skipped(r, "wal_checkpoint", why);
        return;
    }
    wal_figures wal;
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(path + "-wal", ec);
    wal.file_bytes = ec ? 0 : static_cast<std::int64_t>(bytes);
    r.checks.push_back(wal_size_check(wal.file_bytes, facts.page_size));
    r.checks.push_back(checkpoint_check(c, wal));
    r.wal = wal;
}

} // namespace sqlh::doctor
