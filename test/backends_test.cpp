// SPDX-License-Identifier: BSL-1.0
// The shared API on both engines: the same calls and the same portable SQL against an SQLite
// file and a PostgreSQL server.
#include "support/postgres.hpp"
#include "support/run.hpp"
#include "support/temp_dir.hpp"
#include "support/writer_gate.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/retry.hpp>
#include <sqlite_hybrid/write_buffer.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <optional>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using asio::awaitable;
using sh::test::run;
using sh::test::temp_dir;

// A row type described for the row reader.
struct kv_item {
    std::int64_t k = 0;
    std::string v;
    std::optional<double> x;
    friend bool operator==(const kv_item&, const kv_item&) = default;
};
template <> struct sqlite_hybrid::row_traits<kv_item> {
    static constexpr auto members = std::make_tuple(&kv_item::k, &kv_item::v, &kv_item::x);
};

namespace {

const std::vector<std::string> schema{
    "CREATE TABLE kv(k BIGINT PRIMARY KEY, v TEXT NOT NULL, x DOUBLE PRECISION, b BYTEA)",
    "CREATE TABLE account(id BIGINT PRIMARY KEY, balance BIGINT NOT NULL CHECK (balance >= 0))"};

using kv_row = std::tuple<std::int64_t, std::string, std::optional<double>, std::optional<sh::blob>>;

class Backends : public ::testing::TestWithParam<sh::backend> {
protected:
    void SetUp() override {
        if (GetParam() == sh::backend::postgresql) {
            SQLITE_HYBRID_NEED_POSTGRES(url);
            schema_.emplace(url);
        }
    }

    std::string location() const {
        return schema_ ? schema_->url() : dir_.file("a.db");
    }

    sh::database_options options(std::vector<std::string> migrations = schema) const {
        sh::database_options o;
        o.migrations = std::move(migrations);
        o.log = sh::null_logger();
        if (schema_)
            o.connection.postgres.session_sql = schema_->session_sql();
        return o;
    }

    sh::database open(sh::database_options o) {
        return sh::test::open_database(io_, location(), std::move(o));
    }
    sh::database open() { return open(options()); }

    temp_dir dir_;
    asio::io_context io_;
    std::optional<sh::test::postgres_schema> schema_;
};

std::string engine_name(const ::testing::TestParamInfo<sh::backend>& info) {
    return info.param == sh::backend::sqlite ? "SQLite" : "PostgreSQL";
}

TEST_P(Backends, ExecutesQueriesAndReadsEveryType) {
    auto db = open();
    const sh::blob bytes{std::byte{0}, std::byte{0xff}, std::byte{'\\'}, std::byte{'x'}};
    auto rows = run(io_, [&]() -> awaitable<std::vector<kv_row>> {
        auto r = co_await db.async_execute("INSERT INTO kv VALUES ($1, $2, $3, $4)",
                                           sh::args(1, "one", 1.5, bytes));
        EXPECT_EQ(r.changes, 1);
        // ? placeholders too, and NULLs
        co_await db.async_execute("INSERT INTO kv VALUES (?, ?, ?, ?)",
                                  sh::args(2, "it's ? here", sh::null, sh::null));
        co_return co_await db.async_query<kv_row>("SELECT k, v, x, b FROM kv ORDER BY k");
    }());
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0], kv_row(1, "one", 1.5, bytes));
    EXPECT_EQ(rows[1], kv_row(2, "it's ? here", std::nullopt, std::nullopt));

    // $n binds by number in both engines, whatever order the SQL uses them in.
    auto swapped = run(io_, db.async_query<std::tuple<std::string, std::string>>(
                                "SELECT $2 || '', $1 || ''", sh::args("a", "b")));
    EXPECT_EQ(swapped, (std::vector<std::tuple<std::string, std::string>>{{"b", "a"}}));
    // Reading a column as the wrong type is an error that names the column.
    sh::diagnostics why;
    auto wrong = run(io_, db.async_query<std::int64_t>("SELECT v FROM kv WHERE k = 1", {}, why,
                                                       sh::as_result));
    EXPECT_EQ(wrong.error(), sh::errc::type_mismatch);
    EXPECT_NE(why.message.find("'v'"), std::string::npos) << why.message;
}

TEST_P(Backends, ConcurrentWritesAreGroupedAndEveryOneCommits) {
    auto db = open();
    constexpr int writes = 300;
    int done = 0;
    for (int i = 0; i < writes; ++i)
        db.async_execute("INSERT INTO kv(k, v) VALUES ($1, $2)", sh::args(i, "v"),
                         [&](sh::error_code ec, sh::execute_result) {
                             EXPECT_FALSE(ec) << ec.message();
                             ++done;
                         });
    run(io_, sh::test::until(io_, [&] { return done == writes; }));
    EXPECT_EQ(run(io_, db.async_query<std::int64_t>("SELECT count(*) FROM kv")),
              std::vector<std::int64_t>{writes});
    const auto m = db.metrics();
    EXPECT_GE(m.writes, static_cast<std::uint64_t>(writes));
    EXPECT_LT(m.groups, static_cast<std::uint64_t>(writes)); // commits were shared
}

TEST_P(Backends, AFailingWriteInAGroupLeavesTheOthersCommitted) {
    auto db = open();
    run(io_, db.async_execute("INSERT INTO kv(k, v) VALUES (0, 'first')"));
    constexpr int writes = 40;
    int ok = 0, failed = 0;
    for (int i = 0; i < writes; ++i) {
        const int key = i == writes / 2 ? 0 : i + 1; // one duplicate key in the middle
        db.async_execute("INSERT INTO kv(k, v) VALUES ($1, 'x')", sh::args(key),
                         [&](sh::error_code ec, sh::execute_result) {
                             if (!ec) {
                                 ++ok;
                                 return;
                             }
                             ++failed;
                             EXPECT_EQ(ec, sh::condition::unique_violation);
                             EXPECT_EQ(ec, sh::condition::constraint);
                         });
    }
    run(io_, sh::test::until(io_, [&] { return ok + failed == writes; }));
    EXPECT_EQ(failed, 1);
    EXPECT_EQ(run(io_, db.async_query<std::int64_t>("SELECT count(*) FROM kv")),
              std::vector<std::int64_t>{writes});
    EXPECT_EQ(run(io_, db.async_query<std::string>("SELECT v FROM kv WHERE k = 0")),
              std::vector<std::string>{"first"});
}

TEST_P(Backends, WriteClosuresAreAtomicAndReadClosuresSeeOneSnapshot) {
    auto db = open();
    run(io_, db.async_execute("INSERT INTO account VALUES (1, 100), (2, 0)"));
    auto transfer = [](std::int64_t amount) {
        return [amount](sh::connection& c) -> sh::result<void> {
            BOOST_OUTCOME_TRY(c.execute("UPDATE account SET balance = balance + $1 WHERE id = 2", amount));
            BOOST_OUTCOME_TRY(c.execute("UPDATE account SET balance = balance - $1 WHERE id = 1", amount));
            return sh::outcome::success();
        };
    };
    run(io_, db.async_write(transfer(30)));
    // The second transfer overdraws: its first UPDATE is undone with it.
    auto refused = run(io_, db.async_write(transfer(500), sh::as_result));
    EXPECT_EQ(refused.error(), sh::condition::check_violation);
    auto total = run(io_, db.async_read([](sh::connection& c) -> sh::result<std::int64_t> {
        BOOST_OUTCOME_TRY(auto a, c.query_one<std::int64_t>("SELECT balance FROM account WHERE id = 1"));
        BOOST_OUTCOME_TRY(auto b, c.query_one<std::int64_t>("SELECT balance FROM account WHERE id = 2"));
        return a.value_or(0) + b.value_or(0);
    }));
    EXPECT_EQ(total, 100);
    EXPECT_EQ(run(io_, db.async_query<std::int64_t>("SELECT balance FROM account ORDER BY id")),
              (std::vector<std::int64_t>{70, 30}));
}

TEST_P(Backends, ErrorsMapToTheSameConditionsWithTheServersExplanation) {
    auto db = open();
    sh::diagnostics why;
    auto null_value = run(io_, db.async_execute("INSERT INTO kv(k, v) VALUES (1, NULL)", {}, why,
                                                sh::as_result));
    EXPECT_EQ(null_value.error(), sh::condition::not_null_violation);
    EXPECT_FALSE(why.message.empty());
    auto syntax = run(io_, db.async_execute("SELEC 1", {}, why, sh::as_result));
    EXPECT_EQ(syntax.error(), sh::condition::syntax_error);
    EXPECT_EQ(why.sql, "SELEC 1");
    auto table = run(io_, db.async_execute("SELECT * FROM no_such_table", {}, why, sh::as_result));
    EXPECT_TRUE(table.has_error());
    EXPECT_NE(why.message.find("no_such_table"), std::string::npos) << why.message;
    auto count = run(io_, db.async_execute("SELECT $1", sh::args(1, 2), why, sh::as_result));
    EXPECT_EQ(count.error(), sh::errc::parameter_count);
    EXPECT_FALSE(sh::is_lock_error(null_value.error()));
    const auto m = db.metrics();
    EXPECT_EQ(m.errors, 4u);
    if (GetParam() == sh::backend::postgresql) // counted by SQLSTATE
        EXPECT_EQ(m.errors_by_sqlstate.at("23502"), 1u);
    else
        EXPECT_EQ(m.errors_by_code.at(SQLITE_CONSTRAINT_NOTNULL), 1u);
}

TEST_P(Backends, MigrationsRunOnceAndReopeningKeepsTheData) {
    {
        auto db = open(options({schema[0]}));
        run(io_, db.async_execute("INSERT INTO kv(k, v) VALUES (1, 'kept')"));
        run(io_, db.async_close());
    }
    auto db = open(options(schema)); // one step more: only that one runs
    EXPECT_EQ(run(io_, db.async_query<std::string>("SELECT v FROM kv")),
              std::vector<std::string>{"kept"});
    run(io_, db.async_execute("INSERT INTO account VALUES (1, 5)"));
    auto refused = sh::test::run(io_, sh::database::async_open(
                                          io_.get_executor(), location(),
                                          options({schema[0], schema[1], "CREATE TABLE broken("}),
                                          sh::as_result));
    EXPECT_EQ(refused.error(), sh::errc::migration_failed);
}

TEST_P(Backends, ReadsGoToReadersAndWritesToTheWriter) {
    auto db = open();
    run(io_, db.async_execute("INSERT INTO kv(k, v) VALUES (1, 'a')"));
    const auto before = db.metrics();
    run(io_, db.async_execute("SELECT v FROM kv"));
    run(io_, db.async_query<std::string>("SELECT v FROM kv"));
    const auto after = db.metrics();
    EXPECT_EQ(after.reads - before.reads, 2u);
    EXPECT_EQ(after.writes, before.writes);
}

TEST_P(Backends, WithRetryGivesOtherErrorsBackAtOnce) {
    auto db = open();
    run(io_, db.async_execute("INSERT INTO kv(k, v) VALUES (1, 'a')"));
    sh::retry_report report;
    auto r = run(io_, sh::with_retry(
                          [&](auto token) {
                              return db.async_execute("INSERT INTO kv(k, v) VALUES (1, 'b')", {},
                                                      std::move(token));
                          },
                          sh::retry_policy{}, &report, sh::as_result));
    EXPECT_EQ(r.error(), sh::condition::unique_violation);
    EXPECT_EQ(report.attempts, 1);
}

TEST_P(Backends, TheWriteBufferCoalescesAndFlushesWithMultiRowUpserts) {
    auto db = open();
    sh::write_buffer_options bo;
    bo.flush_interval = std::chrono::hours(1);
    bo.log = sh::null_logger();
    sh::write_buffer buffer(db, bo);
    run(io_, buffer.async_start());
    for (int i = 0; i < 100; ++i) // 100 rows, several runs of 32-row INSERTs
        ASSERT_FALSE(buffer.buffer_upsert("kv", {{"k", i}, {"v", "first"}}, {"k"}));
    ASSERT_FALSE(buffer.buffer_upsert("KV", {{"K", 5}, {"v", "second"}, {"x", 2.5}}, {"k"}));
    ASSERT_FALSE(buffer.buffer_update("kv", {{"k", 6}}, {{"v", "updated"}}));
    ASSERT_FALSE(buffer.buffer_delete("kv", {{"k", 7}}));
    EXPECT_EQ(buffer.buffer_upsert("no_such_table", {{"k", 1}}, {"k"}), sh::errc::invalid_identifier);
    EXPECT_EQ(run(io_, buffer.async_force_flush()), 100u);
    EXPECT_EQ(run(io_, db.async_query<std::int64_t>("SELECT count(*) FROM kv")),
              std::vector<std::int64_t>{99});
    using vx = std::tuple<std::string, std::optional<double>>;
    EXPECT_EQ(run(io_, db.async_query<vx>("SELECT v, x FROM kv WHERE k IN (5, 6) ORDER BY k")),
              (std::vector<vx>{{"second", 2.5}, {"updated", std::nullopt}}));
    // Rows the database refuses become dead letters; the others are written.
    ASSERT_FALSE(buffer.buffer_upsert("account", {{"id", 1}, {"balance", -1}}, {"id"}));
    ASSERT_FALSE(buffer.buffer_upsert("account", {{"id", 2}, {"balance", 1}}, {"id"}));
    EXPECT_EQ(run(io_, buffer.async_force_flush(sh::as_result)).error(),
              sh::errc::rows_dead_lettered);
    EXPECT_EQ(run(io_, db.async_query<std::int64_t>("SELECT id FROM account")),
              std::vector<std::int64_t>{2});
    const auto report = run(io_, buffer.async_stop());
    EXPECT_TRUE(report.unwritten.empty());
    ASSERT_EQ(buffer.dead_letters().size(), 1u);
    EXPECT_EQ(buffer.dead_letters()[0].error, sh::condition::check_violation);
}

TEST_P(Backends, TheWriteBufferFlushesInTheOrderOfForeignKeysAndRefusesCycles) {
    auto o = options({"CREATE TABLE parent(id BIGINT PRIMARY KEY, name TEXT DEFAULT 'none')",
                      "CREATE TABLE child(id BIGINT PRIMARY KEY,"
                      " parent BIGINT NOT NULL REFERENCES parent(id))",
                      "CREATE TABLE node(id BIGINT PRIMARY KEY, up BIGINT REFERENCES node(id))",
                      "INSERT INTO parent VALUES (1, 'old')",
                      "INSERT INTO child VALUES (1, 1)"});
    auto db = open(o);
    sh::write_buffer_options bo;
    bo.flush_interval = std::chrono::hours(1);
    bo.log = sh::null_logger();
    bo.priorities = {{"child", 10}}; // foreign keys come first
    sh::write_buffer buffer(db, bo);
    run(io_, buffer.async_start());
    // Each valid when made: child 1 moves to a new parent 2, parent 1 goes and comes back.
    ASSERT_FALSE(buffer.buffer_upsert("child", {{"id", 2}, {"parent", 2}}, {"id"}));
    ASSERT_FALSE(buffer.buffer_upsert("parent", {{"id", 2}}, {"id"}));
    ASSERT_FALSE(buffer.buffer_update("child", {{"id", 1}}, {{"parent", 2}}));
    ASSERT_FALSE(buffer.buffer_delete("parent", {{"id", 1}}));
    ASSERT_FALSE(buffer.buffer_upsert("parent", {{"id", 1}}, {"id"}));
    ASSERT_FALSE(buffer.buffer_delete("child", {{"id", 2}}));
    EXPECT_EQ(buffer.buffer_upsert("node", {{"id", 1}}, {"id"}), sh::errc::foreign_key_cycle);
    EXPECT_EQ(run(io_, buffer.async_force_flush()), 4u);
    EXPECT_TRUE(buffer.dead_letters().empty());
    using pair = std::tuple<std::int64_t, std::string>;
    EXPECT_EQ(run(io_, db.async_query<pair>("SELECT id, name FROM parent ORDER BY id")),
              (std::vector<pair>{{1, "none"}, {2, "none"}}));
    EXPECT_EQ(run(io_, db.async_query<std::int64_t>("SELECT parent FROM child ORDER BY id")),
              std::vector<std::int64_t>{2});
    run(io_, buffer.async_stop());
}

TEST_P(Backends, TransactionControlIsRefusedBeforeItRunsAndNoAcknowledgedWriteIsLost) {
    auto db = open();
    std::vector<std::string> refused{"BEGIN", "COMMIT", " /* mine */ commit", "ROLLBACK", "END",
                                     "SAVEPOINT x", "RELEASE x", "rollback to x"};
    if (GetParam() == sh::backend::postgresql)
        for (const char* sql : {"ABORT", "START TRANSACTION", "PREPARE TRANSACTION 'x'",
                                "ROLLBACK AND CHAIN", "END WORK", "SELECT 1; COMMIT"})
            refused.emplace_back(sql);
    for (const auto& sql : refused) {
        sh::diagnostics d;
        auto r = run(io_, db.async_execute(sql, {}, d, sh::as_result));
        EXPECT_EQ(r.error(), sh::errc::statement_refused) << sql;
        EXPECT_NE(d.message.find("belongs to the library"), std::string::npos) << d.message;
    }
    // In one group: A, a ROLLBACK, B, then A's key again. A and B are acknowledged and stay.
    sh::test::writer_gate gate;
    run(io_, gate.block(db, io_));
    const std::vector<std::pair<std::string, sh::params>> jobs{
        {"INSERT INTO kv(k, v) VALUES (1, 'A')", {}},
        {"ROLLBACK", {}},
        {"INSERT INTO kv(k, v) VALUES (2, 'B')", {}},
        {"INSERT INTO kv(k, v) VALUES (1, 'C')", {}}};
    std::vector<std::optional<sh::error_code>> answers(jobs.size());
    for (std::size_t i = 0; i < jobs.size(); ++i)
        db.async_execute(jobs[i].first, jobs[i].second,
                         [&answers, i](sh::error_code ec, auto&&...) { answers[i] = ec; });
    gate.open.set_value();
    run(io_, sh::test::until(io_, [&] {
            return std::all_of(answers.begin(), answers.end(), [](auto& a) { return a.has_value(); });
        }));
    EXPECT_FALSE(*answers[0]) << answers[0]->message();
    EXPECT_EQ(*answers[1], sh::errc::statement_refused);
    EXPECT_FALSE(*answers[2]);
    EXPECT_EQ(*answers[3], sh::condition::unique_violation);
    using kv = std::tuple<std::int64_t, std::string>;
    EXPECT_EQ(run(io_, db.async_query<kv>("SELECT k, v FROM kv ORDER BY k")),
              (std::vector<kv>{{1, "A"}, {2, "B"}}));
    // A write job of several statements may nest savepoints of its own, never the library's.
    run(io_, db.async_write([](sh::connection& c) {
        c.execute("SAVEPOINT mine").value();
        c.execute("INSERT INTO kv(k, v) VALUES (10, 'undone')").value();
        c.execute("ROLLBACK TO SAVEPOINT mine").value();
        c.execute("RELEASE mine").value();
        c.execute("INSERT INTO kv(k, v) VALUES (11, 'kept')").value();
    }));
    for (const char* sql : {"SAVEPOINT sqlite_hybrid_job", "COMMIT"}) {
        auto r = run(io_, db.async_write([sql](sh::connection& c) { c.execute(sql).value(); },
                                         sh::as_result));
        EXPECT_EQ(r.error(), sh::errc::statement_refused) << sql;
    }
    EXPECT_EQ(run(io_, db.async_query<std::int64_t>("SELECT k FROM kv WHERE k >= 10")),
              std::vector<std::int64_t>{11});
}

// A statement seen for the first time is prepared on a reader to learn whether it writes; a
// write submitted after it still runs after it, even while every reader is busy.
TEST_P(Backends, WritesRunInTheOrderTheyWereSubmittedWhileAStatementIsBeingRouted) {
    auto o = options();
    o.readers = 1;
    auto db = open(o);
    std::promise<void> release_reader;
    std::shared_future<void> released = release_reader.get_future().share();
    std::atomic<bool> reader_busy{false};
    std::optional<sh::error_code> read_done, a_done, b_done;
    db.async_read(
        [&](sh::connection&) {
            reader_busy = true;
            released.wait_for(std::chrono::seconds(30));
        },
        [&](sh::error_code ec) { read_done = ec; });
    run(io_, sh::test::until(io_, [&] { return reader_busy.load(); }));
    db.async_execute("INSERT INTO kv(k, v) VALUES (1, 'A')", {},
                     [&](sh::error_code ec, sh::execute_result) { a_done = ec; });
    db.async_write([](sh::connection& c) { c.execute("INSERT INTO kv(k, v) VALUES (1, 'B')").value(); },
                   [&](sh::error_code ec) { b_done = ec; });
    // A write waiting for its turn is answered as soon as it is cancelled, and never runs.
    asio::cancellation_signal cancel;
    std::optional<sh::error_code> c_done;
    db.async_write([](sh::connection& c) { c.execute("INSERT INTO kv(k, v) VALUES (2, 'C')").value(); },
                   asio::bind_cancellation_slot(cancel.slot(), [&](sh::error_code ec) { c_done = ec; }));
    cancel.emit(asio::cancellation_type::terminal);
    EXPECT_FALSE(c_done.has_value()) << "answered inside the cancellation";
    run(io_, sh::test::until(io_, [&] { return c_done.has_value(); }));
    EXPECT_EQ(*c_done, asio::error::operation_aborted);
    // So is a statement waiting for a reader to route it (its turn is skipped: E, submitted after
    // it, still runs) and a read waiting for a reader.
    asio::cancellation_signal cancel_routed, cancel_read;
    std::optional<sh::error_code> r_done, e_done, q_done;
    db.async_execute("INSERT INTO kv(k, v) VALUES (3, 'R')", {},
                     asio::bind_cancellation_slot(cancel_routed.slot(),
                                                  [&](sh::error_code ec, sh::execute_result) { r_done = ec; }));
    db.async_write([](sh::connection& c) { c.execute("INSERT INTO kv(k, v) VALUES (4, 'E')").value(); },
                   [&](sh::error_code ec) { e_done = ec; });
    db.async_query<std::int64_t>("SELECT k FROM kv", {},
                                 asio::bind_cancellation_slot(cancel_read.slot(),
                                                              [&](sh::error_code ec, auto) { q_done = ec; }));
    cancel_routed.emit(asio::cancellation_type::terminal);
    cancel_read.emit(asio::cancellation_type::terminal);
    run(io_, sh::test::until(io_, [&] { return r_done && q_done; }));
    EXPECT_EQ(*r_done, asio::error::operation_aborted);
    EXPECT_EQ(*q_done, asio::error::operation_aborted);
    EXPECT_FALSE(a_done.has_value() || b_done.has_value() || e_done.has_value());
    release_reader.set_value();
    run(io_, sh::test::until(io_, [&] { return read_done && a_done && b_done && e_done; }));
    EXPECT_FALSE(*a_done) << a_done->message();
    EXPECT_EQ(*b_done, sh::condition::unique_violation) << b_done->message();
    EXPECT_FALSE(*e_done) << e_done->message();
    using kv = std::tuple<std::int64_t, std::string>;
    EXPECT_EQ(run(io_, db.async_query<kv>("SELECT k, v FROM kv ORDER BY k")),
              (std::vector<kv>{{1, "A"}, {4, "E"}}));
}

TEST_P(Backends, TwoStatementsInOneAreRefusedAndRunNothing) {
    auto db = open();
    sh::diagnostics d;
    auto r = run(io_, db.async_execute("INSERT INTO kv(k, v) VALUES (1, 'a'); "
                                       "INSERT INTO kv(k, v) VALUES (2, 'b')",
                                       {}, d, sh::as_result));
    EXPECT_EQ(r.error(), sh::errc::multiple_statements);
    EXPECT_NE(d.message.find("execute_script"), std::string::npos) << d.message;
    EXPECT_EQ(run(io_, db.async_query<std::int64_t>("SELECT count(*) FROM kv")),
              std::vector<std::int64_t>{0});
    // A semicolon and a comment after the statement are not a second one.
    EXPECT_EQ(run(io_, db.async_query<std::int64_t>("SELECT count(*) FROM kv; -- done\n")),
              std::vector<std::int64_t>{0});
}

TEST_P(Backends, NumberedAndBarePlaceholdersCountAsSQLiteCountsThem) {
    auto db = open();
    using three = std::tuple<std::int64_t, std::int64_t, std::int64_t>;
    // ?2 names the second value; a bare ? after it takes the third.
    EXPECT_EQ(run(io_, db.async_query<three>(
                           "SELECT CAST(?2 AS BIGINT), CAST(? AS BIGINT), CAST(?1 AS BIGINT)",
                           sh::args(10, 20, 30))),
              (std::vector<three>{{20, 30, 10}}));
    // Text without a statement is a misuse on both engines.
    sh::diagnostics why;
    auto empty = run(io_, db.async_execute("-- nothing here", {}, why, sh::as_result));
    EXPECT_EQ(empty.error(), sh::condition::misuse);
    EXPECT_FALSE(why.message.empty());
}

TEST_P(Backends, AJobThatIgnoresAFailedStatementDoesNotCommitHalfItsWork) {
    auto o = options();
    o.connection.statement_cache_size = 2; // eviction happens, also around failed transactions
    auto db = open(o);
    int done = 0;
    sh::error_code ignoring;
    // Runs an INSERT that works, one that fails (and ignores that), then another INSERT.
    auto sloppy = [](sh::connection& c) {
        (void)c.execute("INSERT INTO kv(k, v) VALUES (100, 'a')");
        (void)c.execute("INSERT INTO kv(k, v) VALUES (100, 'duplicate')");
        (void)c.execute("INSERT INTO kv(k, v) VALUES (101, 'b')");
    };
    db.async_write(sloppy, [&](sh::error_code ec) {
        ignoring = ec;
        ++done;
    });
    for (int i = 0; i < 10; ++i) // others in the same group, each with its own SQL text
        db.async_execute("INSERT INTO kv(k, v) VALUES ($1, 'x" + std::to_string(i) + "')",
                         sh::args(i), [&](sh::error_code ec, sh::execute_result) {
                             EXPECT_FALSE(ec) << ec.message();
                             ++done;
                         });
    run(io_, sh::test::until(io_, [&] { return done == 11; }));
    if (GetParam() == sh::backend::postgresql) {
        // The failed statement aborted the transaction: the job fails, none of its rows stay.
        EXPECT_EQ(sh::postgres_sqlstate(ignoring), "25P02") << ignoring.message();
        EXPECT_EQ(run(io_, db.async_query<std::int64_t>("SELECT count(*) FROM kv WHERE k >= 100")),
                  std::vector<std::int64_t>{0});
    } else {
        // SQLite undoes only the failed statement; the job's other rows commit.
        EXPECT_FALSE(ignoring);
        EXPECT_EQ(run(io_, db.async_query<std::int64_t>("SELECT count(*) FROM kv WHERE k >= 100")),
                  std::vector<std::int64_t>{2});
    }
    EXPECT_EQ(run(io_, db.async_query<std::int64_t>("SELECT count(*) FROM kv WHERE k < 100")),
              std::vector<std::int64_t>{10});
    // The connection is not wedged: more work goes through.
    for (int i = 0; i < 5; ++i)
        run(io_, db.async_execute("UPDATE kv SET v = 'y' WHERE k = " + std::to_string(i)));
}

TEST_P(Backends, AReadJobSeesOneSnapshotWhileWritesCommit) {
    auto db = open();
    run(io_, db.async_execute("INSERT INTO kv(k, v) VALUES (1, 'a')"));
    std::promise<void> counted_once, written;
    auto write_done = written.get_future().share();
    std::atomic<bool> first_count{false};
    std::optional<std::pair<std::int64_t, std::int64_t>> counts;
    db.async_read(
        [&, write_done](sh::connection& c) -> sh::result<std::pair<std::int64_t, std::int64_t>> {
            BOOST_OUTCOME_TRY(auto before, c.query_one<std::int64_t>("SELECT count(*) FROM kv"));
            first_count = true;
            if (write_done.wait_for(std::chrono::seconds(20)) != std::future_status::ready)
                return sh::errc::closed;
            BOOST_OUTCOME_TRY(auto after, c.query_one<std::int64_t>("SELECT count(*) FROM kv"));
            return std::pair{before.value_or(-1), after.value_or(-1)};
        },
        [&](sh::error_code ec, std::pair<std::int64_t, std::int64_t> r) {
            EXPECT_FALSE(ec) << ec.message();
            counts = r;
        });
    run(io_, sh::test::until(io_, [&] { return first_count.load(); }));
    run(io_, db.async_execute("INSERT INTO kv(k, v) VALUES (2, 'b')")); // committed meanwhile
    written.set_value();
    run(io_, sh::test::until(io_, [&] { return counts.has_value(); }));
    EXPECT_EQ(counts->first, 1);
    EXPECT_EQ(counts->second, 1); // the snapshot the job began with
    EXPECT_EQ(run(io_, db.async_query<std::int64_t>("SELECT count(*) FROM kv")),
              std::vector<std::int64_t>{2});
}

TEST_P(Backends, MaintenanceRunsOutsideTransactionsAndStructsReadAsRows) {
    auto db = open();
    auto outside = run(io_, db.async_maintenance([](sh::connection& c) -> sh::result<bool> {
        const bool in_transaction = c.in_transaction();
        BOOST_OUTCOME_TRY(c.execute_script("CREATE INDEX kv_by_v ON kv(v); CREATE INDEX kv_by_x ON kv(x)"));
        return in_transaction;
    }));
    EXPECT_FALSE(outside);
    run(io_, db.async_execute("INSERT INTO kv(k, v, x) VALUES (1, 'one', 0.5), (2, 'two', NULL)"));
    EXPECT_EQ(run(io_, db.async_query<kv_item>("SELECT k, v, x FROM kv ORDER BY k")),
              (std::vector<kv_item>{{1, "one", 0.5}, {2, "two", std::nullopt}}));
    auto one = run(io_, db.async_read([](sh::connection& c) {
        return c.query_one<kv_item>("SELECT k, v, x FROM kv WHERE v = $1", "two");
    }));
    ASSERT_TRUE(one.has_value());
    EXPECT_EQ(one->k, 2);
    auto none = run(io_, db.async_read([](sh::connection& c) {
        return c.query_one<kv_item>("SELECT k, v, x FROM kv WHERE v = $1", "three");
    }));
    EXPECT_FALSE(none.has_value());
}

TEST_P(Backends, AClosedDatabaseRefusesWork) {
    auto db = open();
    run(io_, db.async_close());
    auto r = run(io_, db.async_execute("SELECT 1", {}, sh::as_result));
    EXPECT_EQ(r.error(), sh::errc::closed);
}

INSTANTIATE_TEST_SUITE_P(Engines, Backends,
                         ::testing::Values(sh::backend::sqlite, sh::backend::postgresql),
                         engine_name);

} // namespace
