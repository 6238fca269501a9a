// SPDX-License-Identifier: BSL-1.0
#include "bench/raw_sqlite.hpp"

#include <sqlite_hybrid/options.hpp>

#include <stdexcept>

namespace sqlh::bench {

void fail_sqlite(sqlite3* db, const std::string& what) {
    throw std::runtime_error(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

raw_connection::raw_connection(const std::string& path, std::chrono::milliseconds busy_timeout) {
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        nullptr) != SQLITE_OK)
        fail_sqlite(db_, "open " + path);
    sqlite3_extended_result_codes(db_, 1);
    const sqlite_hybrid::connection_options o;
    const sqlite_hybrid::database_options d;
    sqlite3_busy_timeout(db_, 5000);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("PRAGMA cache_size=" + std::to_string(o.cache_size));
    exec("PRAGMA temp_store=MEMORY");
    exec("PRAGMA mmap_size=" + std::to_string(o.mmap_size));
    exec("PRAGMA journal_size_limit=" + std::to_string(o.journal_size_limit));
    exec("PRAGMA wal_autocheckpoint=" + std::to_string(d.checkpoint_threshold_pages));
    sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout.count()));
}

raw_connection::~raw_connection() { sqlite3_close_v2(db_); }

void raw_connection::exec(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
        fail_sqlite(db_, sql);
}

std::int64_t raw_connection::scalar(const std::string& sql) {
    raw_statement s(db_, sql);
    const int rc = sqlite3_step(s.get());
    if (rc != SQLITE_ROW)
        fail_sqlite(db_, sql);
    return sqlite3_column_int64(s.get(), 0);
}

raw_statement::raw_statement(sqlite3* db, const std::string& sql) {
    if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) !=
        SQLITE_OK)
        fail_sqlite(db, sql);
}

raw_statement::~raw_statement() { sqlite3_finalize(stmt_); }

int raw_statement::run() {
    int rc;
    while ((rc = sqlite3_step(stmt_)) == SQLITE_ROW) {
    }
    sqlite3_reset(stmt_);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

raw_transaction::raw_transaction(raw_connection& conn)
    : conn_(conn), begin_(conn.get(), "BEGIN IMMEDIATE"), commit_(conn.get(), "COMMIT"),
      rollback_(conn.get(), "ROLLBACK") {}

int raw_transaction::finish(int rc) {
    if (rc == SQLITE_OK)
        rc = commit_.run();
    if (!sqlite3_get_autocommit(conn_.get()))
        (void)rollback_.run();
    return rc;
}

} // namespace sqlh::bench
