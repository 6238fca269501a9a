// SPDX-License-Identifier: BSL-1.0
// How with_retry waits between attempts, and what it reports when it gives up.
#pragma once

#include <sqlite_hybrid/error.hpp>
#include <sqlite_hybrid/lock_metrics.hpp>
#include <sqlite_hybrid/logger.hpp>

#include <chrono>
#include <memory>
#include <optional>

namespace sqlite_hybrid {

struct retry_policy {
    int max_retries = 3;                         // attempts after the first
    std::chrono::milliseconds base_delay{100};   // delay = min(base * 2^retry, max)
    std::chrono::milliseconds max_delay{2000};
    bool jitter = true;                          // delay * [0.75, 1.25)
    std::optional<std::chrono::milliseconds> deadline; // overall, from the first attempt
    std::shared_ptr<lock_metrics> metrics;       // counted besides global_lock_metrics()
    logger log;                                  // each retry at debug level; empty: none

    // The delay before retry number `retry` (0-based), without jitter.
    std::chrono::milliseconds delay_before(int retry) const noexcept;
};

// Filled when with_retry completes (give a pointer to one).
struct retry_report {
    int attempts = 0;
    std::chrono::microseconds waited{0}; // in backoff between attempts
    error_code last_error;               // the last attempt's own error
    bool deadline_reached = false;
};

} // namespace sqlite_hybrid
