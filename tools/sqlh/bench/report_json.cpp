// SPDX-License-Identifier: BSL-1.0
#include "bench/report.hpp"

#include <sqlite_hybrid/database_url.hpp>

#include <boost/json.hpp>

namespace sqlh::bench {

namespace json = boost::json;

json::value to_json(const bench_results& r) {
    const auto& c = r.config;
    json::array strategies;
    for (const auto& name : c.strategies)
        strategies.emplace_back(name);
    return json::object{
        {"sqlite_version", r.sqlite_version},
        {"machine", r.machine},
        {"config",
         {{"strategies", std::move(strategies)},
          {"processes", c.processes},
          {"coroutines", c.coroutines},
          {"workers", c.workers},
          {"duration_s", c.duration_s},
          {"hold_lock_s", c.hold_lock_s},
          {"lock_holds", c.lock_holds},
          {"db", c.db_path},
          {"backend", sqlite_hybrid::redact_database_url(c.backend_url)},
          {"bulk_batch_rows", bulk_batch_rows},
          {"bulk_batch_interval_ms", bulk_batch_interval.count()},
          {"reads_per_write", c.reads_per_write},
          {"logs", c.logs}}},
        {"baseline", json::value_from(r.baseline)},
        {"strategies", json::value_from(r.strategies)},
        {"sweep", json::value_from(r.sweep)}};
}

} // namespace sqlh::bench
