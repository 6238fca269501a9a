// SPDX-License-Identifier: BSL-1.0
// A snapshot of what a database has done: plain numbers, cheap to copy and to render.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace sqlite_hybrid {

struct metrics_snapshot {
    // Completed operations, by kind (failed ones included).
    std::uint64_t reads = 0;
    std::uint64_t writes = 0;
    std::uint64_t maintenance = 0;
    std::uint64_t cancelled = 0;

    // Failed operations, keyed by the SQLite extended result code or, for the library's own
    // errors, by 1000 + the errc value.
    std::map<int, std::uint64_t> errors_by_code;
    std::map<std::string, std::uint64_t> errors_by_sqlstate; // PostgreSQL's errors
    std::uint64_t errors = 0;

    // Group commit: transactions run by the writer and the jobs they carried.
    std::uint64_t groups = 0;
    std::uint64_t grouped_jobs = 0;
    std::uint64_t largest_group = 0;
    std::uint64_t commit_failures = 0;
    // Rolled back under a job: by SQLite after an I/O error or a full disk, or by the job's own
    // OR ROLLBACK / RAISE(ROLLBACK). That job fails; the others of its group run again.
    std::uint64_t transactions_lost = 0;
    // Groups whose transaction was rolled back with other jobs' work in it (above, a failed
    // statement whose changes SQLite could not undo alone, or a failed COMMIT).
    std::uint64_t group_reruns = 0;
    // Job functions called again because of that (the only case a job's function runs twice).
    std::uint64_t job_reruns = 0;
    double mean_group_size() const {
        return groups ? static_cast<double>(grouped_jobs) / static_cast<double>(groups) : 0.0;
    }

    // Queues in front of the writer and the readers (now, and the deepest seen).
    std::uint64_t write_queue_depth = 0;
    std::uint64_t read_queue_depth = 0;
    std::uint64_t max_write_queue_depth = 0;
    std::uint64_t max_read_queue_depth = 0;

    // Time spent waiting for another process's lock inside the busy handler.
    std::uint64_t busy_waits = 0;
    std::chrono::microseconds busy_wait_time{0};

    // WAL and checkpoints (the writer runs them).
    std::uint64_t wal_pages = 0;           // pages in the WAL after the last commit
    std::uint64_t checkpoints = 0;
    std::uint64_t checkpoints_incomplete = 0; // readers or a busy lock kept frames from copying
    std::uint64_t checkpoint_restarts = 0;    // RESTART checkpoints run by the writer
};

} // namespace sqlite_hybrid
