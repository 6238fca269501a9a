// SPDX-License-Identifier: BSL-1.0
// Plain sqlite3, as an application without the library uses it: the baselines, the naive
// strategies, the lock holder and the parent's checks of what reached the file.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace sqlh::bench {

[[noreturn]] void fail_sqlite(sqlite3* db, const std::string& what);

// A connection with the pragmas the library applies by default (WAL, synchronous=NORMAL, cache,
// mmap; read from its default options). Opened under a 5 s busy_timeout, so that opening does
// not fail while other processes write; `busy_timeout` applies afterwards.
class raw_connection {
public:
    raw_connection(const std::string& path, std::chrono::milliseconds busy_timeout);
    raw_connection(const raw_connection&) = delete;
    raw_connection& operator=(const raw_connection&) = delete;
    ~raw_connection();

    void exec(const std::string& sql); // throws on failure
    std::int64_t scalar(const std::string& sql); // the first column of the first row
    sqlite3* get() const { return db_; }

private:
    sqlite3* db_ = nullptr;
};

class raw_statement {
public:
    raw_statement(sqlite3* db, const std::string& sql);
    raw_statement(const raw_statement&) = delete;
    raw_statement& operator=(const raw_statement&) = delete;
    ~raw_statement();

    sqlite3_stmt* get() const { return stmt_; }
    // Steps to the end and resets: SQLITE_OK, or SQLite's extended result code.
    int run();

private:
    sqlite3_stmt* stmt_ = nullptr;
};

// One connection's transactions as an application writes them by hand: BEGIN IMMEDIATE, the
// statements, COMMIT, and ROLLBACK when anything failed.
class raw_transaction {
public:
    explicit raw_transaction(raw_connection& conn);
    int begin() { return begin_.run(); }
    // COMMIT after `rc` == SQLITE_OK, else ROLLBACK; the first failure's code.
    int finish(int rc);

private:
    raw_connection& conn_;
    raw_statement begin_, commit_, rollback_;
};

} // namespace sqlh::bench
