// SPDX-License-Identifier: BSL-1.0
// Cancellation, closing, destruction and many threads at once.
#include "support/run.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/log_database.hpp>
#include <sqlite_hybrid/write_buffer.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using asio::awaitable;
using sh::test::open_database;
using sh::test::run;
using sh::test::until;
using sh::test::temp_dir;

namespace {

sh::database_options schema() {
    sh::database_options o;
    o.migrations = {"CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT NOT NULL)"};
    return o;
}

int count_rows(asio::io_context& io, sh::database& db) {
    return run(io, db.async_query<int>("SELECT count(*) FROM kv")).at(0);
}

TEST(Cancellation, QueuedWriteIsAbortedAndNeverRuns) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("c.db"), schema());
    std::promise<void> release;
    auto released = release.get_future().share();
    std::atomic<bool> blocking{false};
    db.async_write(
        [&](sh::connection&) {
            blocking = true;
            released.wait_for(std::chrono::seconds(30));
        },
        [](sh::error_code) {});
    asio::cancellation_signal signal;
    sh::error_code seen = sh::errc::closed;
    run(io, [&]() -> awaitable<void> {
        co_await until(io, [&] { return blocking.load(); });
        db.async_execute("INSERT INTO kv VALUES(1, 'never')", sh::args(),
                         asio::bind_cancellation_slot(
                             signal.slot(), [&](sh::error_code ec, sh::execute_result) { seen = ec; }));
        co_await until(io, [&] { return db.metrics().write_queue_depth == 1; });
        signal.emit(asio::cancellation_type::terminal);
        release.set_value();
        co_await until(io, [&] { return seen != sh::errc::closed; });
    }());
    EXPECT_EQ(seen, asio::error::operation_aborted);
    EXPECT_EQ(count_rows(io, db), 0);
    EXPECT_EQ(db.metrics().cancelled, 1u);
}

TEST(Cancellation, RunningWriteIsRolledBack) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("c.db"), schema());
    std::promise<void> release;
    auto released = release.get_future().share();
    std::atomic<bool> inserted{false};
    asio::cancellation_signal signal;
    sh::error_code seen = sh::errc::closed;
    run(io, [&]() -> awaitable<void> {
        db.async_write(
            [&](sh::connection& c) {
                c.execute("INSERT INTO kv VALUES(1, 'half')").value();
                inserted = true;
                released.wait_for(std::chrono::seconds(30));
            },
            asio::bind_cancellation_slot(signal.slot(), [&](sh::error_code ec) { seen = ec; }));
        co_await until(io, [&] { return inserted.load(); });
        signal.emit(asio::cancellation_type::terminal);
        release.set_value();
        co_await until(io, [&] { return seen != sh::errc::closed; });
    }());
    EXPECT_EQ(seen, asio::error::operation_aborted);
    EXPECT_EQ(count_rows(io, db), 0); // and no transaction was left open: the next write works
    EXPECT_EQ(run(io, db.async_execute("INSERT INTO kv VALUES(2, 'ok')")).changes, 1);
}

TEST(Cancellation, RunningReadIsInterrupted) {
    using namespace asio::experimental::awaitable_operators;
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("c.db"), schema());
    auto outcome = run(io, [&]() -> awaitable<std::size_t> {
        asio::steady_timer timeout(io, std::chrono::milliseconds(100));
        // Counts for minutes unless interrupted.
        auto winner = co_await (db.async_query<std::int64_t>(
                                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c"
                                    " LIMIT 10000000000) SELECT count(*) FROM c") ||
                                timeout.async_wait(asio::use_awaitable));
        co_return winner.index();
    }());
    EXPECT_EQ(outcome, 1u); // the timer won; the query was cancelled and finished
    EXPECT_EQ(db.metrics().cancelled, 1u);
    EXPECT_EQ(count_rows(io, db), 0); // the readers still work
}

TEST(Close, FinishesQueuedWorkThenRefusesNewWork) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("c.db"), schema());
    std::atomic<int> ok{0};
    for (int i = 0; i < 100; ++i)
        db.async_execute("INSERT INTO kv VALUES(?, 'x')", sh::args(i),
                         [&](sh::error_code ec, sh::execute_result) { ok += ec ? 0 : 1; });
    run(io, db.async_close());
    EXPECT_EQ(ok, 100);
    EXPECT_FALSE(db.is_open());
    auto after = run(io, db.async_execute("INSERT INTO kv VALUES(1000, 'late')", sh::args(), sh::as_result));
    EXPECT_EQ(after.error(), sh::errc::closed);
    auto again = run(io, db.async_close(sh::as_result));
    EXPECT_EQ(again.error(), sh::errc::closed);

    auto c = sh::connection::open(dir.file("c.db"), sh::open_mode::read_only, {}).value();
    EXPECT_EQ(c.query_one<int>("SELECT count(*) FROM kv").value(), 100);
}

TEST(Close, DestroyingAnOpenDatabaseWithQueuedWorkNeitherCrashesNorHangs) {
    temp_dir dir;
    asio::io_context io;
    std::atomic<int> ok{0}, closed{0}, other{0};
    {
        auto db = open_database(io, dir.file("c.db"), schema());
        for (int i = 0; i < 500; ++i)
            db.async_execute("INSERT INTO kv VALUES(?, 'x')", sh::args(i),
                             [&](sh::error_code ec, sh::execute_result) {
                                 if (!ec)
                                     ++ok;
                                 else if (ec == sh::errc::closed)
                                     ++closed;
                                 else
                                     ++other;
                             });
    }
    io.run();
    EXPECT_EQ(ok + closed, 500);
    EXPECT_EQ(other, 0);
    auto c = sh::connection::open(dir.file("c.db"), sh::open_mode::read_only, {}).value();
    EXPECT_EQ(c.query_one<int>("SELECT count(*) FROM kv").value(), ok.load());
}

TEST(Close, UnopenedDatabaseFailsClearly) {
    asio::io_context io;
    sh::database db;
    auto r = run(io, db.async_execute("SELECT 1", sh::args(), sh::as_result));
    EXPECT_EQ(r.error(), sh::errc::closed);
}

TEST(Concurrency, HundredsOfCoroutinesOnAMultiThreadedIoContext) {
    temp_dir dir;
    asio::io_context io(4);
    auto db = open_database(io, dir.file("m.db"), schema());
    constexpr int coroutines = 300, each = 10;
    std::atomic<int> written{0}, read{0}, errors{0};
    for (int c = 0; c < coroutines; ++c)
        asio::co_spawn(
            asio::make_strand(io),
            [&, c]() -> awaitable<void> {
                for (int i = 0; i < each; ++i) {
                    auto w = co_await db.async_execute("INSERT INTO kv VALUES(?, 'v')",
                                                       sh::args(c * each + i), sh::as_result);
                    (w ? written : errors)++;
                    auto r = co_await db.async_query<std::string>("SELECT v FROM kv WHERE k = ?",
                                                                  sh::args(c * each + i), sh::as_result);
                    (r && r.value().size() == 1 ? read : errors)++;
                }
            },
            asio::detached);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] { io.run(); });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(errors, 0);
    EXPECT_EQ(written, coroutines * each);
    EXPECT_EQ(read, coroutines * each);
    EXPECT_EQ(count_rows(io, db), coroutines * each);
}

} // namespace

namespace {

// An operation keeps its executor's io_context running until its handler has run: run_one(),
// restart() and run() always end with the handler called, never with it pending.
template <class Start> int rounds_with_pending_handler(int rounds, Start start) {
    int pending = 0;
    for (int i = 0; i < rounds; ++i) {
        asio::io_context io;
        bool called = false;
        start(io, called);
        io.run_one();
        io.restart();
        io.run();
        pending += !called;
    }
    return pending;
}

TEST(WorkTracking, EveryOperationKeepsItsIoContextRunningUntilItsHandlerRan) {
    temp_dir dir;
    const auto path = dir.file("w.db");
    asio::io_context setup;
    auto db = open_database(setup, path, schema());
    constexpr int rounds = 1000;
    auto opts = schema();
    opts.log = sh::null_logger();
    EXPECT_EQ(rounds_with_pending_handler(200, [&](asio::io_context& io, bool& called) {
                  sh::database::async_open(io.get_executor(), path, opts,
                                           [&called](sh::error_code, sh::database) { called = true; });
              }),
              0)
        << "open";
    // The operations below run on `db` (opened on another io_context) with handlers bound to
    // each round's io_context through their associated executor.
    auto bound = [](asio::io_context& io, auto fn) { return asio::bind_executor(io, std::move(fn)); };
    EXPECT_EQ(rounds_with_pending_handler(rounds, [&](asio::io_context& io, bool& called) {
                  db.async_execute("INSERT OR REPLACE INTO kv VALUES (1, 'x')", {},
                                   bound(io, [&called](sh::error_code, auto) { called = true; }));
              }),
              0)
        << "execute";
    EXPECT_EQ(rounds_with_pending_handler(rounds, [&](asio::io_context& io, bool& called) {
                  db.async_query<int>("SELECT k FROM kv", {},
                                      bound(io, [&called](sh::error_code, auto) { called = true; }));
              }),
              0)
        << "query";
    EXPECT_EQ(rounds_with_pending_handler(rounds, [&](asio::io_context& io, bool& called) {
                  db.async_read([](sh::connection&) { return 1; },
                                bound(io, [&called](sh::error_code, int) { called = true; }));
              }),
              0)
        << "read";
    EXPECT_EQ(rounds_with_pending_handler(rounds, [&](asio::io_context& io, bool& called) {
                  db.async_write([](sh::connection&) {},
                                 bound(io, [&called](sh::error_code) { called = true; }));
              }),
              0)
        << "write";
    // The same from coroutines: the handler resumes the coroutine.
    EXPECT_EQ(rounds_with_pending_handler(rounds, [&](asio::io_context& io, bool& called) {
                  asio::co_spawn(
                      io,
                      [&]() -> awaitable<void> {
                          co_await db.async_execute("INSERT OR REPLACE INTO kv VALUES (2, 'y')");
                          called = true;
                      },
                      asio::detached);
              }),
              0)
        << "execute from a coroutine";
    EXPECT_EQ(rounds_with_pending_handler(200, [&](asio::io_context& io, bool& called) {
                  asio::co_spawn(
                      io,
                      [&]() -> awaitable<void> {
                          auto opened = co_await sh::database::async_open(io.get_executor(), path, opts);
                          called = opened.is_open();
                      },
                      asio::detached);
              }),
              0)
        << "open from a coroutine";
    EXPECT_EQ(rounds_with_pending_handler(200, [&](asio::io_context& io, bool& called) {
                  auto other = open_database(setup, path, opts);
                  other.async_close(bound(io, [&called](sh::error_code) { called = true; }));
              }),
              0)
        << "close";
}


// The same for the write buffer and the log database, whose operations wait for a while
// (for room, a flush, a stop): they run on a database whose io_context runs on a thread of its
// own, and their handlers are bound to each round's io_context.
TEST(WorkTracking, WriteBufferAndLogDatabaseKeepTheirCallersRunningUntilTheirHandlersRan) {
    temp_dir dir;
    asio::io_context home;
    auto guard = asio::make_work_guard(home);
    std::thread home_thread([&] { home.run(); });
    auto db = sh::database::async_open(home.get_executor(), dir.file("w.db"), schema(),
                                       asio::use_future)
                  .get();
    auto bound = [](asio::io_context& io, auto fn) { return asio::bind_executor(io, std::move(fn)); };
    // Waits on this thread for an operation completing on `home`.
    auto wait = [](auto initiate) {
        std::promise<sh::error_code> done;
        initiate([&done](sh::error_code ec, auto&&...) { done.set_value(ec); });
        return done.get_future().get();
    };
    constexpr int rounds = 1000, slow_rounds = 200;
    {
        sh::write_buffer buffer(db);
        ASSERT_FALSE(wait([&](auto h) { buffer.async_start(h); }));
        EXPECT_EQ(rounds_with_pending_handler(rounds, [&](asio::io_context& io, bool& called) {
                      buffer.async_buffer_upsert("kv", {{"k", 1}, {"v", "a"}}, {"k"},
                                                 bound(io, [&called](sh::error_code) { called = true; }));
                  }),
                  0)
            << "buffer_upsert";
        EXPECT_EQ(rounds_with_pending_handler(rounds, [&](asio::io_context& io, bool& called) {
                      EXPECT_FALSE(buffer.buffer_upsert("kv", {{"k", 2}, {"v", "b"}}, {"k"}));
                      buffer.async_force_flush(
                          bound(io, [&called](sh::error_code, std::size_t) { called = true; }));
                  }),
                  0)
            << "force_flush";
        ASSERT_FALSE(wait([&](auto h) { buffer.async_stop(h); }));
    }
    std::vector<std::unique_ptr<sh::write_buffer>> started; // stopped once all started
    EXPECT_EQ(rounds_with_pending_handler(slow_rounds, [&](asio::io_context& io, bool& called) {
                  started.push_back(std::make_unique<sh::write_buffer>(db));
                  started.back()->async_start(bound(io, [&called](sh::error_code) { called = true; }));
              }),
              0)
        << "write buffer start";
    for (auto& buffer : started)
        EXPECT_FALSE(wait([&](auto h) { buffer->async_stop(h); }));
    EXPECT_EQ(rounds_with_pending_handler(slow_rounds, [&](asio::io_context& io, bool& called) {
                  auto buffer = std::make_shared<sh::write_buffer>(db);
                  EXPECT_FALSE(wait([&](auto h) { buffer->async_start(h); }));
                  EXPECT_FALSE(buffer->buffer_upsert("kv", {{"k", 3}, {"v", "c"}}, {"k"}));
                  buffer->async_stop(bound(io, [&called, buffer](sh::error_code, sh::stop_report) {
                      called = true;
                  }));
              }),
              0)
        << "write buffer stop";

    sh::log_database_options quiet;
    quiet.flush_interval = std::chrono::hours(1); // only the flushes the test asks for
    {
        sh::log_database logs(home.get_executor(), dir.file("logs.db"), quiet);
        EXPECT_EQ(rounds_with_pending_handler(rounds, [&](asio::io_context& io, bool& called) {
                      logs.log(sh::log_level::info, "test", "one entry");
                      logs.async_flush(bound(io, [&called](sh::error_code) { called = true; }));
                  }),
                  0)
            << "log flush";
        EXPECT_EQ(rounds_with_pending_handler(slow_rounds, [&](asio::io_context& io, bool& called) {
                      logs.async_run_retention(
                          bound(io, [&called](sh::error_code, std::int64_t) { called = true; }));
                  }),
                  0)
            << "log retention";
        EXPECT_EQ(rounds_with_pending_handler(slow_rounds, [&](asio::io_context& io, bool& called) {
                      logs.async_query_logs(
                          {}, bound(io, [&called](sh::error_code, std::vector<sh::log_entry>) {
                              called = true;
                          }));
                  }),
                  0)
            << "log query";
        EXPECT_FALSE(wait([&](auto h) { logs.async_stop(h); }));
    }
    EXPECT_EQ(rounds_with_pending_handler(slow_rounds, [&](asio::io_context& io, bool& called) {
                  auto logs = std::make_shared<sh::log_database>(home.get_executor(),
                                                                 dir.file("logs.db"), quiet);
                  logs->log(sh::log_level::info, "test", "one entry");
                  logs->async_stop(bound(io, [&called, logs](sh::error_code) { called = true; }));
              }),
              0)
        << "log stop";

    EXPECT_FALSE(wait([&](auto h) { db.async_close(h); }));
    guard.reset();
    home_thread.join();
}

} // namespace
