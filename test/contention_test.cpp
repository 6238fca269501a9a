// SPDX-License-Identifier: BSL-1.0
// Lock contention between real processes: a helper process holds the write lock, or several
// processes write at once.
#include "helper/migrations.hpp"
#include "support/process.hpp"
#include "support/run.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/retry.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <thread>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using asio::awaitable;
using sh::test::child_process;
using sh::test::open_database;
using sh::test::run;
using sh::test::temp_dir;
using namespace std::chrono_literals;

namespace {

sh::database_options schema() {
    sh::database_options o;
    o.migrations = sh::test::shared_migrations();
    return o;
}

// Starts the helper holding the write lock of `path` for `hold`, and returns once it has it.
std::unique_ptr<child_process> hold_write_lock(const std::string& path, std::chrono::milliseconds hold) {
    auto child = std::make_unique<child_process>(
        std::vector<std::string>{SQLITE_HYBRID_TEST_HELPER, "hold-lock", path,
                                 std::to_string(hold.count())},
        true);
    EXPECT_EQ(child->read_line(), "locked");
    return child;
}

int count_rows(asio::io_context& io, sh::database& db) {
    return run(io, db.async_query<int>("SELECT count(*) FROM kv")).at(0);
}

TEST(Contention, AWriteWaitsOutAShortLockWithoutErrors) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("c.db"), schema());
    auto holder = hold_write_lock(dir.file("c.db"), 300ms);
    sh::retry_policy policy;
    policy.deadline = 5s;
    const auto io_thread = std::this_thread::get_id();
    std::thread::id job_thread;
    auto r = run(io, sh::with_retry(
                         [&](auto token) {
                             return db.async_write(
                                 [&](sh::connection& c) {
                                     job_thread = std::this_thread::get_id();
                                     return c.execute("INSERT INTO kv VALUES(1, 'after')").value();
                                 },
                                 std::move(token));
                         },
                         policy, sh::as_result));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_NE(job_thread, io_thread);
    EXPECT_EQ(holder->wait(), 0);
    EXPECT_GT(db.metrics().busy_waits, 0u);
    EXPECT_EQ(count_rows(io, db), 1);
}

TEST(Contention, ALockHeldPastTheDeadlineGivesDatabaseBusyAndWritesNothing) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("c.db"), schema());
    auto holder = hold_write_lock(dir.file("c.db"), 5000ms);
    sh::retry_policy policy;
    policy.deadline = 1s;
    policy.base_delay = 50ms;
    policy.max_retries = 100;
    sh::retry_report report;
    const auto started = std::chrono::steady_clock::now();
    auto r = run(io, sh::with_retry(
                         [&](auto token) {
                             return db.async_execute("INSERT INTO kv VALUES(1, 'x')", {}, std::move(token));
                         },
                         policy, &report, sh::as_result));
    const auto elapsed = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(r.error(), sh::errc::database_busy);
    EXPECT_TRUE(report.deadline_reached);
    EXPECT_EQ(report.last_error, sh::condition::lock_error) << report.last_error.message();
    EXPECT_GE(elapsed, 900ms);
    EXPECT_LT(elapsed, 4500ms); // gave up at its deadline, not when the lock went away
    EXPECT_EQ(holder->wait(), 0);
    EXPECT_EQ(count_rows(io, db), 0);
}

TEST(Contention, ReadsKeepCompletingWhileAnotherProcessHoldsTheWriteLock) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("c.db"), schema());
    run(io, db.async_execute("INSERT INTO kv VALUES(1, 'committed')"));
    auto holder = hold_write_lock(dir.file("c.db"), 1000ms);
    bool write_done = false;
    int reads_while_locked = 0;
    const auto io_thread = std::this_thread::get_id();
    run(io, [&]() -> awaitable<void> {
        asio::co_spawn(
            io,
            [&]() -> awaitable<void> {
                co_await db.async_execute("INSERT INTO kv VALUES(2, 'waited')");
                write_done = true;
            },
            asio::detached);
        while (!write_done) {
            auto thread = co_await db.async_read([](sh::connection& c) {
                c.query_one<int>("SELECT count(*) FROM kv").value();
                return std::this_thread::get_id();
            });
            EXPECT_NE(thread, io_thread);
            if (!write_done)
                ++reads_while_locked;
            asio::steady_timer pause(io, 5ms);
            co_await pause.async_wait(asio::use_awaitable);
        }
    }());
    EXPECT_GT(reads_while_locked, 10);
    EXPECT_EQ(holder->wait(), 0);
    EXPECT_EQ(count_rows(io, db), 2);
}

TEST(Contention, AWriteWithoutRetryFailsWithALockErrorAfterTheLockTimeout) {
    temp_dir dir;
    asio::io_context io;
    sh::database_options o = schema();
    o.lock_timeout = 200ms;
    auto db = open_database(io, dir.file("c.db"), o);
    auto holder = hold_write_lock(dir.file("c.db"), 2000ms);
    sh::diagnostics diag;
    auto r = run(io, db.async_execute("INSERT INTO kv VALUES(1, 'x')", {}, diag, sh::as_result));
    EXPECT_TRUE(sh::is_lock_error(r.error())) << r.error().message();
    EXPECT_NE(diag.message.find("deadline"), std::string::npos) << diag.message;
    EXPECT_EQ(holder->wait(), 0);
    EXPECT_EQ(count_rows(io, db), 0);
}

TEST(Contention, FourProcessesOfSixteenCoroutinesLoseNothing) {
    temp_dir dir;
    const auto path = dir.file("load.db");
    {
        asio::io_context io;
        open_database(io, path, schema()); // creates the file and its schema
    }
    constexpr int processes = 4, coroutines = 16, writes = 50;
    const auto start = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch() + 500ms)
                           .count();
    std::vector<std::unique_ptr<child_process>> children;
    for (int p = 0; p < processes; ++p)
        children.push_back(std::make_unique<child_process>(
            std::vector<std::string>{SQLITE_HYBRID_TEST_HELPER, "write-load", path,
                                     std::to_string(p + 1), std::to_string(coroutines),
                                     std::to_string(writes), std::to_string(start)},
            true));
    std::vector<int> acknowledged;
    for (auto& child : children) {
        const auto line = child->read_line();
        int ok = -1, errors = -1;
        std::sscanf(line.c_str(), "acknowledged=%d errors=%d", &ok, &errors);
        EXPECT_EQ(errors, 0) << line;
        acknowledged.push_back(ok);
        EXPECT_EQ(child->wait(), 0);
    }
    auto c = sh::connection::open(path, sh::open_mode::read_only, {}).value();
    for (int p = 0; p < processes; ++p) {
        EXPECT_EQ(acknowledged[static_cast<std::size_t>(p)], coroutines * writes);
        EXPECT_EQ(c.query_one<int>("SELECT count(*) FROM kv WHERE k / 1000000 = ?", p + 1).value(),
                  acknowledged[static_cast<std::size_t>(p)]);
    }
    EXPECT_EQ(c.query_one<std::string>("PRAGMA integrity_check").value(), "ok");
}

} // namespace

namespace {

// While another process holds the write lock, a queued write that is cancelled completes as
// cancelled within one wait slice, and never commits once the lock is free.
TEST(Contention, ACancelledWriteWaitingForAnotherProcessesLockEndsAtOnceAndNeverCommits) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("c.db"), schema());
    auto holder = hold_write_lock(dir.file("c.db"), 3000ms);
    asio::cancellation_signal signal;
    std::optional<sh::error_code> answer;
    std::chrono::steady_clock::time_point answered;
    db.async_execute("INSERT INTO kv VALUES(1, 'x')", {},
                     asio::bind_cancellation_slot(signal.slot(), [&](sh::error_code ec, auto) {
                         answer = ec;
                         answered = std::chrono::steady_clock::now();
                     }));
    std::chrono::steady_clock::time_point cancelled;
    run(io, [&]() -> awaitable<void> {
        asio::steady_timer t(io, 100ms);
        co_await t.async_wait(asio::use_awaitable);
        cancelled = std::chrono::steady_clock::now();
        signal.emit(asio::cancellation_type::terminal);
        co_await sh::test::until(io, [&] { return answer.has_value(); });
    }());
    EXPECT_EQ(*answer, asio::error::operation_aborted);
    // One wait slice is 10 ms; the rest is the handler's way back to this thread.
    EXPECT_LT(answered - cancelled, 100ms);
    EXPECT_EQ(holder->wait(), 0);
    EXPECT_EQ(count_rows(io, db), 0);
    EXPECT_EQ(db.metrics().cancelled, 1u);
}

// with_retry's deadline reaches a write however many awaits deep it is started: the attempt is
// cancelled at the deadline and with_retry answers database_busy then, not when the lock frees.
TEST(Contention, WithRetrysDeadlineReachesAWriteStartedAfterOtherAwaits) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("c.db"), schema());
    auto holder = hold_write_lock(dir.file("c.db"), 2000ms);
    sh::retry_policy policy;
    policy.deadline = 300ms;
    const auto started = std::chrono::steady_clock::now();
    auto r = run(io, sh::with_retry(
                         [&]() -> awaitable<sh::execute_result> {
                             asio::steady_timer t(io, 20ms); // something else first
                             co_await t.async_wait(asio::use_awaitable);
                             co_return co_await db.async_execute("INSERT INTO kv VALUES(1, 'x')");
                         },
                         policy, sh::as_result));
    const auto elapsed = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(r.error(), sh::errc::database_busy);
    EXPECT_GE(elapsed, 290ms);
    EXPECT_LT(elapsed, 700ms);
    EXPECT_EQ(holder->wait(), 0);
    EXPECT_EQ(count_rows(io, db), 0); // answered busy: never committed later
}

// Destroying a database whose writes wait for another process's lock does not wait for the
// lock: the queued writes fail with closed and none of them commits afterwards.
TEST(Contention, DestroyingADatabaseFailsWritesQueuedBehindAForeignLockWithoutWaiting) {
    temp_dir dir;
    const auto path = dir.file("c.db");
    asio::io_context io;
    std::vector<std::optional<sh::error_code>> answers(3);
    std::chrono::steady_clock::duration destroy_took{};
    {
        auto db = open_database(io, path, schema());
        auto holder = hold_write_lock(path, 1500ms);
        for (int i = 0; i < 3; ++i)
            db.async_execute("INSERT INTO kv VALUES(?, 'x')", sh::args(i),
                             [&answers, i](sh::error_code ec, auto) { answers[static_cast<std::size_t>(i)] = ec; });
        run(io, [&]() -> awaitable<void> {
            asio::steady_timer t(io, 100ms); // the writer is waiting for the lock now
            co_await t.async_wait(asio::use_awaitable);
        }());
        const auto before = std::chrono::steady_clock::now();
        db = sh::database();
        destroy_took = std::chrono::steady_clock::now() - before;
        io.restart();
        io.run();
        EXPECT_EQ(holder->wait(), 0);
    }
    EXPECT_LT(destroy_took, 500ms);
    for (const auto& a : answers) {
        ASSERT_TRUE(a.has_value());
        EXPECT_EQ(*a, sh::errc::closed);
    }
    auto db = open_database(io, path, schema());
    EXPECT_EQ(count_rows(io, db), 0);
}

} // namespace
