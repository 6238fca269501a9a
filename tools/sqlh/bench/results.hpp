// SPDX-License-Identifier: BSL-1.0
// The figures of a `sqlh bench` run, as the table, the JSON (field names are documented in
// docs/cli.md and stable) and the HTML report show them.
#pragma once

#include "bench/bench_config.hpp"

#include <boost/describe/class.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace sqlh::bench {

// One kind of operation under one strategy, over all its processes.
struct op_result {
    std::string op; // api_write, api_read, bulk_write (rows), log
    std::uint64_t committed = 0;
    std::uint64_t errors = 0;
    double per_s = 0;  // committed per second of the run
    double vs_raw = 0; // per_s over the raw sqlite3 baseline's rate (0: no baseline)
    double p50_ms = 0, p99_ms = 0, max_ms = 0;
    std::string first_error;
};
BOOST_DESCRIBE_STRUCT(op_result, (),
                      (op, committed, errors, per_s, vs_raw, p50_ms, p99_ms, max_ms, first_error))

struct strategy_result {
    std::string strategy;
    int processes = 0;
    double elapsed_s = 0;
    std::vector<op_result> ops;
    std::uint64_t errors = 0; // surfaced to API callers and workers (logs not included)
    double worst_lag_ms = 0;  // worst lateness of a 1 ms timer on a process's event loop
    double worst_lag_at_s = 0;
    double start_skew_ms = 0;
    std::uint64_t wal_bytes_end = 0;
    std::uint64_t wal_bytes_peak = 0;
    std::uint64_t bulk_offered = 0;        // rows the workers produced
    std::uint64_t rows_checked = 0;        // acknowledged items and stats rows read back
    std::uint64_t rows_lost = 0;           // acknowledged, missing from the file
    std::uint64_t rows_unacknowledged = 0; // items in the file whose write reported a failure
    // Per process: anonymous resident memory in MiB at the start, a quarter in, at the end.
    std::vector<std::vector<double>> rss_anon_mb;
    boost::json::object metrics;
    boost::json::object hold_lock; // the lock holder's timing, with --hold-lock
};
BOOST_DESCRIBE_STRUCT(strategy_result, (),
                      (strategy, processes, elapsed_s, ops, errors, worst_lag_ms, worst_lag_at_s,
                       start_skew_ms, wal_bytes_end, wal_bytes_peak, bulk_offered, rows_checked,
                       rows_lost, rows_unacknowledged, rss_anon_mb, metrics, hold_lock))

// One connection in this process, no contention: what SQLite does on this machine.
struct baseline_result {
    double api_write_per_s = 0; // single-row IMMEDIATE transactions
    double api_read_per_s = 0;  // point SELECTs by primary key
    double bulk_rows_per_s = 0; // the workers' batches: 100 upserts per transaction
    double seconds_each = 0;
};
BOOST_DESCRIBE_STRUCT(baseline_result, (),
                      (api_write_per_s, api_read_per_s, bulk_rows_per_s, seconds_each))

struct sweep_point {
    std::string strategy;
    int processes = 0;
    double api_write_per_s = 0;
    double api_write_p99_ms = 0;
    std::uint64_t errors = 0;
    std::uint64_t rows_lost = 0;
};
BOOST_DESCRIBE_STRUCT(sweep_point, (),
                      (strategy, processes, api_write_per_s, api_write_p99_ms, errors, rows_lost))

struct bench_results {
    std::string sqlite_version;
    std::string machine; // CPU model and hardware threads
    bench_config config;
    baseline_result baseline;
    std::vector<strategy_result> strategies;
    std::vector<sweep_point> sweep;
};

const op_result& find_op(const strategy_result& r, const std::string& op);

} // namespace sqlh::bench
