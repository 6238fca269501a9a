// SPDX-License-Identifier: BSL-1.0
// The live counters behind metrics_snapshot: atomics on the hot paths, a mutex for the rare ones.
#pragma once

#include <sqlite_hybrid/error.hpp>
#include <sqlite_hybrid/metrics.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>

namespace sqlite_hybrid::detail {

struct metrics_state {
    std::atomic<std::uint64_t> reads{0}, writes{0}, maintenance{0}, cancelled{0};
    std::atomic<std::uint64_t> groups{0}, grouped_jobs{0}, largest_group{0};
    std::atomic<std::uint64_t> commit_failures{0}, transactions_lost{0}, group_reruns{0},
        job_reruns{0};
    std::atomic<std::uint64_t> write_queue_depth{0}, read_queue_depth{0};
    std::atomic<std::uint64_t> max_write_queue_depth{0}, max_read_queue_depth{0};
    std::atomic<std::uint64_t> busy_waits{0}, busy_wait_us{0};
    std::atomic<std::uint64_t> wal_pages{0}, checkpoints{0}, checkpoints_incomplete{0};
    std::atomic<std::uint64_t> checkpoint_restarts{0};

    mutable std::mutex errors_mutex;
    std::map<int, std::uint64_t> errors_by_code;
    std::map<std::string, std::uint64_t> errors_by_sqlstate;
    std::uint64_t errors = 0;

    static void raise_max(std::atomic<std::uint64_t>& target, std::uint64_t v) noexcept {
        auto cur = target.load(std::memory_order_relaxed);
        while (v > cur && !target.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
        }
    }

    void count_error(const error_code& ec) {
        std::lock_guard lock(errors_mutex);
        ++errors;
        if (ec.category() == postgres_category()) {
            ++errors_by_sqlstate[postgres_sqlstate(ec)];
            return;
        }
        ++errors_by_code[ec.category() == sqlite_category() ? ec.value() : 1000 + ec.value()];
    }

    metrics_snapshot snapshot() const {
        metrics_snapshot s;
        s.reads = reads;
        s.writes = writes;
        s.maintenance = maintenance;
        s.cancelled = cancelled;
        s.groups = groups;
        s.grouped_jobs = grouped_jobs;
        s.largest_group = largest_group;
        s.commit_failures = commit_failures;
        s.transactions_lost = transactions_lost;
        s.group_reruns = group_reruns;
        s.job_reruns = job_reruns;
        s.write_queue_depth = write_queue_depth;
        s.read_queue_depth = read_queue_depth;
        s.max_write_queue_depth = max_write_queue_depth;
        s.max_read_queue_depth = max_read_queue_depth;
        s.busy_waits = busy_waits;
        s.busy_wait_time = std::chrono::microseconds(busy_wait_us.load());
        s.wal_pages = wal_pages;
        s.checkpoints = checkpoints;
        s.checkpoints_incomplete = checkpoints_incomplete;
        s.checkpoint_restarts = checkpoint_restarts;
        std::lock_guard lock(errors_mutex);
        s.errors_by_code = errors_by_code;
        s.errors_by_sqlstate = errors_by_sqlstate;
        s.errors = errors;
        return s;
    }
};

} // namespace sqlite_hybrid::detail
