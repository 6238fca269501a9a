// SPDX-License-Identifier: BSL-1.0
// The doctor's own connection: opens an existing file only (never creates one), never waits for
// a lock, and turns a failed read into an inspection_error, which ends the run with status 2.
#pragma once

#include <cstdint>
#include <memory>
#include <sqlite3.h>
#include <stdexcept>
#include <string>

namespace sqlh::doctor {

// The file could not be inspected; what() says why, in words for the user.
struct inspection_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class doctor_connection {
public:
    enum class access { read_only, read_write };

    // Throws inspection_error when SQLite cannot open the file.
    doctor_connection(const std::string& path, access mode);
    doctor_connection(const doctor_connection&) = delete;
    doctor_connection& operator=(const doctor_connection&) = delete;
    ~doctor_connection();

    sqlite3* handle() const noexcept { return db_; }

    // Runs SQL that returns no rows; the extended result code.
    int exec(const char* sql) noexcept;
    // Steps the first row of `sql` and drops it; the extended result code (a probe).
    int probe(const char* sql) noexcept;

    // The first column of the first row (0 or "" when there is none); throws inspection_error.
    std::int64_t integer(const char* sql);
    std::string text(const char* sql);

private:
    struct statement_deleter {
        void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
    };
    using statement_ptr = std::unique_ptr<sqlite3_stmt, statement_deleter>;

    // Prepares `sql` into `stmt` and steps it once: SQLITE_ROW, SQLITE_DONE or the error.
    int step_first(const char* sql, statement_ptr& stmt) noexcept;
    [[noreturn]] void fail(int rc) const;

    sqlite3* db_ = nullptr;
};

} // namespace sqlh::doctor
