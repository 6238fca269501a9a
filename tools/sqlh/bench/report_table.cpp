// SPDX-License-Identifier: BSL-1.0
#include "bench/report.hpp"

#include <sqlite3.h>

#include <string>

namespace sqlh::bench {

namespace {

using ull = unsigned long long;

void print_rule(std::FILE* out, int width) { std::fprintf(out, "%s\n", std::string(width, '-').c_str()); }

void print_ops(std::FILE* out, const bench_results& r) {
    std::fprintf(out, "%-13s %-11s %10s %8s %10s %7s %8s %8s %9s\n", "strategy", "operation",
                 "committed", "errors", "per s", "vs raw", "p50 ms", "p99 ms", "max ms");
    print_rule(out, 92);
    for (const auto& s : r.strategies) {
        bool first = true;
        for (const auto& op : s.ops) {
            if (op.committed == 0 && op.errors == 0)
                continue; // not part of this run's mix
            char vs_raw[16] = "-";
            if (op.vs_raw > 0)
                std::snprintf(vs_raw, sizeof vs_raw, "%.2fx", op.vs_raw);
            std::fprintf(out, "%-13s %-11s %10llu %8llu %10.0f %7s %8.3f %8.3f %9.2f\n",
                         first ? s.strategy.c_str() : "", op.op.c_str(), static_cast<ull>(op.committed),
                         static_cast<ull>(op.errors), op.per_s, vs_raw, op.p50_ms, op.p99_ms,
                         op.max_ms);
            first = false;
        }
    }
    print_rule(out, 92);
}

void print_summary(std::FILE* out, const bench_results& r) {
    std::fprintf(out, "%-13s %15s %13s %12s %13s %10s %13s\n", "strategy", "errors surfaced",
                 "worst lag ms", "WAL peak MB", "bulk offered", "rows lost", "rows checked");
    print_rule(out, 95);
    for (const auto& s : r.strategies)
        std::fprintf(out, "%-13s %15llu %13.1f %12.1f %13llu %10llu %13llu\n", s.strategy.c_str(),
                     static_cast<ull>(s.errors), s.worst_lag_ms,
                     static_cast<double>(s.wal_bytes_peak) / 1e6, static_cast<ull>(s.bulk_offered),
                     static_cast<ull>(s.rows_lost), static_cast<ull>(s.rows_checked));
    print_rule(out, 95);
}

void print_details(std::FILE* out, const bench_results& r) {
    for (const auto& s : r.strategies) {
        for (const auto& op : s.ops)
            if (!op.first_error.empty())
                std::fprintf(out, "%-13s first %s error: %s\n", s.strategy.c_str(), op.op.c_str(),
                             op.first_error.c_str());
        if (s.hold_lock.empty())
            continue;
        const auto held = [&](const char* field) {
            return s.hold_lock.at(field).to_number<double>();
        };
        if (s.hold_lock.at("holds").to_number<int>() == 1)
            std::fprintf(out, "%-13s lock held %.2f s from t=%.2f s by another process\n",
                         s.strategy.c_str(), held("held_s"), held("acquired_at_s"));
        else
            std::fprintf(out, "%-13s lock held %d times by another process, %.2f s in all, "
                              "longest %.2f s\n",
                         s.strategy.c_str(), s.hold_lock.at("holds").to_number<int>(),
                         held("held_s"), held("longest_s"));
    }
}

void print_sweep(std::FILE* out, const bench_results& r) {
    if (r.sweep.empty())
        return;
    std::fprintf(out, "\nsweep: API writes per second by number of writer processes\n");
    std::fprintf(out, "%-13s %9s %12s %10s %8s %10s\n", "strategy", "processes", "writes/s",
                 "p99 ms", "errors", "rows lost");
    print_rule(out, 67);
    for (const auto& p : r.sweep)
        std::fprintf(out, "%-13s %9d %12.0f %10.2f %8llu %10llu\n", p.strategy.c_str(), p.processes,
                     p.api_write_per_s, p.api_write_p99_ms, static_cast<ull>(p.errors),
                     static_cast<ull>(p.rows_lost));
}

} // namespace

std::string describe_lock_holder(const bench_config& c) {
    char text[80] = "off";
    if (c.hold_lock_s > 0 && c.lock_holds > 1)
        std::snprintf(text, sizeof text, "%d times at random, up to %g s", c.lock_holds,
                      c.hold_lock_s);
    else if (c.hold_lock_s > 0)
        std::snprintf(text, sizeof text, "%g s mid-run", c.hold_lock_s);
    return text;
}

void print_table(std::FILE* out, const bench_results& r) {
    const auto& c = r.config;
    const auto hold = describe_lock_holder(c);
    std::fprintf(out,
                 "sqlh bench: SQLite %s on %s\n"
                 "%d processes x (%d API coroutines + %d workers), %g s per strategy, "
                 "lock holder %s\n\n",
                 r.sqlite_version.c_str(), r.machine.c_str(), c.processes, c.coroutines, c.workers,
                 c.duration_s, hold.c_str());
    std::fprintf(out,
                 "raw sqlite3, one connection, no contention: %.0f writes/s, %.0f reads/s, "
                 "%.0f bulk rows/s\n\n",
                 r.baseline.api_write_per_s, r.baseline.api_read_per_s, r.baseline.bulk_rows_per_s);
    print_ops(out, r);
    std::fputc('\n', out);
    print_summary(out, r);
    print_details(out, r);
    print_sweep(out, r);
    std::fprintf(out,
                 "\napi_write: one row per request, acknowledged after COMMIT. api_read: a point read "
                 "of an\nacknowledged item. bulk_write: rows from background workers (offered: %d rows "
                 "every %lld ms\nper worker; hybrid acknowledges when the write buffer takes them). "
                 "log: entries written;\nerrors there are entries that never reached a file. "
                 "errors surfaced: failed API and worker\ncalls. lag: worst lateness of a 1 ms "
                 "timer on a process's event loop. rows lost:\nacknowledged writes missing from "
                 "the file afterwards. See docs/cli.md.\n",
                 bulk_batch_rows, static_cast<long long>(bulk_batch_interval.count()));
}

} // namespace sqlh::bench
