// SPDX-License-Identifier: BSL-1.0
// Counters the strategies report, in the JSON form the report merges: keys starting with "max_"
// merge by maximum, the others add up over processes.
#pragma once

#include <sqlite_hybrid/lock_metrics.hpp>

#include <boost/json/object.hpp>

namespace sqlh::bench {

inline boost::json::object retry_metrics() {
    const auto s = sqlite_hybrid::global_lock_metrics().snapshot();
    return {{"lock_errors", s.lock_errors},
            {"retries", s.retries},
            {"retry_give_ups", s.failures},
            {"retry_wait_ms", static_cast<double>(s.total_wait.count()) / 1e3}};
}

} // namespace sqlh::bench
