// SPDX-License-Identifier: BSL-1.0
// The doctor's checks, in groups that append their rows to the report in a fixed order:
// the file's persistent state, the lock right now, the WAL, then the per-connection settings.
#pragma once

#include "doctor/doctor_connection.hpp"
#include "doctor/doctor_report.hpp"

#include <cstdint>
#include <string>

namespace sqlh::doctor {

// What the file checks learnt that later groups depend on.
struct file_facts {
    std::string journal_mode; // as SQLite answers: "wal", "delete", ...
    std::int64_t page_size = 0;
    bool read_only = false;
};

// Rows shared by the full inspection and the header-only one.
check journal_mode_check(const std::string& mode);
check page_size_check(std::int64_t page_size);

// journal_mode, page_size, page_count, auto_vacuum, user_version, writable.
file_facts add_file_checks(doctor_connection& c, report& r);

// hot_journal: whether a crashed writer left a journal that the next read-write open would roll
// back. Decided on a read-only connection, so that the doctor itself never rolls it back.
check hot_journal_check(const std::string& path);

// When a hot journal keeps SQLite from reading: journal_mode and page_size from the header.
void add_header_checks(const std::string& path, report& r);

// write_lock: BEGIN IMMEDIATE without waiting, ROLLBACK at once.
void add_write_lock_check(doctor_connection& c, const file_facts& facts, report& r);

// wal_size and wal_checkpoint (a PASSIVE checkpoint: copies frames, changes no content).
void add_wal_checks(doctor_connection& c, const std::string& path, const file_facts& facts,
                    report& r);

// busy_timeout, synchronous, foreign_keys, cache_size, temp_store, mmap_size,
// journal_size_limit, secure_delete: a plain connection's values against the library's.
void add_connection_setting_checks(doctor_connection& c, report& r);

} // namespace sqlh::doctor
