// SPDX-License-Identifier: BSL-1.0
// Every caller gets its own true answer: a job's function runs once, a job's error is its own,
// and transactions belong to the library (named for the behaviour each test proves).
#include "support/run.hpp"
#include "support/temp_dir.hpp"
#include "support/writer_gate.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using asio::awaitable;
using sh::test::open_database;
using sh::test::run;
using sh::test::temp_dir;
using sh::test::until;
using sh::test::writer_gate;

namespace {

sh::database_options schema() {
    sh::database_options o;
    o.migrations = {"CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT NOT NULL);"
                    "CREATE TABLE boom(x INTEGER);"
                    "CREATE TRIGGER boom_rollback BEFORE INSERT ON boom"
                    "  BEGIN SELECT RAISE(ROLLBACK, 'boom'); END;"};
    return o;
}

// Queues `writes` behind a held writer so that they run as one group; returns their answers.
struct grouped_writes {
    asio::io_context& io;
    sh::database& db;
    writer_gate gate;
    std::vector<std::optional<sh::error_code>> answers;
    std::vector<sh::diagnostics> diags;

    grouped_writes(asio::io_context& i, sh::database& d) : io(i), db(d) {
        run(io, gate.block(db, io));
        answers.reserve(16);
        diags.reserve(16);
    }
    void execute(std::string sql) {
        const auto slot = answers.size();
        answers.emplace_back();
        diags.emplace_back();
        db.async_execute(std::move(sql), {}, diags[slot],
                         [this, slot](sh::error_code ec, auto) { answers[slot] = ec; });
    }
    template <class Fn> void write(Fn fn) {
        const auto slot = answers.size();
        answers.emplace_back();
        diags.emplace_back();
        db.async_write(std::move(fn), diags[slot], [this, slot](sh::error_code ec) { answers[slot] = ec; });
    }
    void run_group() {
        const auto n = answers.size();
        run(io, [&]() -> awaitable<void> {
            co_await until(io, [&] { return db.metrics().write_queue_depth == n; });
            gate.open.set_value();
            co_await until(io, [&] {
                for (const auto& a : answers)
                    if (!a)
                        return false;
                return gate.done.load();
            });
        }());
    }
};

std::vector<int> keys(asio::io_context& io, sh::database& db) {
    return run(io, db.async_query<int>("SELECT k FROM kv ORDER BY k"));
}

class ExactAnswers : public ::testing::Test {
protected:
    temp_dir dir;
    asio::io_context io;
    sh::database db = open_database(io, dir.file("e.db"), schema());
};

TEST_F(ExactAnswers, AWriteJobsFunctionRunsOnceWhenAnotherJobOfItsGroupFails) {
    std::atomic<int> calls{0};
    grouped_writes g(io, db);
    g.write([&calls](sh::connection& c) {
        ++calls;
        c.execute("INSERT INTO kv VALUES (1, 'a')").value();
    });
    g.execute("INSERT INTO kv VALUES (2, NULL)"); // fails: NOT NULL
    g.write([](sh::connection&) -> sh::result<void> { return make_error_code(sh::errc::invalid_key); });
    g.run_group();
    EXPECT_FALSE(*g.answers[0]);
    EXPECT_EQ(*g.answers[1], sh::condition::not_null_violation);
    EXPECT_EQ(*g.answers[2], sh::errc::invalid_key);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(keys(io, db), std::vector<int>{1});
    EXPECT_EQ(db.metrics().job_reruns, 0u);
}

TEST_F(ExactAnswers, ATriggersRaiseRollbackFailsOnlyItsOwnJobAndTheOthersCommit) {
    grouped_writes g(io, db);
    g.execute("INSERT INTO kv VALUES (1, 'a')");
    g.write([](sh::connection& c) { c.execute("INSERT INTO kv VALUES (2, 'b')").value(); });
    g.execute("INSERT INTO boom VALUES (1)"); // RAISE(ROLLBACK): the whole transaction goes
    g.execute("INSERT INTO kv VALUES (3, 'c')");
    g.run_group();
    EXPECT_FALSE(*g.answers[0]) << g.answers[0]->message();
    EXPECT_FALSE(*g.answers[1]) << g.answers[1]->message();
    EXPECT_EQ(*g.answers[2], sh::condition::constraint);
    EXPECT_NE(g.diags[2].message.find("boom"), std::string::npos) << g.diags[2].message;
    EXPECT_FALSE(*g.answers[3]);
    EXPECT_EQ(keys(io, db), (std::vector<int>{1, 2, 3}));
    EXPECT_GE(db.metrics().transactions_lost, 1u);
    EXPECT_GE(db.metrics().job_reruns, 2u); // the jobs before it, counted
}

TEST_F(ExactAnswers, AnOrRollbackConflictIsNotAnInnocentJobsUniqueViolation) {
    run(io, db.async_execute("INSERT INTO kv VALUES (9, 'old')"));
    grouped_writes g(io, db);
    g.execute("INSERT INTO kv VALUES (1, 'a')");
    g.execute("INSERT INTO kv VALUES (2, 'a2')");
    g.execute("INSERT OR ROLLBACK INTO kv VALUES (9, 'dup')");
    g.run_group();
    EXPECT_FALSE(*g.answers[0]);
    EXPECT_FALSE(*g.answers[1]);
    EXPECT_EQ(*g.answers[2], sh::condition::unique_violation);
    EXPECT_EQ(keys(io, db), (std::vector<int>{1, 2, 9}));
}

TEST_F(ExactAnswers, AStatementThatKeptPartOfItsChangesLeavesNothingAndOthersCommit) {
    run(io, db.async_execute("INSERT INTO kv VALUES (9, 'old')"));
    grouped_writes g(io, db);
    g.execute("INSERT INTO kv VALUES (1, 'a')");
    g.execute("INSERT OR FAIL INTO kv VALUES (5, 'kept by OR FAIL'), (9, 'dup')");
    g.execute("INSERT INTO kv VALUES (2, 'b')");
    g.run_group();
    EXPECT_FALSE(*g.answers[0]);
    EXPECT_EQ(*g.answers[1], sh::condition::unique_violation);
    EXPECT_FALSE(*g.answers[2]);
    EXPECT_EQ(keys(io, db), (std::vector<int>{1, 2, 9})); // 5 went with its failed statement
}

TEST_F(ExactAnswers, TransactionControlThroughExecuteIsRefusedAndLeavesReadersFresh) {
    for (const char* sql : {"BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK", "SAVEPOINT s",
                            "RELEASE s", "END"}) {
        sh::diagnostics diag;
        auto r = run(io, db.async_execute(sql, {}, diag, sh::as_result));
        EXPECT_EQ(r.error(), sh::errc::statement_refused) << sql;
        EXPECT_NE(diag.message.find("belongs to the library"), std::string::npos) << diag.message;
    }
    // Every reader still sees what was committed after the refusals.
    for (int i = 0; i < 8; ++i) {
        run(io, db.async_execute("INSERT INTO kv VALUES (?, 'x')", sh::args(i)));
        EXPECT_EQ(run(io, db.async_query<int>("SELECT count(*) FROM kv")), std::vector<int>{i + 1});
    }
}

TEST_F(ExactAnswers, APerConnectionPragmaThroughExecuteIsRefusedWithWhereToSetIt) {
    sh::diagnostics diag;
    auto r = run(io, db.async_execute("PRAGMA foreign_keys=OFF", {}, diag, sh::as_result));
    EXPECT_EQ(r.error(), sh::errc::statement_refused);
    EXPECT_NE(diag.message.find("on_connect"), std::string::npos) << diag.message;
    r = run(io, db.async_execute("ATTACH ':memory:' AS other", {}, diag, sh::as_result));
    EXPECT_EQ(r.error(), sh::errc::statement_refused);
    // Reading a pragma, or one of a table, is fine.
    EXPECT_EQ(run(io, db.async_query<int>("PRAGMA foreign_keys")), std::vector<int>{1});
    EXPECT_FALSE(run(io, db.async_query<std::string>("SELECT name FROM pragma_table_info('kv')")).empty());
}

TEST_F(ExactAnswers, OnConnectSetsEveryConnectionOfTheDatabase) {
    auto o = schema();
    std::atomic<int> connections{0};
    o.on_connect = [&connections](sh::connection& c) -> sh::result<void> {
        ++connections;
        return c.execute_script("PRAGMA recursive_triggers = ON");
    };
    auto db = open_database(io, dir.file("o.db"), o);
    EXPECT_EQ(connections, 1 + 4); // the writer and the four readers
    EXPECT_EQ(run(io, db.async_write([](sh::connection& c) {
                  return c.query_one<int>("PRAGMA recursive_triggers").value().value();
              })),
              1);
    for (int i = 0; i < 8; ++i)
        EXPECT_EQ(run(io, db.async_query<int>("PRAGMA recursive_triggers")), std::vector<int>{1});
    o.on_connect = [](sh::connection&) -> sh::result<void> { return make_error_code(sh::errc::invalid_key); };
    auto failed = run(io, sh::database::async_open(io.get_executor(), dir.file("f.db"), o, sh::as_result));
    EXPECT_EQ(failed.error(), sh::errc::invalid_key);
}

TEST_F(ExactAnswers, AWriteJobThatCommitsItselfIsRefusedAndItsGroupKeepsItsAnswers) {
    grouped_writes g(io, db);
    g.execute("INSERT INTO kv VALUES (1, 'a')");
    g.write([](sh::connection& c) {
        c.execute("INSERT INTO kv VALUES (2, 'b')").value();
        (void)c.execute("COMMIT"); // refused (and ignored by the job): the job still fails
    });
    g.execute("INSERT INTO kv VALUES (3, 'c')");
    g.run_group();
    EXPECT_FALSE(*g.answers[0]);
    EXPECT_EQ(*g.answers[1], sh::errc::statement_refused);
    EXPECT_FALSE(*g.answers[2]);
    EXPECT_EQ(keys(io, db), (std::vector<int>{1, 3}));
}

TEST_F(ExactAnswers, AJobThatWritesOnAfterItsTransactionWasRolledBackCommitsNothing) {
    run(io, db.async_execute("INSERT INTO kv VALUES (9, 'old')"));
    grouped_writes g(io, db);
    g.execute("INSERT INTO kv VALUES (1, 'a')");
    g.write([](sh::connection& c) {
        (void)c.execute("INSERT OR ROLLBACK INTO kv VALUES (9, 'dup')"); // ends the transaction
        (void)c.execute("INSERT INTO kv VALUES (5, 'would autocommit')");
    });
    g.run_group();
    EXPECT_FALSE(*g.answers[0]);
    EXPECT_EQ(*g.answers[1], sh::errc::statement_refused);
    EXPECT_EQ(keys(io, db), (std::vector<int>{1, 9}));
}

TEST_F(ExactAnswers, AWriteJobMayNestSavepointsOfItsOwnButNotTheLibrarys) {
    run(io, db.async_write([](sh::connection& c) {
        c.execute("SAVEPOINT mine").value();
        c.execute("INSERT INTO kv VALUES (1, 'undone')").value();
        c.execute("ROLLBACK TO mine").value();
        c.execute("RELEASE mine").value();
        c.execute("INSERT INTO kv VALUES (2, 'kept')").value();
    }));
    EXPECT_EQ(keys(io, db), std::vector<int>{2});
    auto r = run(io, db.async_write(
                         [](sh::connection& c) { c.execute("RELEASE sqlite_hybrid_job").value(); },
                         sh::as_result));
    EXPECT_EQ(r.error(), sh::errc::statement_refused);
}

} // namespace
