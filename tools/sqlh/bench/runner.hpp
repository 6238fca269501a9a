// SPDX-License-Identifier: BSL-1.0
// The parent's side of a run: the raw baselines, and one strategy over P child processes.
#pragma once

#include "bench/results.hpp"

#include <filesystem>
#include <functional>
#include <string>

namespace sqlh::bench {

// The files of a run: the main database and the hybrid's log database next to it.
struct bench_files {
    std::string db_path;
    std::string log_path;
    std::filesystem::path work_dir; // the children's result files
};

// One connection in this process, no contention, `seconds` per kind of operation.
baseline_result measure_baseline(const bench_files& files, double seconds);

// Called about ten times a second while the children run, with the seconds since their start.
using progress_callback = std::function<void(double elapsed_s)>;

// A fresh set of tables, P children from one common instant (and the lock holder when asked),
// their figures merged and every acknowledged write looked up in the file.
strategy_result run_strategy(const bench_config& cfg, const std::string& name, int processes,
                             const bench_files& files, const baseline_result& baseline,
                             const progress_callback& progress);

} // namespace sqlh::bench
