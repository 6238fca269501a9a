// SPDX-License-Identifier: BSL-1.0
#include "bench/report.hpp"
#include "bench/svg_chart.hpp"

#include <cstdio>
#include <map>

namespace sqlh::bench {

namespace {

std::string format(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string ops_table(const bench_results& r) {
    std::string t = "<table><tr><th>strategy</th><th>operation</th><th>committed</th>"
                    "<th>errors</th><th>per s</th><th>vs raw</th><th>p50 ms</th><th>p99 ms</th>"
                    "<th>max ms</th></tr>";
    for (const auto& s : r.strategies)
        for (const auto& op : s.ops)
            t += "<tr><td>" + html_escape(s.strategy) + "</td><td>" + op.op + "</td><td>" +
                 std::to_string(op.committed) + "</td><td>" + std::to_string(op.errors) +
                 "</td><td>" + format("%.0f", op.per_s) + "</td><td>" +
                 (op.vs_raw > 0 ? format("%.2fx", op.vs_raw) : "-") + "</td><td>" +
                 format("%.3f", op.p50_ms) + "</td><td>" + format("%.3f", op.p99_ms) +
                 "</td><td>" + format("%.2f", op.max_ms) + "</td></tr>";
    return t + "</table>";
}

std::string summary_table(const bench_results& r) {
    std::string t = "<table><tr><th>strategy</th><th>errors surfaced</th><th>worst lag ms</th>"
                    "<th>WAL peak MB</th><th>rows lost</th><th>rows checked</th></tr>";
    for (const auto& s : r.strategies)
        t += "<tr><td>" + html_escape(s.strategy) + "</td><td>" + std::to_string(s.errors) +
             "</td><td>" + format("%.1f", s.worst_lag_ms) + "</td><td>" +
             format("%.1f", static_cast<double>(s.wal_bytes_peak) / 1e6) + "</td><td>" +
             std::to_string(s.rows_lost) + "</td><td>" + std::to_string(s.rows_checked) +
             "</td></tr>";
    return t + "</table>";
}

std::vector<bar> bars_of(const bench_results& r, double (*pick)(const strategy_result&)) {
    std::vector<bar> bars;
    for (const auto& s : r.strategies)
        bars.push_back({s.strategy, pick(s)});
    return bars;
}

std::string sweep_chart(const bench_results& r) {
    std::map<std::string, series> by_strategy;
    for (const auto& p : r.sweep) {
        auto& s = by_strategy[p.strategy];
        s.name = p.strategy;
        s.points.emplace_back(p.processes, p.api_write_per_s);
    }
    std::vector<series> lines;
    for (const auto& name : r.config.strategies)
        if (by_strategy.contains(name))
            lines.push_back(by_strategy[name]);
    return line_chart("API writes per second by number of writer processes", "writer processes",
                      "API writes/s", lines);
}

} // namespace

std::string html_report(const bench_results& r) {
    const auto& c = r.config;
    std::string page =
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>sqlh bench</title><style>"
        "body{font-family:sans-serif;max-width:760px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
        "text-align:right}td:first-child,th:first-child{text-align:left}svg{display:block;"
        "margin:1.5em 0;font-size:14px}</style></head><body><h1>sqlh bench</h1><p>SQLite " +
        html_escape(r.sqlite_version) + " on " + html_escape(r.machine) + "; " +
        std::to_string(c.processes) + " processes &times; (" + std::to_string(c.coroutines) +
        " API coroutines + " + std::to_string(c.workers) + " workers), " +
        format("%g", c.duration_s) + " s per strategy" +
        (c.hold_lock_s > 0 ? ", another process holds the write lock " + describe_lock_holder(c)
                           : std::string()) +
        ".</p>";
    page += bar_chart("API writes per second (committed)", "/s",
                      bars_of(r, [](const strategy_result& s) {
                          return find_op(s, "api_write").per_s;
                      }),
                      r.baseline.api_write_per_s, "raw sqlite3, one connection");
    page += bar_chart("API write p99 latency", "ms", bars_of(r, [](const strategy_result& s) {
                          return find_op(s, "api_write").p99_ms;
                      }));
    page += bar_chart("Errors surfaced to callers", "", bars_of(r, [](const strategy_result& s) {
                          return static_cast<double>(s.errors);
                      }));
    page += bar_chart("Worst event-loop lag", "ms", bars_of(r, [](const strategy_result& s) {
                          return s.worst_lag_ms;
                      }));
    if (!r.sweep.empty())
        page += sweep_chart(r);
    page += "<h2>Operations</h2>" + ops_table(r) + "<h2>Per strategy</h2>" + summary_table(r);
    page += "<p>Raw sqlite3 baseline (one connection, no contention): " +
            format("%.0f", r.baseline.api_write_per_s) + " writes/s, " +
            format("%.0f", r.baseline.api_read_per_s) + " reads/s, " +
            format("%.0f", r.baseline.bulk_rows_per_s) +
            " bulk rows/s. Field meanings: docs/cli.md.</p></body></html>\n";
    return page;
}

} // namespace sqlh::bench
