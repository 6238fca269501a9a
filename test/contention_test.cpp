// Lock contention between real processes: a helper process holds the write lock, or several
// processes write at once.
#include "helper/migrations.hpp"
#include "support/process.hpp"
#include "support/run.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/retry.hpp>

#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

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
    EXPECT_TRUE(sh::is_lock_error(report.last_error)) << report.last_error.message();
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
