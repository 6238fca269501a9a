// SPDX-License-Identifier: BSL-1.0
// Locks right now: a crashed writer's hot journal, and whether another connection holds the
// write lock. Neither check changes the file.
#include "doctor/checks.hpp"
#include "doctor/format.hpp"

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace sqlh::doctor {

check hot_journal_check(const std::string& path) {
    check c{"hot_journal", check_scope::now, "none", "none"};
    std::error_code ec;
    const auto size = std::filesystem::file_size(path + "-journal", ec);
    if (ec || size == 0)
        return c;
    // A read-only connection reports a hot journal (SQLITE_READONLY_ROLLBACK) where a
    // read-write one would roll it back, changing the file.
    doctor_connection reader(path, doctor_connection::access::read_only);
    const auto bytes = format_bytes(static_cast<std::int64_t>(size));
    if (reader.probe("PRAGMA schema_version") != SQLITE_READONLY_ROLLBACK) {
        c.value = "no (a -journal of " + bytes +
                  " belongs to a transaction in progress, or to journal_mode=persist)";
        return c;
    }
    c.value = "yes (a -journal of " + bytes + ")";
    c.status = check_status::finding;
    c.advice = "A writer stopped in the middle of a transaction (crash, kill, power loss) and "
               "left FILE-journal behind. The next connection that opens the file read-write "
               "rolls it back and the file is consistent again; the doctor does not, so as not to "
               "change the file, and inspects nothing else until then. Open it once (e.g. "
               "`sqlite3 FILE 'PRAGMA quick_check'`), then run the doctor again. Never delete or "
               "rename the -journal file: that corrupts the database.";
    return c;
}

void add_header_checks(const std::string& path, report& r) {
    std::array<unsigned char, 100> header{};
    std::ifstream in(path, std::ios::binary);
    in.read(reinterpret_cast<char*>(header.data()), header.size());
    static constexpr char magic[] = "SQLite format 3";
    if (in.gcount() != static_cast<std::streamsize>(header.size()) ||
        std::memcmp(header.data(), magic, sizeof magic) != 0)
        throw inspection_error("file is not a database");
    // Bytes 16-17: the page size (1 stands for 65536); byte 18: 2 in WAL mode, 1 otherwise.
    const std::int64_t size = header[16] << 8 | header[17];
    r.checks.push_back(journal_mode_check(header[18] == 2 ? "wal" : "delete"));
    r.checks.push_back(page_size_check(size == 1 ? 65536 : size));
}

void add_write_lock_check(doctor_connection& c, const file_facts& facts, report& r) {
    check lock{"write_lock", check_scope::now, "free", "free"};
    if (facts.read_only) {
        lock.value = "not probed: the file is read-only for this user";
        lock.status = check_status::skipped;
        r.checks.push_back(std::move(lock));
        return;
    }
    // BEGIN IMMEDIATE takes the write lock or fails at once (busy timeout 0); nothing is written.
    const int rc = c.exec("BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) {
        c.exec("ROLLBACK");
    } else if ((rc & 0xff) == SQLITE_BUSY) {
        lock.value = "held by another connection or process";
        lock.status = check_status::finding;
        lock.advice =
            "Another connection is inside a write transaction right now. Run the doctor again: "
            "if the lock is still held, a transaction stays open too long (work done between "
            "BEGIN and COMMIT, a process stopped in a debugger, a transaction never committed); "
            "`fuser FILE` lists the processes that have the file open. Keep write transactions "
            "short, send all the writes of a process through one writer (sqlite_hybrid's "
            "database does, committing queued writes together), and give other programs a "
            "busy_timeout so that they wait for the lock instead of failing.";
    } else {
        lock.value = "not probed: " + std::string(sqlite3_errmsg(c.handle()));
        lock.status = check_status::skipped;
    }
    r.checks.push_back(std::move(lock));
}

} // namespace sqlh::doctor
