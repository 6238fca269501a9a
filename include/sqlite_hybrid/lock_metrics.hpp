// SPDX-License-Identifier: BSL-1.0
// Counters of lock contention: lock errors seen, retries made, operations given up, and how
// long operations waited for a lock (a histogram). One process-wide set, and optional ones per
// retry policy.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace sqlite_hybrid {

struct wait_histogram {
    // Upper bounds of the buckets; the last bucket counts everything longer.
    static constexpr std::array<std::chrono::milliseconds, 12> bounds{
        std::chrono::milliseconds(1),   std::chrono::milliseconds(2),
        std::chrono::milliseconds(5),   std::chrono::milliseconds(10),
        std::chrono::milliseconds(20),  std::chrono::milliseconds(50),
        std::chrono::milliseconds(100), std::chrono::milliseconds(200),
        std::chrono::milliseconds(500), std::chrono::milliseconds(1000),
        std::chrono::milliseconds(2000), std::chrono::milliseconds(5000)};
    std::array<std::uint64_t, bounds.size() + 1> counts{};
    std::uint64_t total() const;
};

struct lock_metrics_snapshot {
    std::uint64_t lock_errors = 0; // attempts that failed with SQLITE_BUSY / SQLITE_LOCKED
    std::uint64_t retries = 0;     // attempts started again after a backoff
    std::uint64_t failures = 0;    // operations given up: database_busy
    std::chrono::microseconds total_wait{0};
    wait_histogram waits; // per operation that saw a lock error: time spent in backoff
};

class lock_metrics {
public:
    void lock_error() noexcept { lock_errors_.fetch_add(1, std::memory_order_relaxed); }
    void retry() noexcept { retries_.fetch_add(1, std::memory_order_relaxed); }
    void failure() noexcept { failures_.fetch_add(1, std::memory_order_relaxed); }
    void waited(std::chrono::microseconds total) noexcept;
    lock_metrics_snapshot snapshot() const noexcept;

private:
    std::atomic<std::uint64_t> lock_errors_{0}, retries_{0}, failures_{0}, wait_us_{0};
    std::array<std::atomic<std::uint64_t>, wait_histogram::bounds.size() + 1> buckets_{};
};

// Everything every with_retry in the process counted.
lock_metrics& global_lock_metrics() noexcept;

} // namespace sqlite_hybrid
