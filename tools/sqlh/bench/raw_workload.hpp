// SPDX-License-Identifier: BSL-1.0
// The workload's statements on plain sqlite3 connections: what the naive strategies run, and
// the raw baselines measure.
#pragma once

#include "bench/bench_schema.hpp"
#include "bench/raw_sqlite.hpp"
#include "bench/strategy.hpp"

#include <span>
#include <string>

namespace sqlh::bench {

inline std::string sqlite_error(int rc) { return rc == SQLITE_OK ? std::string() : sqlite3_errstr(rc); }

// One API coroutine's connection.
struct api_connection {
    api_connection(const std::string& path, std::chrono::milliseconds busy_timeout)
        : conn(path, busy_timeout), tx(conn), insert(conn.get(), insert_item_sql),
          select(conn.get(), select_item_sql) {}

    int write(std::int64_t key) {
        int rc = tx.begin();
        if (rc == SQLITE_OK) {
            const auto name = item_name(key);
            sqlite3_bind_int64(insert.get(), 1, key);
            sqlite3_bind_text(insert.get(), 2, name.data(), static_cast<int>(name.size()),
                              SQLITE_TRANSIENT);
            sqlite3_bind_int64(insert.get(), 3, item_price(key));
            rc = insert.run();
        }
        return tx.finish(rc);
    }

    std::string read(std::int64_t key) {
        sqlite3_bind_int64(select.get(), 1, key);
        const int rc = sqlite3_step(select.get());
        sqlite3_reset(select.get());
        if (rc == SQLITE_ROW)
            return {};
        return rc == SQLITE_DONE ? "an acknowledged item is missing" : sqlite_error(rc);
    }

    raw_connection conn;
    raw_transaction tx;
    raw_statement insert, select;
};

// One worker's connection: a batch of upserts per transaction.
struct worker_connection {
    worker_connection(const std::string& path, std::chrono::milliseconds busy_timeout)
        : conn(path, busy_timeout), tx(conn), upsert(conn.get(), upsert_stat_sql) {}

    int write(std::span<const stat_row> rows) {
        int rc = tx.begin();
        for (std::size_t i = 0; i < rows.size() && rc == SQLITE_OK; ++i) {
            sqlite3_bind_int64(upsert.get(), 1, rows[i].key);
            sqlite3_bind_int64(upsert.get(), 2, rows[i].value);
            sqlite3_bind_int64(upsert.get(), 3, rows[i].updated_ms);
            rc = upsert.run();
        }
        return tx.finish(rc);
    }

    raw_connection conn;
    raw_transaction tx;
    raw_statement upsert;
};

} // namespace sqlh::bench
