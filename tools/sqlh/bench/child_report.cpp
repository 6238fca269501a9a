// SPDX-License-Identifier: BSL-1.0
#include "bench/child_report.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>
#include <stdexcept>

namespace sqlh::bench {

namespace json = boost::json;

std::string_view op_name(op_kind kind) {
    switch (kind) {
    case op_kind::api_write: return "api_write";
    case op_kind::api_read: return "api_read";
    case op_kind::bulk_write: return "bulk_write";
    case op_kind::log: return "log";
    }
    return "?";
}

void op_record::succeeded(std::chrono::steady_clock::duration latency, std::uint64_t rows) {
    committed += rows;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count();
    max_ns = std::max(max_ns, ns);
    ++calls;
    if (latencies_ns.size() < max_samples) {
        latencies_ns.push_back(ns);
        return;
    }
    // Reservoir sampling: the n-th call replaces a random sample with probability max / n.
    sample_rng = sample_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto slot = (sample_rng >> 11) % calls;
    if (slot < max_samples)
        latencies_ns[slot] = ns;
}

void op_record::failed(const std::string& error) {
    if (errors++ == 0)
        first_error = error;
}

void write_child_report(const std::string& path, const child_report& r) {
    json::array ops;
    for (const auto& op : r.ops)
        ops.push_back({{"committed", op.committed},
                       {"errors", op.errors},
                       {"first_error", op.first_error},
                       {"max_ns", op.max_ns},
                       {"samples", op.latencies_ns.size()}});
    const json::object head{{"ops", std::move(ops)},
                            {"elapsed_s", r.elapsed_s},
                            {"start_skew_ms", r.start_skew_ms},
                            {"worst_lag_ms", r.worst_lag_ms},
                            {"worst_lag_at_s", r.worst_lag_at_s},
                            {"rss_anon_mb", {r.rss_anon_mb_start, r.rss_anon_mb_quarter,
                                             r.rss_anon_mb_end}},
                            {"wal_bytes_end", r.wal_bytes_end},
                            {"wal_bytes_peak", r.wal_bytes_peak},
                            {"bulk_offered", r.bulk_offered},
                            {"stats_acknowledged", json::value_from(r.stats_acknowledged)},
                            {"metrics", r.metrics}};
    std::ofstream out(path, std::ios::binary);
    out << json::serialize(head) << '\n';
    for (const auto& op : r.ops)
        out.write(reinterpret_cast<const char*>(op.latencies_ns.data()),
                  static_cast<std::streamsize>(op.latencies_ns.size() * sizeof(std::int64_t)));
    if (!out)
        throw std::runtime_error("cannot write " + path);
}

child_report read_child_report(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string line;
    if (!std::getline(in, line))
        throw std::runtime_error("no results in " + path);
    const json::object head = json::parse(line).as_object();
    child_report r;
    const auto& ops = head.at("ops").as_array();
    for (std::size_t i = 0; i < r.ops.size(); ++i) {
        const auto& o = ops.at(i).as_object();
        r.ops[i].committed = o.at("committed").to_number<std::uint64_t>();
        r.ops[i].errors = o.at("errors").to_number<std::uint64_t>();
        r.ops[i].first_error = json::value_to<std::string>(o.at("first_error"));
        r.ops[i].max_ns = o.at("max_ns").to_number<std::int64_t>();
        r.ops[i].latencies_ns.resize(o.at("samples").to_number<std::size_t>());
    }
    r.elapsed_s = head.at("elapsed_s").to_number<double>();
    r.start_skew_ms = head.at("start_skew_ms").to_number<double>();
    r.worst_lag_ms = head.at("worst_lag_ms").to_number<double>();
    r.worst_lag_at_s = head.at("worst_lag_at_s").to_number<double>();
    const auto& rss = head.at("rss_anon_mb").as_array();
    r.rss_anon_mb_start = rss.at(0).to_number<double>();
    r.rss_anon_mb_quarter = rss.at(1).to_number<double>();
    r.rss_anon_mb_end = rss.at(2).to_number<double>();
    r.wal_bytes_end = head.at("wal_bytes_end").to_number<std::uint64_t>();
    r.wal_bytes_peak = head.at("wal_bytes_peak").to_number<std::uint64_t>();
    r.bulk_offered = head.at("bulk_offered").to_number<std::uint64_t>();
    r.stats_acknowledged = json::value_to<std::vector<std::int64_t>>(head.at("stats_acknowledged"));
    r.metrics = head.at("metrics").as_object();
    for (auto& op : r.ops)
        in.read(reinterpret_cast<char*>(op.latencies_ns.data()),
                static_cast<std::streamsize>(op.latencies_ns.size() * sizeof(std::int64_t)));
    if (!in)
        throw std::runtime_error("truncated results in " + path);
    return r;
}

} // namespace sqlh::bench
