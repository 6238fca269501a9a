// SPDX-License-Identifier: BSL-1.0
// A long run of every part at once, checking as it goes that nothing is lost and nothing grows
// without bound: group-commit writers, readers, a write buffer and a log database on one
// io_context. Not part of CI: CMakeLists.txt in this folder says how to build it.
//
//   soak [--seconds 600] [--dir DIR] [--writers 16] [--report-every 10]
//        [--max-rss-growth-mb 256]
//
// Every report prints one line (rates, WAL pages, checkpoints, resident memory) and checks that
// every acknowledged row is in the database. At the end everything is stopped, the file is
// reopened, and the final state is compared with what the run acknowledged. Exits 1 on any
// violation: a lost row, an error from a write, a wrong final value, a failed integrity check,
// or anonymous resident memory that grew by more than the limit after the first report.
#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/log_database.hpp>
#include <sqlite_hybrid/write_buffer.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

namespace {

struct settings {
    int seconds = 600;
    std::string dir;
    int writers = 16;
    int report_every = 10;
    // SQLite's page caches (cache_size per connection) fill up in the first minutes; a leak of
    // even a few hundred bytes per write passes this within a long run.
    long max_rss_growth_mb = 256;
};

// Anonymous resident memory (the heap, not the database file's memory-mapped pages) in MiB.
long resident_mb() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("RssAnon:", 0) == 0)
            return std::stol(line.substr(8)) / 1024; // kB
    return 0;
}

struct counters {
    std::int64_t acknowledged = 0; // rows of `jobs`, one per acknowledged write
    std::int64_t write_errors = 0;
    std::int64_t reads = 0;
    std::int64_t read_errors = 0;
    std::int64_t buffered = 0;
    std::map<std::int64_t, std::int64_t> last_value; // what the buffer must leave per key
    int violations = 0;
};

void violation(counters& c, const std::string& what) {
    ++c.violations;
    std::fprintf(stderr, "VIOLATION: %s\n", what.c_str());
}

asio::awaitable<void> writer(sh::database& db, counters& c, int id, clock_type::time_point end) {
    for (std::int64_t seq = 0; clock_type::now() < end; ++seq) {
        auto r = co_await db.async_execute(
            "INSERT INTO jobs(writer, seq, payload) VALUES(?, ?, randomblob(64))",
            sh::args(id, seq), sh::as_result);
        if (r)
            ++c.acknowledged;
        else if (++c.write_errors <= 10)
            std::fprintf(stderr, "write failed: %s\n", r.error().message().c_str());
    }
}

asio::awaitable<void> reader(sh::database& db, counters& c, clock_type::time_point end) {
    std::minstd_rand rng(7);
    while (clock_type::now() < end) {
        auto r = co_await db.async_query<std::int64_t>("SELECT count(*) FROM jobs WHERE writer = ?",
                                                       sh::args(static_cast<int>(rng() % 16)),
                                                       sh::as_result);
        r ? ++c.reads : ++c.read_errors;
    }
}

asio::awaitable<void> producer(sh::write_buffer& buffer, sh::log_database& logs, counters& c,
                               clock_type::time_point end) {
    std::minstd_rand rng(11);
    auto ex = co_await asio::this_coro::executor;
    for (std::int64_t i = 0; clock_type::now() < end; ++i) {
        const auto key = static_cast<std::int64_t>(rng() % 50'000);
        sh::row r{{"k", key}, {"v", i}};
        sh::column_names keys{"k"};
        if (auto accepted = co_await buffer.async_buffer_upsert("counters", std::move(r),
                                                                std::move(keys), sh::as_result)) {
            c.last_value[key] = i;
            ++c.buffered;
        } else {
            violation(c, "buffering failed: " + accepted.error().message());
        }
        if (i % 16 == 0)
            logs.log(i % 1024 == 0 ? sh::log_level::warn : sh::log_level::info, "soak", "produced",
                     {{"i", i}, {"key", key}});
        if (i % 256 == 0) { // let the others run
            asio::steady_timer t(ex, std::chrono::microseconds(200));
            co_await t.async_wait(asio::use_awaitable);
        }
    }
}

asio::awaitable<void> reporter(sh::database& db, sh::write_buffer& buffer, sh::log_database& logs,
                               counters& c, const settings& s, clock_type::time_point start,
                               clock_type::time_point end) {
    auto ex = co_await asio::this_coro::executor;
    long first_rss = -1;
    std::int64_t last_ack = 0;
    while (clock_type::now() < end) {
        asio::steady_timer t(ex, std::chrono::seconds(s.report_every));
        co_await t.async_wait(asio::use_awaitable);
        // Every write acknowledged before this query must be visible to it.
        const auto acknowledged = c.acknowledged;
        auto rows =
            co_await db.async_query<std::int64_t>("SELECT count(*) FROM jobs", {}, sh::as_result);
        if (!rows || rows.value().at(0) < acknowledged)
            violation(c, "acknowledged rows missing: " + std::to_string(acknowledged) +
                             " acknowledged, " +
                             (rows ? std::to_string(rows.value().at(0)) : rows.error().message()) +
                             " present");
        const auto m = db.metrics();
        const auto b = buffer.metrics();
        const auto l = logs.metrics();
        const long rss = resident_mb();
        if (first_rss < 0)
            first_rss = rss;
        else if (rss - first_rss > s.max_rss_growth_mb)
            violation(c, "resident memory grew from " + std::to_string(first_rss) + " to " +
                             std::to_string(rss) + " MiB");
        const auto elapsed =
            std::chrono::duration_cast<std::chrono::seconds>(clock_type::now() - start).count();
        std::printf(
            "%5llds writes %lld (%.0f/s) errors %lld reads %lld buffer flushed %llu "
            "pending %llu logs written %llu dropped %llu wal %llu ckpt %llu heap %ld MiB\n",
            static_cast<long long>(elapsed), static_cast<long long>(acknowledged),
            static_cast<double>(acknowledged - last_ack) / s.report_every,
            static_cast<long long>(c.write_errors), static_cast<long long>(c.reads),
            static_cast<unsigned long long>(b.flushed), static_cast<unsigned long long>(b.pending),
            static_cast<unsigned long long>(l.written), static_cast<unsigned long long>(l.dropped),
            static_cast<unsigned long long>(m.wal_pages),
            static_cast<unsigned long long>(m.checkpoints), rss);
        std::fflush(stdout);
        last_ack = acknowledged;
    }
}

// After the run: the file, reopened, holds exactly what was acknowledged.
void verify(const std::string& path, counters& c) {
    auto conn = sh::connection::open(path, sh::open_mode::read_only, {}).value();
    if (conn.query_one<std::string>("PRAGMA integrity_check").value() != "ok")
        violation(c, "integrity check failed");
    const auto jobs = conn.query_one<std::int64_t>("SELECT count(*) FROM jobs").value().value();
    if (jobs != c.acknowledged)
        violation(c, std::to_string(jobs) + " job rows for " + std::to_string(c.acknowledged) +
                         " acknowledged writes");
    const auto stored =
        conn.query<std::tuple<std::int64_t, std::int64_t>>("SELECT k, v FROM counters").value();
    std::map<std::int64_t, std::int64_t> found;
    for (const auto& [k, v] : stored)
        found[k] = v;
    if (found != c.last_value)
        violation(c, "the buffered table differs from the last value written per key (" +
                         std::to_string(found.size()) + " keys stored, " +
                         std::to_string(c.last_value.size()) + " expected)");
}

} // namespace

int main(int argc, char** argv) {
    settings s;
    CLI::App app("sqlite_hybrid soak run: every part at once, checked as it goes");
    app.add_option("--seconds", s.seconds, "how long to run")->check(CLI::PositiveNumber);
    app.add_option("--dir", s.dir, "where the files go (default: a new temporary directory)");
    app.add_option("--writers", s.writers, "group-commit writer coroutines")
        ->check(CLI::PositiveNumber);
    app.add_option("--report-every", s.report_every, "seconds between reports")
        ->check(CLI::PositiveNumber);
    app.add_option("--max-rss-growth-mb", s.max_rss_growth_mb,
                   "resident memory growth after the first report that counts as a leak");
    CLI11_PARSE(app, argc, argv);

    namespace fs = std::filesystem;
    if (s.dir.empty())
        s.dir = (fs::temp_directory_path() / ("sqlite_hybrid_soak_" + std::to_string(getpid())))
                    .string();
    fs::create_directories(s.dir);
    const auto path = (fs::path(s.dir) / "soak.db").string();
    const auto log_path = (fs::path(s.dir) / "soak-logs.db").string();
    std::printf("soak: %d s in %s\n", s.seconds, s.dir.c_str());

    asio::io_context io;
    counters c;
    sh::database_options o;
    o.log = sh::null_logger();
    o.migrations = {"CREATE TABLE jobs(writer INTEGER NOT NULL, seq INTEGER NOT NULL, "
                    "  payload BLOB, PRIMARY KEY(writer, seq));"
                    "CREATE TABLE counters(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);"};
    sh::log_database_options lo;
    lo.main_database_path = path;
    lo.report = [](std::string_view line) {
        std::fprintf(stderr, "log database: %.*s\n", static_cast<int>(line.size()), line.data());
    };
    lo.database_settings.log = sh::null_logger();
    sh::log_database logs(io.get_executor(), log_path, lo);

    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto db = co_await sh::database::async_open(io.get_executor(), path, o);
            sh::write_buffer_options bo;
            bo.flush_interval = std::chrono::milliseconds(100);
            bo.batch_size = 1000;
            bo.log = sh::null_logger();
            sh::write_buffer buffer(db, bo);
            co_await buffer.async_start();

            const auto start = clock_type::now();
            const auto end = start + std::chrono::seconds(s.seconds);
            int running = s.writers + 3;
            auto done = [&](std::exception_ptr e) {
                --running;
                if (e)
                    violation(c, "a coroutine threw");
            };
            for (int w = 0; w < s.writers; ++w)
                asio::co_spawn(io, writer(db, c, w, end), done);
            asio::co_spawn(io, reader(db, c, end), done);
            asio::co_spawn(io, producer(buffer, logs, c, end), done);
            asio::co_spawn(io, reporter(db, buffer, logs, c, s, start, end), done);
            while (running > 0) {
                asio::steady_timer t(io, std::chrono::milliseconds(50));
                co_await t.async_wait(asio::use_awaitable);
            }
            auto report = co_await buffer.async_stop(sh::as_result);
            if (!report || !report.value().unwritten.empty())
                violation(c, "the write buffer stopped with rows it could not write");
            co_await logs.async_stop();
            co_await db.async_close();
        },
        [&](std::exception_ptr e) {
            if (!e)
                return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                violation(c, std::string("the run failed: ") + x.what());
            }
        });
    io.run();

    try {
        verify(path, c);
    } catch (const std::exception& e) {
        violation(c, std::string("cannot check the file: ") + e.what());
    }
    if (c.write_errors > 0)
        violation(c, std::to_string(c.write_errors) + " writes failed");
    std::printf("soak: %lld writes acknowledged, %lld rows buffered, %zu keys, %lld reads, "
                "%d violations\n",
                static_cast<long long>(c.acknowledged), static_cast<long long>(c.buffered),
                c.last_value.size(), static_cast<long long>(c.reads), c.violations);
    return c.violations == 0 ? 0 : 1;
}
