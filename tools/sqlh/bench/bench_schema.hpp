// SPDX-License-Identifier: BSL-1.0
// The tables the workload writes, its statements, and the parent's reading back of the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sqlh::bench {

// API writes: one item per request. Workers: stats rows upserted with a growing value.
// Logs, for the strategies that keep them in the main database.
inline constexpr const char* insert_item_sql = "INSERT INTO items(k, name, price) VALUES(?, ?, ?)";
inline constexpr const char* select_item_sql = "SELECT name, price FROM items WHERE k = ?";
inline constexpr const char* upsert_stat_sql =
    "INSERT INTO stats(key, value, updated_ms) VALUES(?, ?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms";
inline constexpr const char* insert_log_sql =
    "INSERT INTO logs(ts_us, level, logger, message) VALUES(?, ?, ?, ?)";

std::string item_name(std::int64_t key);
std::int64_t item_price(std::int64_t key);

// Empty tables, a compacted file and a truncated WAL: every strategy starts from the same file.
// Removes the log database file at `log_path` too.
void reset_database(const std::string& path, const std::string& log_path);

// Items in the file per process (the last entry counts keys of no process).
std::vector<std::uint64_t> items_per_process(const std::string& path, int processes);

// The stats values of one process's keys, indexed by worker * worker_stat_keys + k (0: absent).
std::vector<std::int64_t> stats_of_process(const std::string& path, int process, int workers);

} // namespace sqlh::bench
