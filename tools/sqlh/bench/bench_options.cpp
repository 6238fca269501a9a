// SPDX-License-Identifier: BSL-1.0
#include "bench/bench_options.hpp"

#include "parse_options.hpp"

#include <sqlite_hybrid/database_url.hpp>

#include <unistd.h>

#include <algorithm>

namespace sqlh::bench {

std::variant<bench_config, int> parse_bench_options(int argc, char** argv) {
    bench_config cfg;
    std::vector<std::string> chosen;
    CLI::App app("The contention benchmark: the same mixed workload (API writes and reads, "
                 "background workers' bulk writes, logging) over P processes on one SQLite "
                 "file, under each strategy, against a raw sqlite3 baseline measured in the same "
                 "run. See docs/cli.md.",
                 "sqlh bench");
    std::vector<std::string> choices = all_strategies;
    choices.push_back(server_strategy);
    choices.push_back("all");
    app.add_option("--strategy", chosen,
                   "Run these strategies only, comma-separated (default all)")
        ->delimiter(',')
        ->check(CLI::IsMember(choices));
    app.add_option("--processes", cfg.processes, "Processes sharing the file")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    app.add_option("--coroutines", cfg.coroutines, "API coroutines per process")
        ->check(CLI::Range(1, max_coroutines))
        ->capture_default_str();
    app.add_option("--workers", cfg.workers, "Background workers per process")
        ->check(CLI::Range(0, max_workers))
        ->capture_default_str();
    app.add_option("--reads-per-write", cfg.reads_per_write,
                   "Point reads an API coroutine makes per write")
        ->check(CLI::Range(0, 100))
        ->capture_default_str();
    bool no_logs = false;
    app.add_flag("--no-logs", no_logs, "No logging (the write path alone)");
    app.add_option("--duration", cfg.duration_s, "Seconds per strategy")
        ->check(CLI::Range(0.2, 3600.0))
        ->capture_default_str();
    app.add_option("--hold-lock", cfg.hold_lock_s,
                   "Another process holds the write lock this many seconds, mid-run")
        ->check(CLI::Range(0.0, 3600.0));
    app.add_option("--lock-holds", cfg.lock_holds,
                   "With --hold-lock: take the lock this many times, at random moments, each "
                   "for a random time up to --hold-lock seconds")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    app.add_option("--db", cfg.db_path,
                   "Run on this file and keep it (its items, stats and logs tables are "
                   "recreated per strategy; the last strategy's data stays)");
    app.add_option("--backend", cfg.backend_url,
                   "Also run the hybrid strategy's code against this PostgreSQL database "
                   "(postgresql://user:password@host:port/db), as strategy 'postgresql' (its "
                   "items and stats tables are recreated; logs stay in a local SQLite file)");
    app.add_flag("--json", cfg.json, "Print the results as JSON instead of the table");
    app.add_option("--report", cfg.report_path, "Also write a self-contained HTML report");
    app.add_flag("--sweep", cfg.sweep,
                 "Also run each strategy with 1, 2, 4 ... up to --processes processes");
    if (auto status = parse_options(app, argc, argv))
        return *status;
    if (cfg.hold_lock_s > cfg.duration_s) {
        std::fprintf(stderr, "sqlh bench: --hold-lock (%g s) must not be longer than "
                             "--duration (%g s)\n", cfg.hold_lock_s, cfg.duration_s);
        return exit_usage;
    }
    if (cfg.lock_holds > 1 && cfg.hold_lock_s <= 0) {
        std::fprintf(stderr, "sqlh bench: --lock-holds needs --hold-lock\n");
        return exit_usage;
    }
    if (!cfg.backend_url.empty() &&
        sqlite_hybrid::parse_database_url(cfg.backend_url).engine !=
            sqlite_hybrid::backend::postgresql) {
        std::fprintf(stderr, "sqlh bench: --backend takes a postgresql:// URL\n");
        return exit_usage;
    }
    const bool all = chosen.empty() || std::ranges::find(chosen, "all") != chosen.end();
    if (std::ranges::find(chosen, server_strategy) != chosen.end() && cfg.backend_url.empty()) {
        std::fprintf(stderr, "sqlh bench: --strategy %s needs --backend URL\n", server_strategy.c_str());
        return exit_usage;
    }
    cfg.logs = !no_logs;
    if (!all) {
        // In the usual order, each once.
        std::vector<std::string> order = all_strategies;
        order.push_back(server_strategy);
        cfg.strategies.clear();
        for (const auto& name : order)
            if (std::ranges::find(chosen, name) != chosen.end())
                cfg.strategies.push_back(name);
    } else if (!cfg.backend_url.empty()) {
        cfg.strategies.push_back(server_strategy);
    }
    cfg.progress = isatty(STDERR_FILENO) != 0;
    return cfg;
}

} // namespace sqlh::bench
