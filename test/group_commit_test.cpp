// SPDX-License-Identifier: BSL-1.0
// Group commit: queued writes share one transaction, each isolated in its own savepoint.
#include "support/run.hpp"
#include "support/temp_dir.hpp"
#include "support/writer_gate.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>

#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <future>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using asio::awaitable;
using sh::test::open_database;
using sh::test::run;
using sh::test::until;
using sh::test::temp_dir;
using sh::test::writer_gate;

namespace {

sh::database_options schema() {
    sh::database_options o;
    o.migrations = {"CREATE TABLE parent(id INTEGER PRIMARY KEY);"
                    "CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT NOT NULL,"
                    "  p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"};
    return o;
}

TEST(GroupCommit, ConcurrentWritesShareTransactions) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("g.db"), schema());
    constexpr int writers = 64, each = 20;
    std::atomic<int> acknowledged{0};
    for (int w = 0; w < writers; ++w)
        asio::co_spawn(
            io,
            [&, w]() -> awaitable<void> {
                for (int i = 0; i < each; ++i) {
                    co_await db.async_execute("INSERT INTO kv(k, v) VALUES(?, 'x')", sh::args(w * each + i));
                    ++acknowledged;
                }
            },
            asio::detached);
    io.run();
    EXPECT_EQ(acknowledged, writers * each);
    auto m = db.metrics();
    EXPECT_GT(m.largest_group, 1u);
    EXPECT_LT(m.groups, static_cast<std::uint64_t>(writers * each));
    EXPECT_EQ(run(io, db.async_query<int>("SELECT count(*) FROM kv")),
              std::vector<int>{writers * each});
}

TEST(GroupCommit, AFailingJobRollsBackOnlyItsOwnSavepoint) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("g.db"), schema());
    writer_gate gate;
    run(io, gate.block(db, io));
    std::vector<sh::error_code> results(4, sh::errc::closed);
    auto write = [&](int slot, std::function<void(sh::connection&)> fn) {
        asio::co_spawn(
            io,
            [&, slot, fn]() -> awaitable<void> {
                auto r = co_await db.async_write(fn, sh::as_result);
                results[static_cast<std::size_t>(slot)] = r ? sh::error_code() : r.error();
            },
            asio::detached);
    };
    write(0, [](sh::connection& c) { c.execute("INSERT INTO kv(k, v) VALUES(1, 'a')").value(); });
    write(1, [](sh::connection& c) {
        c.execute("INSERT INTO kv(k, v) VALUES(2, 'b')").value();
        c.execute("INSERT INTO kv(k, v) VALUES(3, NULL)").value(); // fails: b must vanish too
    });
    write(2, [](sh::connection&) { throw std::runtime_error("boom"); });
    write(3, [](sh::connection& c) { c.execute("INSERT INTO kv(k, v) VALUES(4, 'd')").value(); });
    run(io, [&]() -> awaitable<void> {
        co_await until(io, [&] { return db.metrics().write_queue_depth == 4; });
        gate.open.set_value();
        co_await until(io, [&] { return gate.done && results[3] != sh::errc::closed; });
    }());
    EXPECT_FALSE(results[0]);
    EXPECT_EQ(results[1], sh::condition::not_null_violation);
    EXPECT_EQ(results[2], sh::errc::job_exception);
    EXPECT_FALSE(results[3]);
    EXPECT_EQ(run(io, db.async_query<int>("SELECT k FROM kv ORDER BY k")), (std::vector<int>{1, 4}));
    EXPECT_GE(db.metrics().largest_group, 2u);
    EXPECT_EQ(db.metrics().group_reruns, 0u); // the failed statement undid only itself
    EXPECT_EQ(db.metrics().job_reruns, 0u);
}

TEST(GroupCommit, AFailingFirstJobDoesNotTakeTheOthersWithIt) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("g.db"), schema());
    writer_gate gate;
    run(io, gate.block(db, io));
    std::vector<sh::error_code> results(3, sh::errc::closed);
    const char* sql[] = {"INSERT INTO kv(k, v) VALUES(1, NULL)", "INSERT INTO kv(k, v) VALUES(2, 'b')",
                         "INSERT INTO kv(k, v) VALUES(3, 'c')"};
    for (int i = 0; i < 3; ++i)
        db.async_execute(sql[i], {}, [&, i](sh::error_code ec, sh::execute_result) {
            results[static_cast<std::size_t>(i)] = ec;
        });
    run(io, [&]() -> awaitable<void> {
        co_await until(io, [&] { return db.metrics().write_queue_depth == 3; });
        gate.open.set_value();
        co_await until(io, [&] { return results[2] != sh::errc::closed; });
    }());
    EXPECT_EQ(results[0], sh::condition::not_null_violation);
    EXPECT_FALSE(results[1]);
    EXPECT_FALSE(results[2]);
    EXPECT_EQ(run(io, db.async_query<int>("SELECT k FROM kv ORDER BY k")), (std::vector<int>{2, 3}));
}

TEST(GroupCommit, ADeferredForeignKeyLeftUnresolvedFailsOnlyItsOwnJob) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("g.db"), schema());
    writer_gate gate;
    run(io, gate.block(db, io));
    std::vector<sh::error_code> results(2, sh::errc::closed);
    // Alone, the orphan's transaction would fail at COMMIT: so it fails, and only it.
    const char* sql[] = {"INSERT INTO kv(k, v) VALUES(10, 'fine')",
                         "INSERT INTO kv(k, v, p) VALUES(11, 'orphan', 999)"};
    for (int i = 0; i < 2; ++i)
        asio::co_spawn(
            io,
            [&, i]() -> awaitable<void> {
                auto r = co_await db.async_execute(sql[i], sh::args(), sh::as_result);
                results[static_cast<std::size_t>(i)] = r ? sh::error_code() : r.error();
            },
            asio::detached);
    run(io, [&]() -> awaitable<void> {
        co_await until(io, [&] { return db.metrics().write_queue_depth == 2; });
        gate.open.set_value();
        co_await until(io, [&] { return results[0] != sh::errc::closed && results[1] != sh::errc::closed; });
    }());
    EXPECT_FALSE(results[0]) << results[0].message();
    EXPECT_EQ(results[1], sh::condition::foreign_key_violation);
    EXPECT_EQ(run(io, db.async_query<int>("SELECT k FROM kv")), std::vector<int>{10});
    EXPECT_EQ(db.metrics().commit_failures, 0u);
    // A single statement has no savepoint to undo: the group rolled back and the jobs before
    // the orphan (the first insert, and the gate's job if it shared the group) ran again.
    EXPECT_GE(db.metrics().job_reruns, 1u);
    // The writer is usable afterwards.
    EXPECT_EQ(run(io, db.async_execute("INSERT INTO kv(k, v) VALUES(12, 'after')")).changes, 1);
}

TEST(GroupCommit, GroupSizeIsBounded) {
    temp_dir dir;
    asio::io_context io;
    sh::database_options o = schema();
    o.max_group_size = 8;
    auto db = open_database(io, dir.file("g.db"), o);
    for (int i = 0; i < 200; ++i)
        asio::co_spawn(io, db.async_execute("INSERT INTO kv(k, v) VALUES(?, 'x')", sh::args(i)),
                       asio::detached);
    io.run();
    EXPECT_LE(db.metrics().largest_group, 8u);
    EXPECT_EQ(run(io, db.async_query<int>("SELECT count(*) FROM kv")), std::vector<int>{200});
}

} // namespace
