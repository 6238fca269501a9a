// SPDX-License-Identifier: BSL-1.0
// What one child process measured, and how it travels to the parent: a line of JSON, then the
// latency samples as raw int64 nanoseconds, one block per kind of operation.
#pragma once

#include <boost/json/object.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sqlh::bench {

enum class op_kind { api_write, api_read, bulk_write, log };
inline constexpr std::array<op_kind, 4> op_kinds = {op_kind::api_write, op_kind::api_read,
                                                    op_kind::bulk_write, op_kind::log};
std::string_view op_name(op_kind kind);

// One kind of operation: how many were acknowledged (rows, for bulk writes), how many failed
// visibly to the caller, and the latency of acknowledged calls: every one up to 262,144,
// then a uniform sample of that many (so that a long run's memory stays flat), and the longest.
struct op_record {
    static constexpr std::size_t max_samples = 1 << 18;

    std::uint64_t committed = 0;
    std::uint64_t errors = 0;
    std::string first_error;
    std::vector<std::int64_t> latencies_ns;
    std::int64_t max_ns = 0;
    std::uint64_t calls = 0;      // acknowledged calls, sampled or not
    std::uint64_t sample_rng = 1; // for the sample's replacements

    void succeeded(std::chrono::steady_clock::duration latency, std::uint64_t rows = 1);
    void failed(const std::string& error);
};

struct child_report {
    std::array<op_record, op_kinds.size()> ops;
    double elapsed_s = 0;        // from the common start to the end of the timed part
    double start_skew_ms = 0;    // how late the process was for the common start
    double worst_lag_ms = 0;     // worst lateness of a 1 ms timer on the event loop
    double worst_lag_at_s = 0;   // when, from the start
    // Anonymous resident memory (heap, not the file's mapped pages) at the start, a quarter
    // into the run (caches and samples warmed up) and at the end of the timed part.
    double rss_anon_mb_start = 0, rss_anon_mb_quarter = 0, rss_anon_mb_end = 0;
    std::uint64_t wal_bytes_end = 0;
    std::uint64_t wal_bytes_peak = 0;
    std::uint64_t bulk_offered = 0; // rows the workers produced
    // The value each stats key was last acknowledged with (worker * 1000 + k; 0: never).
    std::vector<std::int64_t> stats_acknowledged;
    boost::json::object metrics; // the strategy's own counters

    op_record& operator[](op_kind k) { return ops[static_cast<std::size_t>(k)]; }
    const op_record& operator[](op_kind k) const { return ops[static_cast<std::size_t>(k)]; }
};

void write_child_report(const std::string& path, const child_report& r);
child_report read_child_report(const std::string& path);

} // namespace sqlh::bench
