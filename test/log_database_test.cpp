// SPDX-License-Identifier: BSL-1.0
// The log database: columns and schema, concurrency and order, flushing, stopping, the bounded
// buffer's drop policy, retention, failures (full, locked, unopenable files), refused paths and
// the recursion guard.
#include "support/log_database_helpers.hpp"
#include "support/run.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/log_database.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>
#include <utility>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using asio::awaitable;
using namespace std::chrono_literals;
using sh::test::count_log_rows;
using sh::test::log_pragma;
using sh::test::quiet_log_options;
using sh::test::read_all;
using sh::test::report_log;
using sh::test::run;
using sh::test::temp_dir;

namespace {

// Another connection holding the file's write lock (BEGIN EXCLUSIVE) until release().
class write_lock_holder {
public:
    explicit write_lock_holder(const std::string& path) {
        locked_ = sqlite3_open(path.c_str(), &db_) == SQLITE_OK &&
                  sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK;
    }
    write_lock_holder(const write_lock_holder&) = delete;
    write_lock_holder& operator=(const write_lock_holder&) = delete;
    ~write_lock_holder() { sqlite3_close(db_); }

    bool locked() const noexcept { return locked_; }
    // Ends the transaction with `end` (COMMIT, or ROLLBACK, which writes no page) and closes.
    bool release(const char* end) {
        const bool ok = sqlite3_exec(db_, end, nullptr, nullptr, nullptr) == SQLITE_OK;
        sqlite3_close(std::exchange(db_, nullptr));
        return ok;
    }

private:
    sqlite3* db_ = nullptr;
    bool locked_ = false;
};

// Waits (running `io`) until `done()` holds, for at most five seconds.
template <class Predicate> bool eventually(asio::io_context& io, Predicate done) {
    return run(io, [&]() -> awaitable<bool> {
        asio::steady_timer timer(io);
        for (auto deadline = std::chrono::steady_clock::now() + 5s;
             std::chrono::steady_clock::now() < deadline;) {
            if (done())
                co_return true;
            timer.expires_after(5ms);
            co_await timer.async_wait(asio::use_awaitable);
        }
        co_return done();
    }());
}

// Runs `io` for `d`.
void settle(asio::io_context& io, std::chrono::milliseconds d) {
    run(io, [&]() -> awaitable<void> {
        asio::steady_timer timer(io, d);
        co_await timer.async_wait(asio::use_awaitable);
    }());
}

sh::log_entry old_entry(std::string message, std::chrono::hours age = 72h) {
    sh::log_entry e;
    e.time = sh::log_now() - age;
    e.level = sh::log_level::info;
    e.logger = "old";
    e.message = std::move(message);
    return e;
}

// A temporary directory, an io_context, quiet options whose reports are collected, and the
// log file's path.
class LogDatabase : public ::testing::Test {
protected:
    temp_dir dir;
    asio::io_context io;
    report_log reports;
    const std::string path = dir.file("logs.db");
    sh::log_database_options options = quiet_log_options(reports);
};

TEST_F(LogDatabase, WritesEveryColumn) {
    options.retention_days = 0; // keep the entry from 2024
    sh::log_database logs(io.get_executor(), path, options);
    const auto before = sh::log_now();
    logs.log(sh::log_level::warn, "http", "slow request",
             {{"path", "/a\"b"}, {"ms", 250}, {"ok", false}, {"ratio", 0.5}, {"none", nullptr}});
    sh::log_entry given;
    given.time = sh::log_time(std::chrono::microseconds(1'714'564'800'123'456));
    given.level = sh::log_level::error;
    given.logger = "db";
    given.message = "given";
    given.thread = 42;
    given.source = "a.cpp:10 f";
    logs.log(given);
    run(io, logs.async_flush());

    auto rows = read_all(io, logs);
    ASSERT_EQ(rows.size(), 2u);
    // Oldest first by time: the given entry's time is in 2024.
    EXPECT_EQ(rows[0].message, "given");
    EXPECT_EQ(rows[0].time, given.time);
    EXPECT_EQ(rows[0].level, sh::log_level::error);
    EXPECT_EQ(rows[0].thread, 42u);
    EXPECT_EQ(rows[0].source, "a.cpp:10 f");
    EXPECT_EQ(rows[0].extra, "");
    EXPECT_EQ(rows[1].logger, "http");
    EXPECT_EQ(rows[1].level, sh::log_level::warn);
    EXPECT_GE(rows[1].time, before);
    EXPECT_LE(rows[1].time, sh::log_now());
    EXPECT_NE(rows[1].thread, 0u);
    EXPECT_EQ(rows[1].extra, R"({"path":"/a\"b","ms":250,"ok":false,"ratio":0.5,"none":null})");
    EXPECT_GT(rows[1].id, 0);
    run(io, logs.async_stop());

    // From outside, in the order written; `extra` is JSON that SQLite reads.
    const auto written = sh::test::read_log_file(path);
    ASSERT_EQ(written.size(), 2u);
    EXPECT_LT(written[0].id, written[1].id);
    EXPECT_EQ(written[0].level, sh::log_level::warn);
    EXPECT_EQ(written[1].time.time_since_epoch().count(), 1'714'564'800'123'456);
    EXPECT_EQ(written[1].extra, "");
    EXPECT_EQ(written[1].source, "a.cpp:10 f");
    auto conn = sh::connection::open(":memory:", sh::open_mode::read_write_create, {}).value();
    EXPECT_EQ(
        conn.query_one<std::int64_t>("SELECT json_extract(?, '$.ms')", written[0].extra).value(),
        250);
    EXPECT_TRUE(reports.lines().empty());
}

TEST_F(LogDatabase, SchemaIsVersionedIndexedAndIncrementallyVacuumed) {
    {
        sh::log_database logs(io.get_executor(), path, options);
        logs.log(sh::log_level::critical, "x", "y");
        run(io, logs.async_stop());
    }
    EXPECT_EQ(log_pragma(path, "user_version"), 3);
    EXPECT_EQ(log_pragma(path, "auto_vacuum"), 2); // incremental
    auto conn = sh::connection::open(path, sh::open_mode::read_only, {}).value();
    auto indexes = conn.query<std::string>("SELECT name FROM sqlite_master WHERE type = 'index' "
                                           "AND sql IS NOT NULL ORDER BY name")
                       .value();
    EXPECT_EQ(indexes, (std::vector<std::string>{"log_batch_loggers_logger", "log_batches_first_ts",
                                                 "log_batches_last_ts"}));
    EXPECT_EQ(conn.query_one<std::int64_t>(
                      "SELECT count(*) FROM sqlite_master WHERE name IN ('logs', 'logs_text')")
                  .value(),
              0); // the first layout's table and view
    auto shown = conn.query_one<std::tuple<std::string, std::string, int, std::string>>(
                         "SELECT levels, first_time, count, loggers FROM log_batches_text")
                     .value();
    ASSERT_TRUE(shown);
    EXPECT_EQ(std::get<0>(*shown), "critical");
    EXPECT_TRUE(std::get<1>(*shown).ends_with("Z"));
    EXPECT_EQ(std::get<2>(*shown), 1);
    EXPECT_EQ(std::get<3>(*shown), "x");

    // Reopening an existing file migrates nothing and keeps what is there.
    sh::log_database again(io.get_executor(), path, options);
    EXPECT_EQ(read_all(io, again).size(), 1u);
    run(io, again.async_stop());
}

// A file written by the first layouts (one `logs` row per entry; version 1 also had a level
// index), made here with the SQL those versions ran.
void write_row_layout_file(const std::string& path, int version) {
    auto conn = sh::connection::open(path, sh::open_mode::read_write_create, {}).value();
    conn.execute_script(R"sql(
CREATE TABLE logs(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, level INTEGER NOT NULL,
                  logger TEXT NOT NULL, message TEXT NOT NULL, extra TEXT, thread INTEGER,
                  source TEXT);
CREATE INDEX logs_ts ON logs(ts);
CREATE INDEX logs_logger_ts ON logs(logger, ts);
CREATE VIEW logs_text AS SELECT id, ts AS time, level, logger, message, extra, thread, source
FROM logs;
INSERT INTO logs VALUES(1, 1714564800000001, 2, 'http', 'first', '{"ms":250}', 42, 'a.cpp:1 f');
INSERT INTO logs VALUES(2, 1714564800000003, 4, 'db', 'second', NULL, NULL, NULL);
INSERT INTO logs VALUES(7, 1714564800000002, 3, 'http', 'third', NULL, 43, NULL);
)sql")
        .value();
    if (version == 1)
        conn.execute_script("CREATE INDEX logs_level_ts ON logs(level, ts)").value();
    conn.execute_script("PRAGMA user_version=" + std::to_string(version)).value();
}

TEST_F(LogDatabase, FilesOfTheRowLayoutAreReadThenConvertedToBatches) {
    options.retention_days = 0; // keep the entries from 2024
    for (const int version : {1, 2}) {
        SCOPED_TRACE(version);
        std::filesystem::remove(path);
        write_row_layout_file(path, version);
        // A viewer reads the file as it is, writing nothing.
        const auto before = sh::test::read_log_file(path);
        ASSERT_EQ(before.size(), 3u);
        EXPECT_EQ(before[2].id, 7);
        EXPECT_EQ(log_pragma(path, "user_version"), version);

        sh::log_database logs(io.get_executor(), path, options);
        sh::log_filter errors;
        errors.min_level = sh::log_level::error;
        const auto found = run(io, logs.async_query_logs(errors));
        ASSERT_EQ(found.size(), 1u);
        EXPECT_EQ(found[0].message, "second");
        logs.log(sh::log_level::info, "http", "after the conversion");
        run(io, logs.async_stop());

        EXPECT_EQ(log_pragma(path, "user_version"), 3);
        const auto after = sh::test::read_log_file(path);
        ASSERT_EQ(after.size(), 4u);
        // The order of the old ids, every column kept.
        EXPECT_EQ(after[0].message, "first");
        EXPECT_EQ(after[0].time.time_since_epoch().count(), 1'714'564'800'000'001);
        EXPECT_EQ(after[0].level, sh::log_level::info);
        EXPECT_EQ(after[0].logger, "http");
        EXPECT_EQ(after[0].extra, R"({"ms":250})");
        EXPECT_EQ(after[0].thread, 42u);
        EXPECT_EQ(after[0].source, "a.cpp:1 f");
        EXPECT_EQ(after[1].message, "second");
        EXPECT_EQ(after[1].thread, 0u);
        EXPECT_EQ(after[2].message, "third");
        EXPECT_EQ(after[3].message, "after the conversion");
        for (std::size_t i = 1; i < after.size(); ++i)
            EXPECT_LT(after[i - 1].id, after[i].id);
        auto conn = sh::connection::open(path, sh::open_mode::read_only, {}).value();
        EXPECT_EQ(conn.query_one<std::int64_t>("SELECT count(*) FROM sqlite_master WHERE name "
                                               "IN ('logs', 'logs_text', 'logs_level_ts')")
                      .value(),
                  0);
    }
}

TEST_F(LogDatabase, TheLoggerIndexIsOptional) {
    auto index_count = [&] {
        auto conn = sh::connection::open(path, sh::open_mode::read_only, {}).value();
        return conn
            .query_one<std::int64_t>(
                "SELECT count(*) FROM sqlite_master WHERE name = 'log_batch_loggers_logger'")
            .value()
            .value_or(-1);
    };
    sh::log_filter by_logger;
    by_logger.logger = "http";
    options.index_by_logger = false;
    {
        sh::log_database logs(io.get_executor(), path, options);
        logs.log(sh::log_level::info, "http", "found without the index");
        logs.log(sh::log_level::info, "db", "another logger");
        run(io, logs.async_flush());
        EXPECT_EQ(run(io, logs.async_query_logs(by_logger)).size(), 1u);
        run(io, logs.async_stop());
    }
    EXPECT_EQ(index_count(), 0);
    options.index_by_logger = true; // built again when the file is opened
    sh::log_database logs(io.get_executor(), path, options);
    EXPECT_EQ(run(io, logs.async_query_logs(by_logger)).size(), 1u);
    run(io, logs.async_stop());
    EXPECT_EQ(index_count(), 1);
}

TEST_F(LogDatabase, ThreadsLogConcurrentlyAndEachKeepsItsOrder) {
    options.batch_size = 256;
    sh::log_database logs(io.get_executor(), path, options);
    std::thread io_thread([&] { io.run(); }); // until the flusher stops

    constexpr int threads = 8;
    constexpr int per_thread = 2000;
    std::vector<std::thread> loggers;
    for (int t = 0; t < threads; ++t)
        loggers.emplace_back([&, t] {
            const auto name = "t" + std::to_string(t);
            for (int i = 0; i < per_thread; ++i)
                logs.log(sh::log_level::info, name, std::to_string(i), {{"i", i}});
        });
    for (auto& t : loggers)
        t.join();
    logs.async_stop(asio::use_future).get();
    io_thread.join();

    const auto m = logs.metrics();
    EXPECT_EQ(m.accepted, std::uint64_t{threads * per_thread});
    EXPECT_EQ(m.written, std::uint64_t{threads * per_thread});
    EXPECT_EQ(m.dropped, 0u);
    EXPECT_GT(m.batches, 1u);

    const auto rows = sh::test::read_log_file(path);
    ASSERT_EQ(rows.size(), std::size_t{threads * per_thread});
    std::map<std::string, std::int64_t> next;
    std::map<std::string, std::uint64_t> thread_of;
    for (const auto& e : rows) {
        EXPECT_EQ(std::stoll(e.message), next[e.logger]++) << e.logger; // each thread's order
        auto [it, fresh] = thread_of.emplace(e.logger, e.thread);
        EXPECT_EQ(it->second, e.thread);
    }
    EXPECT_EQ(next.size(), std::size_t{threads});
}

TEST_F(LogDatabase, CoroutinesOnManyThreadsLogConcurrently) {
    sh::log_database logs(io.get_executor(), path, options);

    constexpr int coroutines = 64;
    constexpr int per_coroutine = 200;
    std::atomic<int> finished{0};
    for (int c = 0; c < coroutines; ++c)
        asio::co_spawn(
            io,
            [&, c]() -> awaitable<void> {
                const auto name = "c" + std::to_string(c);
                for (int i = 0; i < per_coroutine; ++i) {
                    logs.log(sh::log_level::debug, name, std::to_string(i));
                    if (i % 10 == 0) // let the others in (and maybe move to another thread)
                        co_await asio::post(io, asio::use_awaitable);
                }
                if (++finished == coroutines)
                    co_await logs.async_stop();
            },
            asio::detached);
    std::vector<std::thread> runners;
    for (int t = 0; t < 4; ++t)
        runners.emplace_back([&] { io.run(); });
    for (auto& t : runners)
        t.join();

    EXPECT_EQ(count_log_rows(path), coroutines * per_coroutine);
    std::map<std::string, std::int64_t> next;
    for (const auto& e : sh::test::read_log_file(path))
        EXPECT_EQ(std::stoll(e.message), next[e.logger]++) << e.logger;
}

TEST_F(LogDatabase, FlushesOnItsTimerAndEarlyWhenABatchIsFull) {
    {
        sh::log_database logs(io.get_executor(), path, options);
        logs.log(sh::log_level::info, "a", "on the timer");
        EXPECT_TRUE(eventually(io, [&] { return logs.metrics().written == 1; }));
        run(io, logs.async_stop());
    }
    options.flush_interval = std::chrono::hours(1);
    options.batch_size = 100;
    sh::log_database logs(io.get_executor(), dir.file("batch.db"), options);
    run(io, logs.async_flush()); // the flusher is now waiting on its hour-long timer
    for (int i = 0; i < 99; ++i)
        logs.log(sh::log_level::info, "a", "below a batch");
    settle(io, 200ms);
    EXPECT_EQ(logs.metrics().written, 0u) << "a partial batch waits for the timer";
    logs.log(sh::log_level::info, "a", "the hundredth");
    EXPECT_TRUE(eventually(io, [&] { return logs.metrics().written == 100; }));
    run(io, logs.async_stop());
}

TEST_F(LogDatabase, StopWritesWhatIsBufferedAndLaterEntriesAreCounted) {
    options.flush_interval = std::chrono::hours(1);
    options.batch_size = 1000;
    sh::log_database logs(io.get_executor(), path, options);
    for (int i = 0; i < 10'000; ++i)
        logs.log(sh::log_level::info, "a", "entry " + std::to_string(i));
    run(io, logs.async_stop());
    EXPECT_EQ(count_log_rows(path), 10'000);

    logs.log(sh::log_level::critical, "a", "too late");
    EXPECT_EQ(logs.metrics().dropped_after_stop, 1u);
    EXPECT_EQ(run(io, logs.async_flush(sh::as_result)).error(), sh::errc::closed);
    EXPECT_EQ(run(io, logs.async_query_logs({}, sh::as_result)).error(), sh::errc::closed);
    run(io, logs.async_stop()); // stopping twice is fine
    EXPECT_EQ(count_log_rows(path), 10'000);
}

TEST_F(LogDatabase, DestroyingItWithoutStopStillWritesWhileTheExecutorRuns) {
    options.flush_interval = std::chrono::hours(1);
    sh::log_writer writer;
    {
        sh::log_database logs(io.get_executor(), path, options);
        writer = logs.writer();
        for (int i = 0; i < 100; ++i)
            writer.log(sh::log_level::info, "a", "x");
    }
    writer.log(sh::log_level::info, "a", "after the log database is gone: ignored");
    io.run(); // returns once the flusher has written and closed
    EXPECT_EQ(count_log_rows(path), 100);
}

// As when a sink stays registered with spdlog until the program exits: the writer, and with it
// the log database's state, outlive the io_context the log database ran on.
TEST_F(LogDatabase, AWriterMayOutliveTheExecutorsContext) {
    sh::log_writer writer;
    {
        asio::io_context own_io;
        sh::log_database logs(own_io.get_executor(), path, options);
        writer = logs.writer();
        writer.log(sh::log_level::info, "a", "written");
        run(own_io, logs.async_stop());
    }
    writer.log(sh::log_level::info, "a", "counted, not written");
    writer.request_flush();
    writer = sh::log_writer(); // the last reference to the state: it goes now
    EXPECT_EQ(count_log_rows(path), 1);
}

TEST_F(LogDatabase, AFullBufferDropsTheLowestLevelsFirstAndLogsTheCount) {
    // io is not run while logging: nothing leaves the buffer.
    options.max_buffered = 10;
    options.flush_interval = std::chrono::hours(1);
    sh::log_database logs(io.get_executor(), path, options);
    for (int i = 0; i < 10; ++i)
        logs.log(sh::log_level::debug, "a", "d" + std::to_string(i));
    for (int i = 0; i < 5; ++i)
        logs.log(sh::log_level::info, "a", "i" + std::to_string(i));
    for (int i = 0; i < 3; ++i)
        logs.log(sh::log_level::error, "a", "e" + std::to_string(i));
    logs.log(sh::log_level::trace, "a", "lower than everything buffered");

    auto m = logs.metrics();
    EXPECT_EQ(m.buffered, 10u);
    EXPECT_EQ(m.dropped, 9u);
    EXPECT_EQ(m.dropped_by_level[static_cast<int>(sh::log_level::debug)], 8u);
    EXPECT_EQ(m.dropped_by_level[static_cast<int>(sh::log_level::trace)], 1u);
    EXPECT_EQ(m.accepted, 19u);

    run(io, logs.async_flush());
    auto rows = read_all(io, logs);
    std::vector<std::string> messages;
    for (auto& r : rows)
        messages.push_back(r.message);
    ASSERT_EQ(rows.size(), 11u);
    EXPECT_EQ(
        std::vector<std::string>(messages.begin(), messages.end() - 1),
        (std::vector<std::string>{"d8", "d9", "i0", "i1", "i2", "i3", "i4", "e0", "e1", "e2"}));
    const auto& report = rows.back();
    EXPECT_EQ(report.level, sh::log_level::warn);
    EXPECT_EQ(report.logger, "sqlite_hybrid.log_database");
    EXPECT_NE(report.message.find("dropped 9 log entries"), std::string::npos) << report.message;
    EXPECT_EQ(report.extra, R"({"dropped":9,"trace":1,"debug":8})");

    logs.log(sh::log_level::info, "a", "room again");
    run(io, logs.async_flush());
    EXPECT_EQ(read_all(io, logs).size(), 12u); // the count is logged once
    run(io, logs.async_stop());
}

TEST_F(LogDatabase, RetentionDeletesOldEntriesInChunksAndGivesThePagesBack) {
    options.retention_days = 0; // keep everything while the old entries are written
    options.batch_size = 500;
    {
        sh::log_database logs(io.get_executor(), path, options);
        const std::string padding(500, 'x');
        for (int i = 0; i < 3000; ++i)
            logs.log(old_entry(padding + std::to_string(i)));
        for (int i = 0; i < 10; ++i)
            logs.log(sh::log_level::info, "new", "recent");
        run(io, logs.async_stop());
    }
    const auto pages_before = log_pragma(path, "page_count");
    ASSERT_EQ(count_log_rows(path), 3010);

    // A pass starts as soon as the file is open; the explicit run is answered when it ends.
    options.retention_days = 1;
    options.retention_chunk = 100;
    options.retention_interval = std::chrono::hours(1);
    sh::log_database logs(io.get_executor(), path, options);
    const auto deleted = run(io, logs.async_run_retention());
    EXPECT_EQ(deleted, 3000);
    EXPECT_EQ(count_log_rows(path), 10);
    EXPECT_EQ(count_log_rows(path, [](const sh::log_entry& e) { return e.logger == "old"; }), 0);
    const auto m = logs.metrics();
    EXPECT_EQ(m.retention_deleted, 3000u);
    // A batch goes whole: one of 500 entries per transaction, though the chunk is 100.
    EXPECT_GE(m.retention_chunks, 6u);
    EXPECT_GT(m.vacuumed_pages, 0u);
    EXPECT_EQ(log_pragma(path, "freelist_count"), 0);
    EXPECT_LT(log_pragma(path, "page_count"), pages_before / 10);
    EXPECT_EQ(run(io, logs.async_run_retention()), 0); // a second pass finds nothing
    run(io, logs.async_stop());
    // Closed (the WAL checkpointed): the file is as small as its pages.
    EXPECT_EQ(std::filesystem::file_size(path),
              static_cast<std::uintmax_t>(log_pragma(path, "page_count") *
                                          log_pragma(path, "page_size")));
    EXPECT_LT(log_pragma(path, "page_count"), pages_before / 10);
}

TEST_F(LogDatabase, RetentionRunsOnItsTimer) {
    options.retention_days = 1;
    options.retention_interval = 50ms;
    sh::log_database logs(io.get_executor(), path, options);
    for (int i = 0; i < 50; ++i)
        logs.log(old_entry("old"));
    logs.log(old_entry("a day is not enough", 12h));
    run(io, logs.async_flush());
    EXPECT_TRUE(eventually(io, [&] { return logs.metrics().retention_deleted == 50; }));
    EXPECT_EQ(count_log_rows(path), 1);
    run(io, logs.async_stop());
}

TEST_F(LogDatabase, AFullFileFailsQuietlyLeavesTheMainDatabaseAloneAndRecovers) {
    const auto main_path = dir.file("main.db");
    sh::database_options main_options;
    main_options.migrations = {"CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT)"};
    auto main = sh::test::open_database(io, main_path, main_options);

    options.main_database_path = main_path;
    options.max_file_bytes = 512 * 1024; // a full disk, for the log file only
    options.retention_days = 1;
    options.retention_interval = std::chrono::hours(1);
    options.batch_size = 100;
    sh::log_database logs(io.get_executor(), path, options);
    run(io, logs.async_run_retention()); // the pass that follows opening is over: next in 1 h

    // Old entries until the file is full; retention will make room by deleting them.
    const std::string big(1000, 'x');
    auto fill = [&] {
        for (int round = 0; round < 100; ++round) {
            for (int i = 0; i < 100; ++i)
                logs.log(old_entry(big));
            if (auto flushed = run(io, logs.async_flush(sh::as_result)); !flushed)
                return flushed.error();
        }
        return sh::error_code();
    };
    const auto full = fill();
    EXPECT_EQ(full, sh::condition::disk_full) << full.message();

    // The main database does not notice.
    run(io, [&]() -> awaitable<void> {
        for (int i = 0; i < 100; ++i) {
            logs.log(sh::log_level::error, "app", "still logging, never throws");
            co_await main.async_execute("INSERT INTO kv VALUES(?, 'v')", sh::args(i));
        }
    }());
    EXPECT_EQ(run(io, main.async_query<std::int64_t>("SELECT count(*) FROM kv"))[0], 100);

    EXPECT_FALSE(run(io, logs.async_flush(sh::as_result)));
    auto m = logs.metrics();
    EXPECT_TRUE(m.failing);
    EXPECT_GE(m.failures, 2u);
    EXPECT_EQ(m.last_error, sh::condition::disk_full);
    EXPECT_GT(m.buffered, 0u);
    ASSERT_EQ(reports.size(), 1u) << "reported once per episode";
    EXPECT_NE(reports.lines()[0].find("cannot write"), std::string::npos) << reports.lines()[0];

    // Retention frees room, and what stayed buffered is written.
    EXPECT_GT(run(io, logs.async_run_retention()), 0);
    run(io, logs.async_flush());
    m = logs.metrics();
    EXPECT_FALSE(m.failing);
    EXPECT_EQ(m.buffered, 0u);
    ASSERT_EQ(reports.size(), 2u);
    EXPECT_NE(reports.lines()[1].find("writing again"), std::string::npos) << reports.lines()[1];
    sh::log_filter errors;
    errors.logger = "app";
    errors.limit = 0;
    EXPECT_EQ(run(io, logs.async_query_logs(errors)).size(), 100u);

    // A new episode is reported again.
    EXPECT_EQ(fill(), sh::condition::disk_full);
    EXPECT_EQ(reports.size(), 3u);
    (void)run(io, logs.async_stop(sh::as_result)); // entries are still left over: full again
    run(io, main.async_close());
}

TEST_F(LogDatabase, ALockedFileIsWaitedOutWithoutLosingEntries) {
    options.database_settings.lock_timeout = 100ms;
    options.batch_size = 1000; // a failed batch goes back in front of the others
    sh::log_database logs(io.get_executor(), path, options);
    run(io, logs.async_flush());

    auto other = sh::connection::open(path, sh::open_mode::read_write, {}).value();
    other.execute_script("BEGIN IMMEDIATE").value(); // another process holds the write lock
    constexpr sh::log_level levels[] = {sh::log_level::info, sh::log_level::debug,
                                        sh::log_level::warn};
    int n = 0;
    for (; n < 1500; ++n)
        logs.log(levels[n % 3], "a", std::to_string(n));
    auto flushed = run(io, logs.async_flush(sh::as_result));
    ASSERT_FALSE(flushed);
    EXPECT_TRUE(sh::is_lock_error(flushed.error())) << flushed.error().message();
    for (; n < 3000; ++n)
        logs.log(levels[n % 3], "a", std::to_string(n));
    EXPECT_FALSE(run(io, logs.async_flush(sh::as_result)));
    EXPECT_EQ(reports.size(), 1u);

    other.execute_script("COMMIT").value();
    run(io, logs.async_flush());
    EXPECT_EQ(count_log_rows(path), 3000);
    EXPECT_EQ(reports.size(), 2u);
    EXPECT_EQ(logs.metrics().dropped, 0u);
    run(io, logs.async_stop());
    // Written in the order they were logged, across levels and failed attempts.
    const auto order = sh::test::read_log_file(path);
    ASSERT_EQ(order.size(), 3000u);
    for (std::size_t i = 0; i < order.size(); ++i)
        ASSERT_EQ(std::stoll(order[i].message), static_cast<std::int64_t>(i));
}

TEST_F(LogDatabase, AFileThatCannotBeOpenedIsRetriedUntilItCan) {
    std::filesystem::create_directory(path); // in the way (chmod would not stop root)
    sh::log_database logs(io.get_executor(), path, options);
    for (int i = 0; i < 5; ++i)
        logs.log(sh::log_level::info, "a", "buffered while the file cannot be opened");
    auto flushed = run(io, logs.async_flush(sh::as_result)); // once the first open has ended
    ASSERT_FALSE(flushed);
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_NE(reports.lines()[0].find("cannot open"), std::string::npos) << reports.lines()[0];
    EXPECT_FALSE(logs.metrics().open);
    EXPECT_FALSE(run(io, logs.async_query_logs({}, sh::as_result)));
    EXPECT_EQ(reports.size(), 1u);

    std::filesystem::remove(path);
    run(io, logs.async_flush());
    EXPECT_EQ(read_all(io, logs).size(), 5u);
    EXPECT_EQ(reports.size(), 2u);
    run(io, logs.async_stop());
}

TEST_F(LogDatabase, TheConstructorReturnsAtOnceWhileTheFileIsLockedAndLogsWaitMeanwhile) {
    {
        sh::log_database first(io.get_executor(), path, options);
        run(io, first.async_stop());
    }
    // Another connection holds the write lock for longer than an open attempt waits for it.
    write_lock_holder holder(path);
    ASSERT_TRUE(holder.locked());
    options.database_settings.open_timeout = 100ms;
    options.database_settings.connection.busy_timeout = 20ms;
    options.retry_interval = 20ms;

    sh::log_database logs(io.get_executor(), path, options);
    // Nothing was attempted yet: the flusher opens the file once `io` runs it.
    EXPECT_EQ(logs.metrics().failures, 0u);
    EXPECT_FALSE(logs.metrics().open);
    EXPECT_TRUE(reports.lines().empty());
    for (int i = 0; i < 10; ++i)
        logs.log(sh::log_level::info, "a", "logged before the file is open");
    EXPECT_EQ(logs.metrics().buffered, 10u);

    // Attempts give up while the lock is held, and are retried; the entries wait in memory.
    EXPECT_TRUE(eventually(io, [&] { return logs.metrics().failures >= 2; }));
    auto m = logs.metrics();
    EXPECT_FALSE(m.open);
    EXPECT_TRUE(sh::is_lock_error(m.last_error)) << m.last_error.message();
    EXPECT_EQ(m.buffered, 10u);
    EXPECT_EQ(m.written, 0u);
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_NE(reports.lines()[0].find("cannot open"), std::string::npos) << reports.lines()[0];

    ASSERT_TRUE(holder.release("COMMIT"));
    EXPECT_TRUE(eventually(io, [&] { return logs.metrics().written == 10; }));
    EXPECT_TRUE(logs.metrics().open);
    EXPECT_EQ(count_log_rows(path, sh::test::message_is("logged before the file is open")), 10);
    EXPECT_EQ(reports.size(), 2u); // the recovery
    run(io, logs.async_stop());
}

// A failure, then nothing to write once the file is usable again: the flusher recovers and goes
// back to waiting (it once kept retrying without waiting, holding the caller's thread).
TEST_F(LogDatabase, AFailureWithNothingBufferedEndsWhenTheFileOpensAndTheFlusherWaits) {
    {
        sh::log_database first(io.get_executor(), path, options);
        run(io, first.async_stop());
    }
    write_lock_holder holder(path);
    ASSERT_TRUE(holder.locked());
    options.database_settings.open_timeout = 50ms;
    options.database_settings.connection.busy_timeout = 10ms;
    options.retry_interval = 20ms;
    sh::log_database logs(io.get_executor(), path, options);
    EXPECT_TRUE(eventually(io, [&] { return logs.metrics().failures >= 1; }));
    ASSERT_TRUE(holder.release("COMMIT"));

    EXPECT_TRUE(eventually(io, [&] { return logs.metrics().open && !logs.metrics().failing; }));
    EXPECT_EQ(reports.size(), 2u); // the failure, the recovery
    // The caller's thread is free: timers on it fire on time.
    asio::steady_timer timer(io, 50ms);
    bool fired = false;
    timer.async_wait([&](sh::error_code) { fired = true; });
    io.restart();
    io.run_for(1s);
    EXPECT_TRUE(fired);
    EXPECT_EQ(logs.metrics().written, 0u);
    run(io, logs.async_stop());
}

TEST_F(LogDatabase, QueriesWaitForTheOpenInProgress) {
    sh::log_database logs(io.get_executor(), path, options);
    EXPECT_TRUE(run(io, logs.async_query_logs({})).empty()); // not errc::closed
    EXPECT_TRUE(logs.metrics().open);
    run(io, logs.async_stop());
}

TEST_F(LogDatabase, ADeletedFileIsReplacedByANewOneWithoutBlockingTheCaller) {
    sh::log_database logs(io.get_executor(), path, options);
    logs.log(sh::log_level::info, "a", "into the file that will be deleted");
    run(io, logs.async_flush());
    for (const char* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(path + suffix);

    // Another connection creates the path again and locks it before its first page exists:
    // the log database must wait for it on its pool, while the caller's thread goes on.
    write_lock_holder holder(path);
    ASSERT_TRUE(holder.locked());
    logs.log(sh::log_level::warn, "a", "into the new file");
    logs.writer().request_flush();
    EXPECT_TRUE(eventually(io, [&] { return logs.metrics().reopens == 1; }));
    EXPECT_FALSE(logs.metrics().open);
    // The caller's thread ran this while the reopen waited for the lock; had the reopen
    // waited here instead, it would have given up, and the file would have got its first page
    // without the log database's settings (16 KiB pages). ROLLBACK writes no page (COMMIT
    // would).
    ASSERT_TRUE(holder.release("ROLLBACK"));

    run(io, logs.async_flush());
    const auto m = logs.metrics();
    EXPECT_TRUE(m.open);
    EXPECT_EQ(m.written, 2u);
    EXPECT_EQ(m.failures, 0u);
    EXPECT_EQ(count_log_rows(path), 1);
    EXPECT_EQ(count_log_rows(path, sh::test::message_is("into the new file")), 1);
    EXPECT_EQ(log_pragma(path, "page_size"), 16384);
    EXPECT_GT(log_pragma(path, "user_version"), 0); // the schema is there
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_NE(reports.lines()[0].find("deleted or renamed"), std::string::npos)
        << reports.lines()[0];

    // A renamed file keeps what was written to it; the path gets a new one.
    logs.log(sh::log_level::info, "a", "before the rename");
    run(io, logs.async_flush());
    std::filesystem::rename(path, path + ".1");
    logs.log(sh::log_level::info, "a", "after the rename");
    run(io, logs.async_flush());
    run(io, logs.async_stop());
    EXPECT_EQ(logs.metrics().reopens, 2u);
    EXPECT_EQ(count_log_rows(path + ".1", sh::test::message_is("before the rename")), 1);
    EXPECT_EQ(count_log_rows(path), 1);
}

TEST_F(LogDatabase, RefusesTheMainDatabaseItsCompanionFilesAndMemory) {
    const auto main_path = dir.file("app.db");
    auto main = sh::test::open_database(io, main_path);
    options.main_database_path = main_path;
    std::filesystem::create_symlink(main_path, dir.file("link.db"));

    for (const std::string& path :
         {main_path, main_path + "-wal", main_path + "-shm", main_path + "-journal",
          (dir.path() / "." / "app.db").string(), dir.file("link.db"),
          "file:" + main_path + "?mode=rwc", std::string(":memory:"), std::string()}) {
        try {
            sh::log_database logs(io.get_executor(), path, options);
            ADD_FAILURE() << "accepted " << path;
        } catch (const sh::system_error& e) {
            EXPECT_EQ(e.code(), sh::errc::path_refused) << path;
            EXPECT_NE(std::string(e.what()).find(path.empty() ? "''" : path), std::string::npos)
                << e.what();
        }
    }
    EXPECT_FALSE(std::filesystem::exists(main_path + "-journal"));

    sh::log_database beside(io.get_executor(), dir.file("app-logs.db"), options);
    run(io, beside.async_stop());

    options.allow_memory = true; // for tests
    sh::log_database in_memory(io.get_executor(), ":memory:", options);
    in_memory.log(sh::log_level::info, "a", "kept in memory");
    run(io, in_memory.async_flush());
    EXPECT_EQ(read_all(io, in_memory).size(), 1u);
    run(io, in_memory.async_stop());
    run(io, main.async_close());
}

} // namespace
