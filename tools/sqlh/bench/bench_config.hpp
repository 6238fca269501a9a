// SPDX-License-Identifier: BSL-1.0
// What `sqlh bench` runs: the options, and the workload's fixed shape.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace sqlh::bench {

// Every strategy, in the order they run and print.
inline const std::vector<std::string> all_strategies = {"naive", "busy_timeout", "seed", "hybrid"};
// The hybrid strategy's code on the server --backend names (added after the others).
inline const std::string server_strategy = "postgresql";

struct bench_config {
    std::vector<std::string> strategies = all_strategies;
    int processes = 4;
    int coroutines = 8;   // API coroutines per process
    int workers = 2;      // background workers per process
    int reads_per_write = 2; // an API coroutine reads this many items per write
    bool logs = true;        // log a line per API write and per worker batch
    double duration_s = 5;
    double hold_lock_s = 0; // > 0: a helper process holds the write lock mid-run
    int lock_holds = 1;     // > 1: that many holds at random moments, each up to hold_lock_s
    std::string db_path;    // empty: a temporary file, removed afterwards
    std::string backend_url; // --backend: a PostgreSQL URL the server strategy runs on
    bool json = false;      // JSON on stdout instead of the table
    std::string report_path;
    bool sweep = false;     // also measure throughput against the number of writer processes
    bool progress = false;  // a progress line on stderr (a terminal)
};

// The workload every strategy runs; fixed so that runs compare.
inline constexpr int bulk_batch_rows = 100;   // a worker's batch of upserts
inline constexpr std::chrono::milliseconds bulk_batch_interval{50}; // a batch per worker per 50 ms
inline constexpr int bulk_keys_per_worker = 1000; // a worker cycles over its own keys

// Keys: API items are process * 10^9 + coroutine * 10^6 + n; a worker's stats rows are
// process * 10^6 + worker * 10^3 + k. Every acknowledged write can be traced to its writer.
inline constexpr std::int64_t process_item_keys = 1'000'000'000;
inline constexpr std::int64_t coroutine_item_keys = 1'000'000;
inline constexpr std::int64_t process_stat_keys = 1'000'000;
inline constexpr std::int64_t worker_stat_keys = 1'000;
inline constexpr int max_coroutines = 999;
inline constexpr int max_workers = 999;

} // namespace sqlh::bench
