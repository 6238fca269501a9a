// SPDX-License-Identifier: BSL-1.0
// One strategy as a child process runs it: how an API write, a point read, a worker's batch and
// a log line reach SQLite. The workload (workload.cpp) is the same for every strategy.
#pragma once

#include "bench/child_report.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace sqlh::bench {

struct stat_row {
    std::int64_t key = 0;
    std::int64_t value = 0;
    std::int64_t updated_ms = 0;
};

// Where a child works: its index, its share of the workload, the files.
struct child_config {
    std::string strategy;
    int process = 0;
    int coroutines = 0;
    int workers = 0;
    int reads_per_write = 0;
    bool logs = true;
    double duration_s = 0;
    std::int64_t start_ms = 0; // the common start instant, ms since the epoch
    std::string db_path;
    std::string log_path; // the log database (hybrid)
    std::string out_path;
};

class strategy {
public:
    virtual ~strategy() = default;
    // Each completes with an empty string once acknowledged, else with the error the caller saw.
    virtual boost::asio::awaitable<std::string> write_item(int coroutine, std::int64_t key) = 0;
    virtual boost::asio::awaitable<std::string> read_item(int coroutine, std::int64_t key) = 0;
    virtual boost::asio::awaitable<std::string> write_stats(int worker,
                                                            std::span<const stat_row> rows) = 0;
    // A log line from request handling or a worker; empty when taken, else the error.
    virtual std::string log(std::string_view logger, std::string_view message) = 0;
    // After the timed part: flush and close; records the strategy's counters in `out`.
    virtual boost::asio::awaitable<void> finish(child_report& out) = 0;
};

// Opens the strategy's connections (before the common start).
std::unique_ptr<strategy> make_direct_strategy(boost::asio::io_context& io, const child_config& c);
std::unique_ptr<strategy> make_hybrid_strategy(boost::asio::io_context& io, const child_config& c);

// Waits for the common start, runs the API coroutines, the workers and a 1 ms ticker on `io`
// (this thread) for the duration, then the strategy's finish().
void run_workload(boost::asio::io_context& io, const child_config& c, strategy& s,
                  child_report& out);

} // namespace sqlh::bench
