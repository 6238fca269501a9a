// SPDX-License-Identifier: BSL-1.0
// log_bench: what logging into a log database costs, measured next to spdlog's own file sink in
// the same run.
//
//   sinks  N records from T threads through one spdlog logger with the same message: first a
//          basic_file_sink_mt (until flushed to the file), then a log_database_sink_mt (until
//          every record is committed to the log database, or counted as dropped): with the
//          default bound, with a bound of N (nothing dropped: what the writer sustains), and
//          with a bound of N without the logger index (index_by_logger = false).
//   main   the main database's acknowledged writes: 64 coroutines on one io_context thread, each
//          awaiting its own single-row INSERT (async_execute) into a separate file; alone, then
//          while T threads log through the sink at R records/s into a log database driven by
//          the same io_context (as in an application); and, as the control, while the same
//          threads log at the same rate into a basic_file_sink_mt (what logging costs anyway:
//          the logging threads' CPU). Alone, with the log database and with the file sink
//          alternate, and each figure is the median of its rounds.
//
// Usage: log_bench [--records N] [--threads T] [--duration SECONDS] [--rates R,R,...|max]
//                  [--rounds K] [--dir PATH] [--json FILE]
#include "support/command_line.hpp"
#include "support/json_file.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/log_database.hpp>
#include <sqlite_hybrid/log_database_sink.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace json = boost::json;
namespace sh = sqlite_hybrid;
using clock_type = std::chrono::steady_clock;

constexpr int kCoroutines = 64;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct config {
    std::uint64_t records = 1'000'000;
    int threads = 4;
    std::chrono::duration<double> duration{3.0};
    std::vector<double> rates{0, 20'000}; // 0: as fast as the threads can
    int rounds = 3;
    std::string dir;
    std::string json_path;
};

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// The same call in every thread of every run: a formatted message with three arguments.
void log_one(spdlog::logger& logger, std::uint64_t i) {
    logger.info("request {} from {} done in {} us", i, "10.1.2.3", 100 + i % 900);
}

// Logs `total` records from `threads` threads; `rate` > 0 paces them (records/s, all threads
// together) until `stop` is set, and `total` is then ignored.
void log_from_threads(spdlog::logger& logger, int threads, std::uint64_t total, double rate,
                      const std::atomic<bool>* stop = nullptr) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            if (rate <= 0) {
                std::uint64_t n = 0;
                for (std::uint64_t i = static_cast<std::uint64_t>(t); i < total;
                     i += static_cast<std::uint64_t>(threads)) {
                    if (stop && ++n % 1024 == 0 && stop->load(std::memory_order_relaxed))
                        return;
                    log_one(logger, i);
                }
                return;
            }
            // Bursts every millisecond, at this thread's share of the rate.
            const double per_ms = rate / threads / 1000.0;
            const auto start = clock_type::now();
            double owed = 0;
            std::uint64_t i = 0;
            for (auto tick = start; !stop->load(std::memory_order_relaxed);) {
                tick += std::chrono::milliseconds(1);
                std::this_thread::sleep_until(tick);
                for (owed += per_ms; owed >= 1; owed -= 1)
                    log_one(logger, i++);
            }
        });
    for (auto& t : pool)
        t.join();
}

// ---- sinks -----------------------------------------------------------------------------------

struct sink_figures {
    double records_per_s = 0;  // end to end: flushed to the file, or committed
    double accepted_per_s = 0; // until the last log call returned
    std::uint64_t written = 0;
    std::uint64_t dropped = 0;
};

sink_figures bench_file_sink(const config& cfg, const fs::path& dir) {
    auto sink =
        std::make_shared<spdlog::sinks::basic_file_sink_mt>((dir / "app.log").string(), true);
    spdlog::logger logger("bench", sink);
    const auto t0 = clock_type::now();
    log_from_threads(logger, cfg.threads, cfg.records, 0);
    const double logged = seconds_since(t0);
    logger.flush();
    sink_figures f;
    f.records_per_s = static_cast<double>(cfg.records) / seconds_since(t0);
    f.accepted_per_s = static_cast<double>(cfg.records) / logged;
    f.written = cfg.records;
    fs::remove(dir / "app.log");
    return f;
}

// `max_buffered`: the log database's bound (records beyond it are dropped), 0 for its default.
sink_figures bench_database_sink(const config& cfg, const fs::path& dir, std::size_t max_buffered,
                                 bool index_by_logger = true) {
    const auto path = (dir / "app-logs.db").string();
    asio::io_context io;
    sh::log_database_options options;
    options.retention_days = 0;
    options.index_by_logger = index_by_logger;
    options.database_settings.log = sh::null_logger(); // no "migrated" line in the figures
    if (max_buffered > 0)
        options.max_buffered = max_buffered;
    sh::log_database logs(io.get_executor(), path, options);
    std::thread flusher([&] { io.run(); });
    logs.async_flush(asio::use_future).get(); // the file is open: only logging is timed
    spdlog::logger logger("bench", std::make_shared<sh::log_database_sink_mt>(logs.writer()));

    const auto t0 = clock_type::now();
    log_from_threads(logger, cfg.threads, cfg.records, 0);
    const double logged = seconds_since(t0);
    logs.async_flush(asio::use_future).get();
    const double written_after = seconds_since(t0);
    const auto m = logs.metrics();
    logs.async_stop(asio::use_future).get();
    flusher.join();

    sink_figures f;
    f.written = m.written;
    f.dropped = m.dropped;
    f.records_per_s = static_cast<double>(m.written) / written_after;
    f.accepted_per_s = static_cast<double>(cfg.records) / logged;
    for (const char* suffix : {"", "-wal", "-shm"})
        fs::remove(path + suffix);
    return f;
}

// ---- the main database -----------------------------------------------------------------------

asio::awaitable<void> insert_until(sh::database& db, clock_type::time_point deadline,
                                   std::uint64_t& acknowledged, std::uint64_t& errors) {
    while (clock_type::now() < deadline) {
        sh::params values = sh::args(static_cast<std::int64_t>(acknowledged), "payload-0123456789");
        auto [ec, r] = co_await db.async_execute("INSERT INTO events(n, v) VALUES(?, ?)",
                                                 std::move(values), use_tuple);
        ++(ec ? errors : acknowledged);
    }
}

struct main_figures {
    double writes_per_s = 0;
    std::uint64_t errors = 0;
    std::uint64_t logged = 0;  // records committed to the log database meanwhile
    std::uint64_t dropped = 0; // and dropped by it
};

// Where the threads log while the main database writes.
enum class logging_into { nothing, log_database, file };

// 64 coroutines of inserts for cfg.duration, while threads log at `rate` (0: flat out).
main_figures bench_main(const config& cfg, const fs::path& dir, logging_into into, double rate) {
    asio::io_context io(1);
    const auto main_path = (dir / "main.db").string();
    sh::database_options main_options;
    main_options.migrations = {"CREATE TABLE events(id INTEGER PRIMARY KEY, n INTEGER, v TEXT)"};
    main_options.log = sh::null_logger(); // no "migrated" line among the figures
    auto db =
        sh::database::async_open(io.get_executor(), main_path, main_options, asio::use_future);
    io.run();
    sh::database main = db.get();

    std::optional<sh::log_database> logs;
    std::atomic<bool> stop_logging{false};
    std::thread loggers;
    spdlog::sink_ptr sink;
    if (into == logging_into::log_database) {
        sh::log_database_options options;
        options.main_database_path = main_path;
        options.database_settings.log = sh::null_logger();
        logs.emplace(io.get_executor(), (dir / "main-logs.db").string(), options);
        sink = std::make_shared<sh::log_database_sink_mt>(logs->writer());
    } else if (into == logging_into::file) {
        sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>((dir / "main.log").string(),
                                                                   true);
    }
    if (sink)
        loggers = std::thread([&] {
            spdlog::logger logger("bench", sink);
            log_from_threads(logger, cfg.threads, std::numeric_limits<std::uint64_t>::max(), rate,
                             &stop_logging);
        });

    std::uint64_t acknowledged = 0;
    std::uint64_t errors = 0;
    const auto t0 = clock_type::now();
    const auto deadline = t0 + std::chrono::duration_cast<clock_type::duration>(cfg.duration);
    for (int i = 0; i < kCoroutines; ++i)
        asio::co_spawn(io, insert_until(main, deadline, acknowledged, errors),
                       [](std::exception_ptr e) {
                           if (e)
                               std::rethrow_exception(e);
                       });
    io.restart();
    while (acknowledged + errors == 0 || clock_type::now() < deadline)
        io.run_one_for(std::chrono::milliseconds(10));
    main_figures f;
    f.writes_per_s = static_cast<double>(acknowledged) / seconds_since(t0);
    f.errors = errors;
    stop_logging = true;
    if (loggers.joinable())
        loggers.join();
    if (logs) {
        auto stopped = logs->async_stop(asio::use_future);
        io.restart();
        io.run(); // the coroutines finish, the log database writes and closes
        stopped.get();
        const auto m = logs->metrics();
        f.logged = m.written;
        f.dropped = m.dropped + m.dropped_after_stop;
    }
    auto closed = main.async_close(asio::use_future);
    io.restart();
    io.run();
    closed.get();
    sink.reset();
    for (const auto& name : {"main.db", "main-logs.db"})
        for (const char* suffix : {"", "-wal", "-shm"})
            fs::remove(dir / (std::string(name) + suffix));
    fs::remove(dir / "main.log");
    return f;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// ---- main ------------------------------------------------------------------------------------

constexpr const char* kUsage =
    "usage: log_bench [--records N] [--threads T] [--duration SECONDS] [--rates R,R,...]\n"
    "                 [--rounds K] [--dir PATH] [--json FILE]\n"
    "  --records   records per sink run (default 1000000)\n"
    "  --threads   logging threads (default 4)\n"
    "  --duration  length of each main-database run (default 3)\n"
    "  --rates     logging rates while the main database writes, records/s; 0 or max: as\n"
    "              fast as the threads go; none: skip this part (default 0,20000)\n"
    "  --rounds    rounds of alone / with logging per rate (default 3)\n"
    "  --dir       directory for the files (default: a temporary one, removed)\n"
    "  --json      also write the figures as JSON to FILE\n";

std::optional<config> parse_args(int argc, char** argv) {
    config cfg;
    const auto number = bench::parse_number;
    const bool run = bench::for_each_option(argc, argv, [&](const std::string& arg,
                                                            const std::string& val) {
        if (arg == "--records")
            cfg.records = static_cast<std::uint64_t>(number(val, arg));
        else if (arg == "--threads")
            cfg.threads = std::max(1, static_cast<int>(number(val, arg)));
        else if (arg == "--duration")
            cfg.duration = std::chrono::duration<double>(number(val, arg));
        else if (arg == "--rounds")
            cfg.rounds = std::max(1, static_cast<int>(number(val, arg)));
        else if (arg == "--dir")
            cfg.dir = val;
        else if (arg == "--json")
            cfg.json_path = val;
        else if (arg == "--rates") {
            cfg.rates.clear();
            for (std::size_t begin = 0; val != "none" && begin <= val.size();) {
                const auto end = std::min(val.find(',', begin), val.size());
                const auto item = val.substr(begin, end - begin);
                cfg.rates.push_back(item == "max" ? 0 : number(item, arg));
                begin = end + 1;
            }
        } else
            throw std::invalid_argument("unknown option " + arg);
    });
    return run ? std::optional<config>(cfg) : std::nullopt;
}

int run(const config& cfg) {
    std::optional<bench::temp_dir> tmp;
    fs::path dir = cfg.dir;
    if (dir.empty()) {
        tmp.emplace("log_bench");
        dir = tmp->path();
    }
    json::object doc;
    doc["records"] = cfg.records;
    doc["threads"] = cfg.threads;

    std::printf("sinks: %llu records from %d threads, same message\n",
                static_cast<unsigned long long>(cfg.records), cfg.threads);
    const auto file = bench_file_sink(cfg, dir);
    const auto bounded = bench_database_sink(cfg, dir, 0);
    const auto unbounded = bench_database_sink(cfg, dir, cfg.records);
    const auto no_logger_index = bench_database_sink(cfg, dir, cfg.records, false);
    const double ratio = bounded.records_per_s / file.records_per_s;
    std::printf("  %-36s %10.0f records/s flushed\n", "basic_file_sink_mt", file.records_per_s);
    auto show = [](const char* name, const sink_figures& f) {
        std::printf("  %-36s %10.0f records/s committed; log() returned at %.0f/s; %llu "
                    "dropped\n",
                    name, f.records_per_s, f.accepted_per_s,
                    static_cast<unsigned long long>(f.dropped));
    };
    show("log_database_sink_mt (default bound)", bounded);
    show("log_database_sink_mt (bound = N)", unbounded);
    show("log_database_sink_mt (N, no logger index)", no_logger_index);
    std::printf("  committed / file sink %.2f (goal >= 0.50: %s); committed %s 500k/s; "
                "log() / file sink %.2f\n",
                ratio, ratio >= 0.5 ? "met" : "NOT met",
                bounded.records_per_s >= 500'000 ? ">=" : "BELOW",
                bounded.accepted_per_s / file.records_per_s);
    doc["file_sink_records_per_s"] = file.records_per_s;
    doc["database_sink_records_per_s"] = bounded.records_per_s;
    doc["database_sink_accepted_per_s"] = bounded.accepted_per_s;
    doc["database_sink_dropped"] = bounded.dropped;
    doc["database_sink_unbounded_records_per_s"] = unbounded.records_per_s;
    doc["database_sink_unbounded_accepted_per_s"] = unbounded.accepted_per_s;
    doc["database_sink_unbounded_no_logger_index_records_per_s"] = no_logger_index.records_per_s;
    doc["ratio"] = ratio;

    std::printf("main database: %d coroutines of acknowledged inserts, %.1f s per run, "
                "median of %d\n",
                kCoroutines, cfg.duration.count(), cfg.rounds);
    json::array runs;
    for (double rate : cfg.rates) {
        std::vector<double> alone, with, with_file, logged;
        std::uint64_t dropped = 0;
        std::uint64_t errors = 0;
        for (int round = 0; round < cfg.rounds; ++round) {
            alone.push_back(bench_main(cfg, dir, logging_into::nothing, rate).writes_per_s);
            const auto f = bench_main(cfg, dir, logging_into::log_database, rate);
            with.push_back(f.writes_per_s);
            logged.push_back(static_cast<double>(f.logged) / cfg.duration.count());
            dropped += f.dropped;
            errors += f.errors;
            with_file.push_back(bench_main(cfg, dir, logging_into::file, rate).writes_per_s);
        }
        const double loss = 1 - median(with) / median(alone);
        const double file_loss = 1 - median(with_file) / median(alone);
        // What the log database costs beyond what logging at this rate costs anyway.
        const double own_loss = 1 - median(with) / median(with_file);
        // The goal is against "alone"; the file sink is the stricter control on a machine
        // whose idle CPUs slow "alone" down (docs/log_database.md).
        std::printf("  logging %-8s %10.0f writes/s alone, %10.0f with the log database "
                    "(%+.1f %%, goal > -5 %%: %s), %10.0f with a file sink (%+.1f %%); log "
                    "database vs file sink %+.1f %%; logged %.0f/s, %llu dropped, %llu errors\n",
                    rate > 0 ? std::to_string(static_cast<long>(rate)).c_str() : "max",
                    median(alone), median(with), -100 * loss, loss < 0.05 ? "met" : "NOT met",
                    median(with_file), -100 * file_loss, -100 * own_loss, median(logged),
                    static_cast<unsigned long long>(dropped),
                    static_cast<unsigned long long>(errors));
        json::object r;
        r["rate"] = rate;
        r["alone_writes_per_s"] = median(alone);
        r["with_logging_writes_per_s"] = median(with);
        r["with_file_sink_writes_per_s"] = median(with_file);
        r["loss"] = loss;
        r["file_sink_loss"] = file_loss;
        r["loss_vs_file_sink"] = own_loss;
        r["logged_per_s"] = median(logged);
        r["dropped"] = dropped;
        runs.push_back(std::move(r));
    }
    doc["main"] = std::move(runs);
    if (!cfg.json_path.empty())
        bench::write_json_file(cfg.json_path, doc);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    return bench::run_main("log_bench", kUsage, argc, argv, parse_args, run);
}
