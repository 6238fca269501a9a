// SPDX-License-Identifier: BSL-1.0
// Error codes: one category for SQLite result codes (extended codes kept), one for PostgreSQL
// SQLSTATEs, one for the library's own failures, and portable conditions that group them.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <string>
#include <string_view>

namespace sqlite_hybrid {

using error_code = boost::system::error_code;
using error_condition = boost::system::error_condition;

// The library's own failures (its own category, "sqlite_hybrid").
enum class errc {
    closed = 1,          // the database was closed, or is closing
    database_busy,       // a lock error outlasted every retry and the deadline
    buffer_full,         // a bounded buffer has no room and the caller asked not to wait
    invalid_identifier,  // a table or column name that is not in the schema
    type_mismatch,       // a column value of another type than the one asked for
    null_value,          // NULL read into a type that cannot hold it
    column_out_of_range, // asked for a column the statement does not have
    parameter_count,     // bound values do not match the statement's parameters
    multiple_statements, // several statements given where one is expected
    job_exception,       // a job threw something that is not a system_error
    wal_unavailable,     // WAL was required but the file or path cannot use it
    migration_failed,    // SQLite refused a schema migration step's SQL
    not_read_only,       // a write statement was sent to a read-only connection
    invalid_key,         // a key column value that is missing or NULL
    path_refused,        // a file that may not be used for this (the main database as a log file)
    statement_refused,   // transaction control, a per-connection PRAGMA or ATTACH in a job
    value_out_of_range,  // a number that the type it is read into or bound from cannot hold
    rows_dead_lettered,  // a flush wrote the other rows; some could never be (dead_letters())
    foreign_key_cycle,   // the write buffer cannot order writes to a table on a reference cycle
};

// Conditions that group codes of every category, for `ec == condition::busy` tests. On
// PostgreSQL the SQLSTATE classes map as noted.
enum class condition {
    lock_error = 1,  // SQLITE_BUSY*, SQLITE_LOCKED*, database_busy; 40001, 40P01, 55P03
    busy,            // SQLITE_BUSY* or database_busy; 55P03 lock_not_available
    locked,          // SQLITE_LOCKED*
    constraint,      // any SQLITE_CONSTRAINT*; class 23
    unique_violation, // a duplicate unique or primary key (PostgreSQL reports both as 23505)
    primary_key_violation,
    foreign_key_violation,
    not_null_violation,
    check_violation,
    io_error,        // SQLITE_IOERR*
    disk_full,       // SQLITE_FULL
    corrupt,         // SQLITE_CORRUPT* or SQLITE_NOTADB
    read_only,       // SQLITE_READONLY* or not_read_only
    cannot_open,     // SQLITE_CANTOPEN*
    interrupted,     // SQLITE_INTERRUPT
    syntax_error,    // SQLITE_ERROR from prepare (the generic SQL error)
    misuse,          // SQLITE_MISUSE, SQLITE_RANGE, parameter/column errors
    connection_lost, // PostgreSQL: class 08, or the server ended the session (57P01-57P03)
};

const boost::system::error_category& sqlite_category() noexcept;
const boost::system::error_category& postgres_category() noexcept;
const boost::system::error_category& library_category() noexcept;
const boost::system::error_category& condition_category() noexcept;

// `code` is an SQLite result code, primary or extended; SQLITE_OK gives an empty error_code.
error_code make_sqlite_error(int code) noexcept;
// `sqlstate` is PostgreSQL's five-character SQLSTATE ("23505"); "00000" gives an empty code.
error_code make_postgres_error(std::string_view sqlstate) noexcept;
// The SQLSTATE of an error from the PostgreSQL category, else empty.
std::string postgres_sqlstate(const error_code& ec);
error_code make_error_code(errc e) noexcept;
error_condition make_error_condition(condition c) noexcept;

// The primary SQLite result code (low byte) of an error from the SQLite category, else 0.
int primary_sqlite_code(const error_code& ec) noexcept;

// True for SQLITE_BUSY, SQLITE_LOCKED and all their extended codes, and for PostgreSQL's
// serialization_failure (40001), deadlock_detected (40P01) and lock_not_available (55P03).
bool is_lock_error(const error_code& ec) noexcept;

} // namespace sqlite_hybrid

template <> struct boost::system::is_error_code_enum<sqlite_hybrid::errc> : std::true_type {};
template <>
struct boost::system::is_error_condition_enum<sqlite_hybrid::condition> : std::true_type {};
