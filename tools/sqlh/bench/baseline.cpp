// SPDX-License-Identifier: BSL-1.0
// The raw sqlite3 baselines, measured in the same run as the strategies: the same statements
// on one connection with nothing else touching the file.
#include "bench/bench_config.hpp"
#include "bench/raw_workload.hpp"
#include "bench/runner.hpp"

#include <chrono>
#include <random>
#include <stdexcept>

namespace sqlh::bench {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// Calls `op` back to back for `seconds`; how many per second it completed.
template <class Op> double rate(double seconds, Op op) {
    const auto start = clock_type::now();
    const auto end = start + std::chrono::duration_cast<clock_type::duration>(
                                 std::chrono::duration<double>(seconds));
    std::uint64_t done = 0;
    while (clock_type::now() < end)
        done += op();
    return static_cast<double>(done) / std::chrono::duration<double>(clock_type::now() - start).count();
}

void check(const std::string& error, const char* what) {
    if (!error.empty())
        throw std::runtime_error(std::string("raw baseline, ") + what + ": " + error);
}

} // namespace

baseline_result measure_baseline(const bench_files& files, double seconds) {
    reset_database(files.db_path, files.log_path);
    baseline_result r;
    r.seconds_each = seconds;
    api_connection api(files.db_path, 5000ms);
    std::int64_t next_key = 0;
    r.api_write_per_s = rate(seconds, [&] {
        check(sqlite_error(api.write(next_key++)), "write");
        return 1;
    });
    std::minstd_rand random(1);
    r.api_read_per_s = rate(seconds, [&] {
        check(api.read(static_cast<std::int64_t>(random() % static_cast<unsigned>(next_key))),
              "read");
        return 1;
    });
    worker_connection worker(files.db_path, 5000ms);
    std::vector<stat_row> batch(bulk_batch_rows);
    std::int64_t sequence = 0;
    r.bulk_rows_per_s = rate(seconds, [&] {
        for (auto& row : batch) {
            ++sequence;
            row = {sequence % worker_stat_keys, sequence, 0};
        }
        check(sqlite_error(worker.write(batch)), "bulk write");
        return bulk_batch_rows;
    });
    return r;
}

} // namespace sqlh::bench
