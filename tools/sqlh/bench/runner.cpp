// SPDX-License-Identifier: BSL-1.0
#include "bench/runner.hpp"

#include "bench/bench_schema.hpp"
#include "bench/child_main.hpp"
#include "bench/child_report.hpp"

#include <boost/json.hpp>

#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace sqlh::bench {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

pid_t spawn_self(std::vector<std::string> args) {
    args.insert(args.begin(), {"sqlh", "bench"});
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    if (const int rc = posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ))
        throw std::runtime_error(std::string("cannot start a child process: ") + std::strerror(rc));
    return pid;
}

// Waits for every child, reporting progress meanwhile; false when one of them failed.
bool wait_all(std::vector<pid_t> pids, std::int64_t start_ms, const progress_callback& progress) {
    bool all_ok = true;
    while (!pids.empty()) {
        for (auto it = pids.begin(); it != pids.end();) {
            int status = 0;
            const pid_t done = waitpid(*it, &status, WNOHANG);
            if (done == 0) {
                ++it;
                continue;
            }
            all_ok = all_ok && done == *it && WIFEXITED(status) && WEXITSTATUS(status) == 0;
            it = pids.erase(it);
        }
        if (pids.empty())
            break;
        if (progress) {
            const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
            progress(std::max<double>(0, static_cast<double>(now - start_ms) / 1e3));
        }
        std::this_thread::sleep_for(100ms);
    }
    return all_ok;
}

// Nearest-rank percentiles (the smallest latency that at least q of the calls did not exceed).
void set_latencies(op_result& r, std::vector<std::int64_t>& ns) {
    if (ns.empty())
        return;
    std::sort(ns.begin(), ns.end());
    auto at = [&](double q) {
        const auto rank =
            static_cast<std::size_t>(std::max(1.0, std::ceil(q * static_cast<double>(ns.size()))));
        return static_cast<double>(ns[rank - 1]) / 1e6;
    };
    r.p50_ms = at(0.50);
    r.p99_ms = at(0.99);
}

void merge_metrics(json::object& into, const json::object& from) {
    for (const auto& [key, v] : from) {
        const double x = v.to_number<double>();
        auto it = into.find(key);
        if (it == into.end())
            into[key] = x;
        else if (key.starts_with("max_"))
            it->value() = std::max(it->value().to_number<double>(), x);
        else
            it->value() = it->value().to_number<double>() + x;
    }
}

double baseline_rate(const baseline_result& b, op_kind kind) {
    switch (kind) {
    case op_kind::api_write: return b.api_write_per_s;
    case op_kind::api_read: return b.api_read_per_s;
    case op_kind::bulk_write: // paced: workers offer a fixed rate, far below SQLite's
    case op_kind::log: return 0;
    }
    return 0;
}

// Every acknowledged write of process p, looked up in the file.
void check_rows(strategy_result& r, const child_report& c, int p, int workers,
                const std::vector<std::uint64_t>& items, const std::string& db_path) {
    const auto acknowledged = c[op_kind::api_write].committed;
    const auto present = items[static_cast<std::size_t>(p)];
    r.rows_checked += acknowledged;
    r.rows_lost += acknowledged > present ? acknowledged - present : 0;
    r.rows_unacknowledged += present > acknowledged ? present - acknowledged : 0;
    const auto stats = stats_of_process(db_path, p, workers);
    for (std::size_t i = 0; i < c.stats_acknowledged.size() && i < stats.size(); ++i) {
        if (c.stats_acknowledged[i] == 0)
            continue;
        ++r.rows_checked;
        r.rows_lost += stats[i] < c.stats_acknowledged[i] ? 1 : 0;
    }
}

strategy_result combine(const bench_config& cfg, const std::string& name,
                        std::vector<child_report>& children, const std::string& db,
                        const baseline_result& baseline) {
    strategy_result r;
    r.strategy = name;
    r.processes = static_cast<int>(children.size());
    const auto items = items_per_process(db, r.processes);
    for (std::size_t p = 0; p < children.size(); ++p) {
        const auto& c = children[p];
        r.elapsed_s = std::max(r.elapsed_s, c.elapsed_s);
        r.start_skew_ms = std::max(r.start_skew_ms, c.start_skew_ms);
        if (c.worst_lag_ms > r.worst_lag_ms) {
            r.worst_lag_ms = c.worst_lag_ms;
            r.worst_lag_at_s = c.worst_lag_at_s;
        }
        r.wal_bytes_end = std::max(r.wal_bytes_end, c.wal_bytes_end);
        r.wal_bytes_peak = std::max(r.wal_bytes_peak, c.wal_bytes_peak);
        r.bulk_offered += c.bulk_offered;
        r.rss_anon_mb.push_back({c.rss_anon_mb_start, c.rss_anon_mb_quarter, c.rss_anon_mb_end});
        merge_metrics(r.metrics, c.metrics);
        check_rows(r, c, static_cast<int>(p), cfg.workers, items, db);
    }
    r.rows_unacknowledged += items.back(); // keys of no process
    for (const auto kind : op_kinds) {
        op_result op;
        op.op = op_name(kind);
        std::vector<std::int64_t> samples;
        for (auto& child : children) {
            auto& c = child[kind];
            op.committed += c.committed;
            op.errors += c.errors;
            if (op.first_error.empty())
                op.first_error = c.first_error;
            samples.insert(samples.end(), c.latencies_ns.begin(), c.latencies_ns.end());
            c.latencies_ns = {};
            op.max_ms = std::max(op.max_ms, static_cast<double>(c.max_ns) / 1e6);
        }
        op.per_s = r.elapsed_s > 0 ? static_cast<double>(op.committed) / r.elapsed_s : 0;
        const double raw = baseline_rate(baseline, kind);
        op.vs_raw = raw > 0 ? op.per_s / raw : 0;
        set_latencies(op, samples);
        if (kind != op_kind::log)
            r.errors += op.errors;
        r.ops.push_back(std::move(op));
    }
    return r;
}

} // namespace

const op_result& find_op(const strategy_result& r, const std::string& op) {
    for (const auto& o : r.ops)
        if (o.op == op)
            return o;
    throw std::out_of_range("no operation " + op);
}

strategy_result run_strategy(const bench_config& cfg, const std::string& name, int processes,
                             const bench_files& files, const baseline_result& baseline,
                             const progress_callback& progress) {
    // The server strategy works on the server; the others on the file. The log database is
    // a local file for every strategy.
    const bool on_server = name == server_strategy;
    const std::string& db = on_server ? cfg.backend_url : files.db_path;
    reset_database(db, files.log_path);
    // Far enough ahead for every child to start and open its connections first.
    const auto start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch() + 300ms +
                              processes * 100ms)
                              .count();
    std::vector<pid_t> pids;
    std::vector<std::string> outputs;
    for (int p = 0; p < processes; ++p) {
        outputs.push_back((files.work_dir / (name + "." + std::to_string(p) + ".out")).string());
        pids.push_back(spawn_self(child_arguments({name, p, cfg.coroutines, cfg.workers, cfg.reads_per_write, cfg.logs,
                                                   cfg.duration_s, start_ms, db,
                                                   files.log_path, outputs.back()})));
    }
    const std::string hold_out = (files.work_dir / (name + ".hold.out")).string();
    const bool hold = cfg.hold_lock_s > 0 && !on_server; // the file's lock: not the server's
    if (hold)
        pids.push_back(spawn_self(hold_arguments(files.db_path, start_ms, cfg.duration_s,
                                                 cfg.hold_lock_s, cfg.lock_holds, hold_out)));
    if (!wait_all(std::move(pids), start_ms, progress))
        throw std::runtime_error("a child process of strategy " + name + " failed");

    std::vector<child_report> children;
    for (const auto& out : outputs)
        children.push_back(read_child_report(out));
    auto r = combine(cfg, name, children, db, baseline);
    if (hold) {
        std::ifstream in(hold_out);
        std::string line;
        std::getline(in, line);
        r.hold_lock = json::parse(line).as_object();
    }
    return r;
}

} // namespace sqlh::bench
