// SPDX-License-Identifier: BSL-1.0
// core_bench: what the async layer costs and gains against the raw sqlite3 C API, measured in
// the same run, on the same file, with the same pragmas (the library's defaults).
//
//   writes      64 coroutines on one io_context thread, each awaiting its own acknowledged
//               single-row upsert (async_write) of a random one of 100k rows; raw: one
//               connection, BEGIN IMMEDIATE/upsert/COMMIT.
//   writes-hot  the same over a hot set of 1,000 rows (counters, sessions, queues).
//   single      one coroutine: the round trip of one write.
//   reads   64 coroutines doing point reads by primary key (async_query, 4 readers);
//           raw: one thread, one prepared statement.
//
// Usage: core_bench [--duration SECONDS] [--scenario writes|writes-hot|single|reads|all]
//                   [--db PATH] [--json FILE]
#include "support/command_line.hpp"
#include "support/json_file.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/connection.hpp>
#include <sqlite_hybrid/database.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include <sqlite3.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace json = boost::json;
using sqlite_hybrid::connection;
using sqlite_hybrid::database;
using clock_type = std::chrono::steady_clock;

constexpr int kCoroutines = 64;
constexpr std::int64_t kRows = 100'000;
constexpr std::int64_t kHotKeys = 1'000; // writes-hot: counters on a small, hot set of rows
constexpr const char* kUpsertSql =
    "INSERT INTO kv(k,v) VALUES(?,?) ON CONFLICT(k) DO UPDATE SET v=excluded.v";
constexpr const char* kSelectSql = "SELECT k, v FROM kv WHERE k = ?";
using kv_row = std::tuple<std::int64_t, std::string>;

// Errors come back as values, so that a failed operation is counted instead of thrown.
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct config {
    std::chrono::duration<double> duration{2.0};
    std::string scenario = "all";
    std::string db_path; // empty: a file in a temporary directory, removed at the end
    std::string json_path;
};

// ---- measuring -------------------------------------------------------------------------------

struct stats {
    std::uint64_t ops = 0;
    std::uint64_t errors = 0;
    double seconds = 0;
    double ops_per_s = 0;
    double p50_us = 0;
    double p99_us = 0;
    double max_us = 0;
    std::string first_error;
};

// Collects one latency per operation; single-threaded (the io_context thread or the raw loop).
class recorder {
public:
    void add(clock_type::duration latency, const std::string& failure) {
        latencies_.push_back(latency);
        if (!failure.empty() && errors_++ == 0)
            first_error_ = failure;
    }

    stats summarise(clock_type::duration elapsed) {
        stats s;
        s.ops = latencies_.size();
        s.errors = errors_;
        s.first_error = first_error_;
        s.seconds = std::chrono::duration<double>(elapsed).count();
        s.ops_per_s = s.seconds > 0 ? static_cast<double>(s.ops) / s.seconds : 0;
        if (!latencies_.empty()) {
            std::sort(latencies_.begin(), latencies_.end());
            s.p50_us = micros(percentile(0.50));
            s.p99_us = micros(percentile(0.99));
            s.max_us = micros(latencies_.back());
        }
        return s;
    }

private:
    // Nearest rank: the smallest latency that at least q of the operations did not exceed.
    clock_type::duration percentile(double q) const {
        const auto n = static_cast<double>(latencies_.size());
        const auto rank = static_cast<std::size_t>(std::max(1.0, std::ceil(q * n)));
        return latencies_[rank - 1];
    }
    static double micros(clock_type::duration d) {
        return std::chrono::duration<double, std::micro>(d).count();
    }

    std::vector<clock_type::duration> latencies_;
    std::uint64_t errors_ = 0;
    std::string first_error_;
};

// Uniform random keys over the first `key_space` pre-filled rows, so every upsert updates an
// existing row and the table keeps its size from one run to the next.
class key_picker {
public:
    key_picker(std::uint64_t seed, std::int64_t key_space) : rng_(seed), dist_(0, key_space - 1) {}
    std::int64_t next() { return dist_(rng_); }

private:
    std::mt19937_64 rng_;
    std::uniform_int_distribution<std::int64_t> dist_;
};

// Same length as the pre-filled values, so updates do not reshape the pages.
std::string make_value(std::uint64_t n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "value-%010llu",
                  static_cast<unsigned long long>(n % 10'000'000'000ULL));
    return buf;
}

// ---- the raw sqlite3 baseline ----------------------------------------------------------------

[[noreturn]] void fail_sqlite(sqlite3* db, const std::string& what) {
    throw std::runtime_error(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

// A bare connection with the pragmas the library applies by default (taken from its own
// default options, so the two stay alike). The writer checkpoints at the library's threshold
// instead of SQLite's 1000 pages, as the library's writer does.
class raw_connection {
public:
    raw_connection(const std::string& path, bool read_only) {
        const int flags =
            SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI |
            (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK)
            fail_sqlite(db_, "open " + path);
        const sqlite_hybrid::connection_options o;
        const sqlite_hybrid::database_options d;
        static constexpr const char* journal[] = {"WAL",     "DELETE", "TRUNCATE",
                                                  "PERSIST", "MEMORY", "OFF"};
        static constexpr const char* sync[] = {"OFF", "NORMAL", "FULL", "EXTRA"};
        sqlite3_busy_timeout(db_, static_cast<int>(o.busy_timeout.count()));
        if (!read_only)
            exec(std::string("PRAGMA journal_mode=") + journal[static_cast<int>(o.journal)]);
        exec(std::string("PRAGMA synchronous=") + sync[static_cast<int>(o.synchronous)]);
        exec("PRAGMA cache_size=" + std::to_string(o.cache_size));
        exec(std::string("PRAGMA temp_store=") + (o.temp_store_memory ? "MEMORY" : "DEFAULT"));
        exec("PRAGMA mmap_size=" + std::to_string(o.mmap_size));
        exec(std::string("PRAGMA foreign_keys=") + (o.foreign_keys ? "ON" : "OFF"));
        if (!read_only) {
            exec("PRAGMA journal_size_limit=" + std::to_string(o.journal_size_limit));
            exec("PRAGMA wal_autocheckpoint=" + std::to_string(d.checkpoint_threshold_pages));
        }
    }
    raw_connection(const raw_connection&) = delete;
    raw_connection& operator=(const raw_connection&) = delete;
    ~raw_connection() { sqlite3_close_v2(db_); }

    void exec(const std::string& sql) {
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
            fail_sqlite(db_, sql);
    }
    sqlite3* get() const { return db_; }

private:
    sqlite3* db_ = nullptr;
};

class raw_statement {
public:
    raw_statement(sqlite3* db, const char* sql) : db_(db) {
        if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) !=
            SQLITE_OK)
            fail_sqlite(db, sql);
    }
    raw_statement(const raw_statement&) = delete;
    raw_statement& operator=(const raw_statement&) = delete;
    ~raw_statement() { sqlite3_finalize(stmt_); }

    sqlite3_stmt* get() const { return stmt_; }
    // Runs to completion and resets; an empty string on success, else SQLite's message.
    std::string run() {
        int rc;
        while ((rc = sqlite3_step(stmt_)) == SQLITE_ROW) {
        }
        sqlite3_reset(stmt_);
        return rc == SQLITE_DONE ? std::string() : sqlite3_errmsg(db_);
    }

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

// Runs `op(keys)` back to back on this thread until the deadline, one latency per call.
template <class Op>
stats raw_loop(std::chrono::duration<double> duration, std::int64_t key_space, Op op) {
    recorder rec;
    key_picker keys(42, key_space);
    const auto start = clock_type::now();
    const auto deadline = start + std::chrono::duration_cast<clock_type::duration>(duration);
    for (auto t0 = start; t0 < deadline; t0 = clock_type::now()) {
        const std::string failure = op(keys);
        rec.add(clock_type::now() - t0, failure);
    }
    return rec.summarise(clock_type::now() - start);
}

// `rows_per_tx` upserts per transaction. 1 is what an application does without group commit
// (the baseline); kCoroutines is what a perfect group commit could reach on this workload
// (a reference: its latencies are per transaction, its ops are rows).
stats raw_upserts(const std::string& path, std::chrono::duration<double> duration,
                  std::int64_t key_space, int rows_per_tx = 1) {
    raw_connection conn(path, false);
    raw_statement begin(conn.get(), "BEGIN IMMEDIATE");
    raw_statement upsert(conn.get(), kUpsertSql);
    raw_statement commit(conn.get(), "COMMIT");
    raw_statement rollback(conn.get(), "ROLLBACK");
    std::uint64_t written = 0;
    stats s = raw_loop(duration, key_space, [&](key_picker& keys) {
        std::string failure = begin.run();
        for (int i = 0; i < rows_per_tx && failure.empty(); ++i) {
            const std::string value = make_value(++written);
            sqlite3_bind_int64(upsert.get(), 1, keys.next());
            sqlite3_bind_text(upsert.get(), 2, value.data(), static_cast<int>(value.size()),
                              SQLITE_STATIC);
            failure = upsert.run();
        }
        if (failure.empty())
            failure = commit.run();
        if (!sqlite3_get_autocommit(conn.get()))
            (void)rollback.run();
        return failure;
    });
    s.ops *= static_cast<std::uint64_t>(rows_per_tx);
    s.ops_per_s *= rows_per_tx;
    return s;
}

// One point read per statement, in autocommit (as async_query runs it on a reader).
stats raw_point_reads(const std::string& path, std::chrono::duration<double> duration) {
    raw_connection conn(path, true);
    raw_statement select(conn.get(), kSelectSql);
    sqlite3_stmt* s = select.get();
    return raw_loop(duration, kRows, [&](key_picker& keys) {
        sqlite3_bind_int64(s, 1, keys.next());
        std::vector<kv_row> rows; // what the caller gets from async_query, for parity
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW)
            rows.emplace_back(sqlite3_column_int64(s, 0),
                              std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 1)),
                                          static_cast<std::size_t>(sqlite3_column_bytes(s, 1))));
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            return std::string(sqlite3_errmsg(conn.get()));
        return rows.size() == 1 ? std::string()
                                : "expected 1 row, got " + std::to_string(rows.size());
    });
}

// The table every scenario uses, with kRows rows (kept if already there, e.g. with --db).
void prepare_table(const std::string& path) {
    raw_connection conn(path, false);
    conn.exec("CREATE TABLE IF NOT EXISTS kv(k INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    conn.exec("WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < " +
              std::to_string(kRows - 1) +
              ") INSERT INTO kv(k, v) SELECT i, printf('value-%010d', i) FROM seq WHERE true "
              "ON CONFLICT(k) DO NOTHING");
}

// ---- the library -----------------------------------------------------------------------------

// Runs io until it has nothing left to do, then takes the future's value (or its exception).
template <class T> T wait(asio::io_context& io, std::future<T> f) {
    io.restart();
    io.run();
    return f.get();
}

// One coroutine: `op(key)` awaited back to back until the deadline, timed around each await.
template <class Op>
asio::awaitable<void> worker(Op& op, clock_type::time_point deadline, std::uint64_t seed,
                             std::int64_t key_space, recorder& rec) {
    key_picker keys(seed, key_space);
    for (auto t0 = clock_type::now(); t0 < deadline; t0 = clock_type::now()) {
        const std::string failure = co_await op(keys.next());
        rec.add(clock_type::now() - t0, failure);
    }
}

// `coroutines` workers on io (run by this thread only), all sharing one recorder.
template <class Op>
stats run_coroutines(asio::io_context& io, int coroutines, std::chrono::duration<double> duration,
                     std::int64_t key_space, Op op) {
    recorder rec;
    const auto start = clock_type::now();
    const auto deadline = start + std::chrono::duration_cast<clock_type::duration>(duration);
    for (int i = 0; i < coroutines; ++i)
        asio::co_spawn(io,
                       worker(op, deadline, 1000 + static_cast<std::uint64_t>(i), key_space, rec),
                       [](std::exception_ptr e) {
                           if (e)
                               std::rethrow_exception(e); // out of io.run(): a bench bug
                       });
    io.restart();
    io.run();
    return rec.summarise(clock_type::now() - start);
}

struct library_run {
    stats figures;
    sqlite_hybrid::metrics_snapshot metrics;
};

// Opens the database with default options, runs `body(io, db)`, and closes it (closing
// checkpoints the WAL, so the next run starts from the same file state as the raw one).
template <class Body> library_run with_database(const std::string& path, Body body) {
    asio::io_context io(1); // one thread runs it
    database db =
        wait(io, database::async_open(io.get_executor(), path, sqlite_hybrid::database_options{},
                                      asio::use_future));
    library_run run;
    run.figures = body(io, db);
    run.metrics = db.metrics();
    wait(io, db.async_close(asio::use_future));
    return run;
}

library_run library_upserts(const std::string& path, int coroutines,
                            std::chrono::duration<double> duration, std::int64_t key_space) {
    return with_database(path, [&](asio::io_context& io, database& db) {
        std::uint64_t written = 0;
        auto upsert = [&](std::int64_t key) -> asio::awaitable<std::string> {
            auto job = [key, value = make_value(++written)](connection& c) {
                return c.execute(kUpsertSql, key, value);
            };
            auto [ec, result] = co_await db.async_write(std::move(job), use_tuple);
            co_return ec ? ec.message() : std::string();
        };
        return run_coroutines(io, coroutines, duration, key_space, upsert);
    });
}

library_run library_point_reads(const std::string& path, int coroutines,
                                std::chrono::duration<double> duration) {
    return with_database(path, [&](asio::io_context& io, database& db) {
        auto point_read = [&](std::int64_t key) -> asio::awaitable<std::string> {
            sqlite_hybrid::params args{key}; // not inline: GCC 12 rejects a braced list here
            auto [ec, rows] =
                co_await db.async_query<kv_row>(kSelectSql, std::move(args), use_tuple);
            if (ec)
                co_return ec.message();
            co_return rows.size() == 1 ? std::string()
                                       : "expected 1 row, got " + std::to_string(rows.size());
        };
        return run_coroutines(io, coroutines, duration, kRows, point_read);
    });
}

// ---- scenarios -------------------------------------------------------------------------------

struct goal {
    std::string text;
    bool met;
};

struct report {
    std::string name;
    std::string description;
    stats library;
    stats raw;
    std::optional<stats> raw_batched; // writes only: kCoroutines rows per raw transaction
    std::vector<std::pair<std::string, double>> metrics; // from db.metrics()
    std::vector<goal> goals;
    double ratio() const { return raw.ops_per_s > 0 ? library.ops_per_s / raw.ops_per_s : 0; }
};

std::vector<std::pair<std::string, double>>
write_metrics(const sqlite_hybrid::metrics_snapshot& m) {
    return {{"mean group size", m.mean_group_size()},
            {"largest group", static_cast<double>(m.largest_group)},
            {"groups", static_cast<double>(m.groups)},
            {"max write queue", static_cast<double>(m.max_write_queue_depth)},
            {"checkpoints", static_cast<double>(m.checkpoints)}};
}

// `key_space` rows written at random: all 100k rows (each group touches about as many pages
// as it has rows), or a hot set of 1,000 (a group rewrites a few pages many times).
report bench_writes(const config& cfg, const char* name, std::int64_t key_space) {
    report r;
    r.name = name;
    r.description = std::to_string(kCoroutines) +
                    " coroutines, acknowledged single-row upserts over " +
                    std::to_string(key_space) + " rows";
    r.raw = raw_upserts(cfg.db_path, cfg.duration, key_space);
    r.raw_batched = raw_upserts(cfg.db_path, cfg.duration, key_space, kCoroutines);
    const auto lib = library_upserts(cfg.db_path, kCoroutines, cfg.duration, key_space);
    r.library = lib.figures;
    r.metrics = write_metrics(lib.metrics);
    r.goals = {{"ratio >= 5x", r.ratio() >= 5.0}, {"p99 <= 1000 us", r.library.p99_us <= 1000.0}};
    return r;
}

report bench_single(const config& cfg) {
    report r;
    r.name = "single";
    r.description = "1 coroutine, acknowledged single-row upserts (round trip)";
    r.raw = raw_upserts(cfg.db_path, cfg.duration, kRows);
    const auto lib = library_upserts(cfg.db_path, 1, cfg.duration, kRows);
    r.library = lib.figures;
    r.metrics = write_metrics(lib.metrics);
    r.goals = {{"p50 <= 25 us", r.library.p50_us <= 25.0}};
    return r;
}

report bench_reads(const config& cfg) {
    report r;
    r.name = "reads";
    r.description = std::to_string(kCoroutines) + " coroutines, point reads by primary key, " +
                    std::to_string(sqlite_hybrid::database_options{}.readers) + " readers";
    r.raw = raw_point_reads(cfg.db_path, cfg.duration);
    const auto lib = library_point_reads(cfg.db_path, kCoroutines, cfg.duration);
    r.library = lib.figures;
    r.metrics = {{"max read queue", static_cast<double>(lib.metrics.max_read_queue_depth)}};
    r.goals = {{"ratio >= 0.75x", r.ratio() >= 0.75}};
    return r;
}

// ---- output ----------------------------------------------------------------------------------

long peak_rss_kib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss; // KiB on Linux
}

void print_stats_row(const char* scenario, const char* side, const stats& s,
                     std::optional<double> ratio) {
    char ratio_text[16] = "";
    if (ratio)
        std::snprintf(ratio_text, sizeof ratio_text, "%.2fx", *ratio);
    std::printf("%-8s %-8s %12.0f %8s %10.1f %10.1f %10.1f %8llu\n", scenario, side, s.ops_per_s,
                ratio_text, s.p50_us, s.p99_us, s.max_us,
                static_cast<unsigned long long>(s.errors));
    if (s.errors)
        std::printf("%-8s %-8s first error: %s\n", "", "", s.first_error.c_str());
}

void print_table(const config& cfg, const std::vector<report>& reports) {
    std::printf("core_bench: SQLite %s, %u hardware threads, %.1f s per run, %lld rows, db %s\n\n",
                sqlite3_libversion(), std::thread::hardware_concurrency(), cfg.duration.count(),
                static_cast<long long>(kRows), cfg.db_path.c_str());
    std::printf("%-8s %-8s %12s %8s %10s %10s %10s %8s\n", "scenario", "side", "ops/s", "ratio",
                "p50 us", "p99 us", "max us", "errors");
    for (const auto& r : reports) {
        std::printf("%s\n", std::string(80, '-').c_str());
        print_stats_row(r.name.c_str(), "library", r.library, r.ratio());
        print_stats_row("", "raw", r.raw, std::nullopt);
        if (r.raw_batched)
            print_stats_row("", "raw/tx64", *r.raw_batched, std::nullopt);
        std::string line;
        for (const auto& [name, v] : r.metrics) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%s%s %.4g", line.empty() ? "" : ", ", name.c_str(), v);
            line += buf;
        }
        std::printf("%-8s %-8s %s\n", "", "metrics", line.c_str());
        line.clear();
        for (const auto& g : r.goals)
            line += (line.empty() ? "" : ", ") + g.text + (g.met ? ": met" : ": MISSED");
        std::printf("%-8s %-8s %s\n", "", "goals", line.c_str());
    }
    std::printf("%s\n", std::string(80, '-').c_str());
    std::printf("ratio: library ops/s / raw ops/s. raw/tx64: %d upserts per raw transaction, the\n"
                "ceiling of group commit on this workload (its latencies are per transaction).\n",
                kCoroutines);
    std::printf("peak RSS: %ld KiB\n", peak_rss_kib());
}

json::object to_json(const stats& s) {
    return {{"ops", s.ops},         {"errors", s.errors},
            {"seconds", s.seconds}, {"ops_per_s", s.ops_per_s},
            {"p50_us", s.p50_us},   {"p99_us", s.p99_us},
            {"max_us", s.max_us},   {"first_error", s.first_error}};
}

void write_json(const config& cfg, const std::vector<report>& reports) {
    json::array scenarios;
    for (const auto& r : reports) {
        json::object metrics;
        for (const auto& [name, v] : r.metrics)
            metrics[name] = v;
        json::array goals;
        for (const auto& g : r.goals)
            goals.push_back(json::object{{"goal", g.text}, {"met", g.met}});
        json::object scenario{{"name", r.name},           {"description", r.description},
                              {"ratio", r.ratio()},       {"library", to_json(r.library)},
                              {"raw", to_json(r.raw)},    {"metrics", std::move(metrics)},
                              {"goals", std::move(goals)}};
        if (r.raw_batched) {
            scenario["raw_batched"] = to_json(*r.raw_batched);
            scenario["raw_batched"].as_object()["rows_per_tx"] = kCoroutines;
        }
        scenarios.push_back(std::move(scenario));
    }
    const json::object doc{{"sqlite_version", sqlite3_libversion()},
                           {"db", cfg.db_path},
                           {"duration_s", cfg.duration.count()},
                           {"rows", kRows},
                           {"coroutines", kCoroutines},
                           {"scenarios", std::move(scenarios)},
                           {"peak_rss_kib", peak_rss_kib()}};
    bench::write_json_file(cfg.json_path, doc);
}

// ---- main ------------------------------------------------------------------------------------

constexpr const char* kUsage =
    "usage: core_bench [--duration SECONDS] [--scenario writes|writes-hot|single|reads|all]\n"
    "                  [--db PATH] [--json FILE]\n"
    "  --duration  length of each timed run, library and raw alike (default 2)\n"
    "  --scenario  which scenario to run (default all)\n"
    "  --db        database file to use and keep (default: a temporary one, removed)\n"
    "  --json      also write the figures as JSON to FILE\n";

std::optional<config> parse_args(int argc, char** argv) {
    config cfg;
    const bool run = bench::for_each_option(argc, argv, [&](const std::string& arg,
                                                            const std::string& val) {
        if (arg == "--duration") {
            cfg.duration = std::chrono::duration<double>(bench::parse_number(val, arg));
            if (!(cfg.duration.count() > 0))
                throw std::invalid_argument("--duration wants a positive number of seconds");
        } else if (arg == "--scenario") {
            if (val != "writes" && val != "writes-hot" && val != "single" && val != "reads" &&
                val != "all")
                throw std::invalid_argument("unknown scenario '" + val + "'");
            cfg.scenario = val;
        } else if (arg == "--db") {
            cfg.db_path = val;
        } else if (arg == "--json") {
            cfg.json_path = val;
        } else {
            throw std::invalid_argument("unknown option " + arg);
        }
    });
    return run ? std::optional<config>(std::move(cfg)) : std::nullopt;
}

int run(config cfg) {
    std::optional<bench::temp_dir> tmp;
    if (cfg.db_path.empty()) {
        tmp.emplace("core_bench");
        cfg.db_path = (tmp->path() / "bench.db").string();
    }
    prepare_table(cfg.db_path);

    std::vector<report> reports;
    const bool all = cfg.scenario == "all";
    if (all || cfg.scenario == "writes")
        reports.push_back(bench_writes(cfg, "writes", kRows));
    if (all || cfg.scenario == "writes-hot")
        reports.push_back(bench_writes(cfg, "writes-hot", kHotKeys));
    if (all || cfg.scenario == "single")
        reports.push_back(bench_single(cfg));
    if (all || cfg.scenario == "reads")
        reports.push_back(bench_reads(cfg));

    print_table(cfg, reports);
    if (!cfg.json_path.empty())
        write_json(cfg, reports);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    return bench::run_main("core_bench", kUsage, argc, argv, parse_args, run);
}
