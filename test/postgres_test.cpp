// SPDX-License-Identifier: BSL-1.0
// What only PostgreSQL has: a server that drops connections, serialization failures, wrong
// passwords and unreachable hosts, SQL that reads but writes, and the URL forms.
#include "support/postgres.hpp"
#include "support/postgres_cluster.hpp"
#include "support/run.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/log_database.hpp>
#include <sqlite_hybrid/retry.hpp>
#include <sqlite_hybrid/write_buffer.hpp>

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>

#include <filesystem>
#include <functional>
#include <set>
#include <latch>
#include <thread>
#include <mutex>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using asio::awaitable;
using sh::test::run;
using namespace std::chrono_literals;

namespace {

// Starts a query, lets it reach the server (300 ms), then cancels it from the caller's thread.
struct cancelled_query {
    std::chrono::steady_clock::duration emit_took;      // inside cancellation_signal::emit()
    std::chrono::steady_clock::duration answered_after; // from the cancellation to the answer
    sh::error_code ec;
};
template <class Row>
cancelled_query cancel_running_query(asio::io_context& io, sh::database& db, std::string sql) {
    asio::cancellation_signal cancel;
    std::optional<sh::error_code> outcome;
    db.async_query<Row>(std::move(sql), {},
                        asio::bind_cancellation_slot(cancel.slot(), [&](sh::error_code ec, auto) {
                            outcome = ec;
                        }));
    run(io, [&]() -> awaitable<void> {
        asio::steady_timer wait(io, 300ms);
        co_await wait.async_wait(asio::use_awaitable);
    }());
    const auto started = std::chrono::steady_clock::now();
    cancel.emit(asio::cancellation_type::terminal);
    const auto emitted = std::chrono::steady_clock::now();
    run(io, sh::test::until(io, [&] { return outcome.has_value(); }));
    return {emitted - started, std::chrono::steady_clock::now() - started, *outcome};
}

struct postgres_database {
    explicit postgres_database(const std::string& url, std::size_t readers = 2)
        : schema(url) {
        o.readers = readers;
        o.log = sh::null_logger();
        o.connection.postgres.session_sql = schema.session_sql();
        o.migrations = {"CREATE TABLE counter(id BIGINT PRIMARY KEY, n BIGINT NOT NULL)"};
    }
    sh::database open() { return sh::test::open_database(io, schema.url(), o); }

    sh::test::postgres_schema schema;
    sh::database_options o;
    asio::io_context io;
};

TEST(DatabaseUrl, NamesTellTheEnginesApart) {
    using sh::backend;
    EXPECT_EQ(sh::parse_database_url("app.db").engine, backend::sqlite);
    EXPECT_EQ(sh::parse_database_url("sqlite:///var/lib/app.db").target, "/var/lib/app.db");
    EXPECT_EQ(sh::parse_database_url("sqlite:app.db").target, "app.db");
    EXPECT_EQ(sh::parse_database_url("file:app.db?mode=ro").target, "file:app.db?mode=ro");
    const auto uri = sh::parse_database_url("postgresql://u:p@h:5432/d?sslmode=disable");
    EXPECT_EQ(uri.engine, backend::postgresql);
    EXPECT_EQ(uri.target, "postgresql://u:p@h:5432/d?sslmode=disable");
    EXPECT_EQ(sh::parse_database_url("postgres://h/d").engine, backend::postgresql);
    EXPECT_EQ(sh::parse_database_url("postgresql:host=/run/postgresql dbname=d").target,
              "host=/run/postgresql dbname=d");
    EXPECT_EQ(sh::redact_database_url("postgresql://u:secret@h/d"), "postgresql://u:***@h/d");
    EXPECT_EQ(sh::redact_database_url("postgresql:host=h password=secret dbname=d"),
              "postgresql:host=h password=*** dbname=d");
    EXPECT_EQ(sh::redact_database_url("postgresql://u@h/d?password=secret&x=1"),
              "postgresql://u@h/d?password=***&x=1");
    EXPECT_EQ(sh::redact_database_url("postgresql:host=h password = 'a b\\' c' dbname=d"),
              "postgresql:host=h password = *** dbname=d");
    EXPECT_EQ(sh::redact_database_url("a:b@c.db"), "a:b@c.db"); // a file name stays
    // No form leaves any of the password: unencoded '@', '/' or '?' in it, escapes, a
    // key=value value with '&', query keys in other cases or %-encoded, sslpassword.
    const std::pair<const char*, const char*> forms[] = {
        {"postgresql://u:p@ss@h/d", "postgresql://u:***@h/d"},
        {"postgresql://u:pa/ss@h/d", "postgresql://u:***@h/d"},
        {"postgresql://u:pa?ss@h/d", "postgresql://u:***@h/d"},
        {"postgresql://u:Sekr3t%zz@h/d", "postgresql://u:***@h/d"},
        {"postgresql:host=h password=ab&cd dbname=d", "postgresql:host=h password=*** dbname=d"},
        {"postgresql:host=h PASSWORD=abc", "postgresql:host=h PASSWORD=***"},
        {"postgresql://h/d?PassWord=abc&x=1", "postgresql://h/d?PassWord=***&x=1"},
        {"postgresql://h/d?pass%77ord=abc", "postgresql://h/d?pass%77ord=***"},
        {"postgresql://h/d?sslpassword=abc", "postgresql://h/d?sslpassword=***"},
        {"postgresql://u:a@h/d?password=b", "postgresql://u:***@h/d?password=***"},
    };
    for (const auto& [url, redacted] : forms)
        EXPECT_EQ(sh::redact_database_url(url), redacted) << url;

    // connection::open reads the same names: sqlite:///abs/path is the file /abs/path.
    sh::test::temp_dir dir;
    auto c = sh::connection::open("sqlite://" + dir.file("u.db"), sh::open_mode::read_write_create, {});
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(c.value().engine(), sh::backend::sqlite);
    EXPECT_TRUE(std::filesystem::exists(dir.file("u.db")));
}

TEST(Postgres, ADroppedConnectionIsReportedAndThePoolRecovers) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url, 1);
    auto db = t.open();
    EXPECT_EQ(db.path().find("sqlh:sqlh"), std::string::npos); // the password is not shown
    const auto reader = run(t.io, db.async_query<std::int64_t>("SELECT pg_backend_pid()"));
    ASSERT_EQ(reader.size(), 1u);
    std::optional<sh::result<std::vector<int>>> slow;
    sh::diagnostics why;
    db.async_query<int>("SELECT 1 FROM pg_sleep(20)", {}, why,
                        [&](sh::error_code ec, std::vector<int> rows) {
                            if (ec)
                                slow.emplace(ec);
                            else
                                slow.emplace(std::move(rows));
                        });
    run(t.io, [&]() -> awaitable<void> {
        asio::steady_timer wait(t.io, 300ms);
        co_await wait.async_wait(asio::use_awaitable);
    }());
    const auto started = std::chrono::steady_clock::now();
    sh::test::postgres_admin(url, "SELECT pg_terminate_backend(" + std::to_string(reader[0]) + ")");
    run(t.io, sh::test::until(t.io, [&] { return slow.has_value(); }));
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
    ASSERT_TRUE(slow->has_error());
    EXPECT_EQ(slow->error(), sh::condition::connection_lost) << slow->error().message();
    EXPECT_FALSE(why.message.empty());
    // The reader connects again for the next job.
    const auto again = run(t.io, db.async_query<std::int64_t>("SELECT pg_backend_pid()"));
    ASSERT_EQ(again.size(), 1u);
    EXPECT_NE(again[0], reader[0]);
    // And the writer after the same.
    const auto writer = run(t.io, db.async_write([](sh::connection& c) {
        return c.query_one<std::int64_t>("SELECT pg_backend_pid()");
    }));
    sh::test::postgres_admin(url, "SELECT pg_terminate_backend(" + std::to_string(writer.value()) + ")");
    auto lost = run(t.io, db.async_execute("INSERT INTO counter VALUES (1, 1)", {}, sh::as_result));
    if (lost) // the write may already find the connection gone and reconnect: both are fine
        SUCCEED();
    else
        EXPECT_EQ(lost.error(), sh::condition::connection_lost);
    run(t.io, db.async_execute("INSERT INTO counter VALUES (2, 1)"));
    EXPECT_EQ(run(t.io, db.async_query<std::int64_t>("SELECT n FROM counter WHERE id = 2")),
              std::vector<std::int64_t>{1});
}

TEST(Postgres, AConnectionDroppedWhileIdleIsFoundBeforeTheNextJob) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url, 1);
    t.o.connection.postgres.health_check_after = 50ms;
    auto db = t.open();
    const auto reader = run(t.io, db.async_query<std::int64_t>("SELECT pg_backend_pid()"));
    ASSERT_EQ(reader.size(), 1u);
    sh::test::postgres_admin(url, "SELECT pg_terminate_backend(" + std::to_string(reader[0]) + ")");
    std::this_thread::sleep_for(100ms); // idle past health_check_after
    // No error for the caller: the probe finds the connection gone, and it connects again.
    const auto again = run(t.io, db.async_query<std::int64_t>("SELECT pg_backend_pid()"));
    ASSERT_EQ(again.size(), 1u);
    EXPECT_NE(again[0], reader[0]);
}

TEST(Postgres, SerializationFailuresAreRetriedByWithRetry) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    // Two handles, as two processes would have, both SERIALIZABLE.
    postgres_database t(url);
    t.o.connection.postgres.session_sql += "; SET default_transaction_isolation = 'serializable'";
    auto first = t.open();
    auto second = sh::test::open_database(t.io, url, t.o);
    run(t.io, first.async_execute("INSERT INTO counter VALUES (1, 0)"));
    // Each increment reads, waits until the other has read too, then writes: one of the two
    // transactions cannot be serialized, fails with 40001, and runs again.
    std::latch both_read(2);
    std::atomic<int> first_runs{0};
    std::mutex seen_mutex;
    std::vector<sh::error_code> seen; // what the UPDATEs failed with
    auto increment = [&](sh::connection& c) -> sh::result<void> {
        BOOST_OUTCOME_TRY(auto n, c.query_one<std::int64_t>("SELECT n FROM counter WHERE id = 1"));
        if (first_runs.fetch_add(1) < 2) // the rerun (on any thread of the pool) does not wait
            both_read.arrive_and_wait();
        auto updated = c.execute("UPDATE counter SET n = $1 WHERE id = 1", n.value() + 1);
        if (!updated) {
            std::lock_guard lock(seen_mutex);
            seen.push_back(updated.error());
            return updated.error();
        }
        return sh::outcome::success();
    };
    sh::retry_policy policy;
    policy.base_delay = 5ms;
    sh::retry_report reports[2];
    int finished = 0;
    sh::error_code errors[2];
    sh::database* dbs[2] = {&first, &second};
    for (int i = 0; i < 2; ++i)
        sh::with_retry(
            [&, i](auto token) { return dbs[i]->async_write(increment, std::move(token)); },
            policy, &reports[i], asio::bind_executor(t.io, [&, i](sh::error_code ec) {
                errors[i] = ec;
                ++finished;
            }));
    run(t.io, sh::test::until(t.io, [&] { return finished == 2; }));
    EXPECT_FALSE(errors[0]) << errors[0].message();
    EXPECT_FALSE(errors[1]) << errors[1].message();
    EXPECT_EQ(reports[0].attempts + reports[1].attempts, 3); // exactly one retry
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0], sh::condition::lock_error);
    EXPECT_EQ(sh::postgres_sqlstate(seen[0]), "40001");
    EXPECT_EQ(run(t.io, first.async_query<std::int64_t>("SELECT n FROM counter")),
              std::vector<std::int64_t>{2});
}

TEST(Postgres, ARowLockHeldPastTheDeadlineEndsInDatabaseBusyAndLosesNothing) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url);
    auto db = t.open();
    run(t.io, db.async_execute("INSERT INTO counter VALUES (1, 0)"));
    // Another client holds the row's lock in an open transaction.
    auto holder = sh::connection::open(url, sh::open_mode::read_write, {}).value();
    ASSERT_TRUE(holder.execute_script(t.schema.session_sql() +
                                      "; BEGIN; UPDATE counter SET n = 100 WHERE id = 1"));
    sh::retry_policy policy;
    policy.base_delay = 50ms;
    policy.max_retries = 100;
    policy.deadline = 700ms;
    sh::retry_report report;
    const auto started = std::chrono::steady_clock::now();
    auto r = run(t.io, sh::with_retry(
                           [&](auto token) {
                               return db.async_execute("UPDATE counter SET n = n + 1 WHERE id = 1",
                                                       {}, std::move(token));
                           },
                           policy, &report, sh::as_result));
    const auto waited = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(r.error(), sh::errc::database_busy);
    // The deadline cancelled the statement waiting for the row lock (PQcancel).
    EXPECT_EQ(report.last_error, sh::condition::lock_error) << report.last_error.message();
    EXPECT_TRUE(report.deadline_reached);
    EXPECT_GE(waited, 600ms);
    EXPECT_LT(waited, 3s); // the server's wait ended at the deadline, not never
    // The holder commits; the next write goes through; nothing was half applied.
    ASSERT_TRUE(holder.execute_script("COMMIT"));
    run(t.io, db.async_execute("UPDATE counter SET n = n + 1 WHERE id = 1"));
    EXPECT_EQ(run(t.io, db.async_query<std::int64_t>("SELECT n FROM counter")),
              std::vector<std::int64_t>{101});
}

TEST(Postgres, KeyValueSettingsWorkAndTheirPasswordIsNotShown) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    // postgresql://sqlh:sqlh@127.0.0.1:PORT/sqlh as key=value settings
    const auto port = url.substr(url.rfind(':') + 1, url.rfind('/') - url.rfind(':') - 1);
    const std::string settings =
        "postgresql:host=127.0.0.1 port=" + port + " user=sqlh password=sqlh dbname=sqlh";
    auto c = sh::connection::open(settings, sh::open_mode::read_write, {});
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(c.value().path().find("password=sqlh"), std::string::npos) << c.value().path();
    EXPECT_EQ(c.value().query_one<int>("SELECT 1").value(), std::optional<int>(1));
}

TEST(Postgres, UniqueIndexesWithIncludedColumnsKeyOnTheirKeyColumns) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url);
    t.o.migrations.push_back(
        "CREATE TABLE person(id BIGINT PRIMARY KEY, email TEXT NOT NULL, name TEXT);"
        "CREATE UNIQUE INDEX person_email ON person(email) INCLUDE (name)");
    t.o.lock_timeout = std::chrono::hours(24 * 365); // more than lock_timeout's int holds
    auto db = t.open();
    sh::write_buffer_options bo;
    bo.log = sh::null_logger();
    sh::write_buffer buffer(db, bo);
    run(t.io, buffer.async_start());
    ASSERT_FALSE(buffer.buffer_upsert("person", {{"id", 1}, {"email", "a@x"}, {"name", "A"}}, {"email"}));
    run(t.io, buffer.async_force_flush());
    ASSERT_FALSE(buffer.buffer_upsert("person", {{"id", 1}, {"email", "a@x"}, {"name", "B"}}, {"email"}));
    run(t.io, buffer.async_force_flush());
    EXPECT_EQ(run(t.io, db.async_query<std::string>("SELECT name FROM person")),
              std::vector<std::string>{"B"});
    EXPECT_TRUE(run(t.io, buffer.async_stop()).unwritten.empty());
    EXPECT_TRUE(buffer.dead_letters().empty());
}

TEST(Postgres, AWrongPasswordFailsQuicklyAndSaysWhy) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    const auto at = url.find('@');
    const auto colon = url.rfind(':', at);
    ASSERT_NE(at, std::string::npos);
    const std::string wrong = url.substr(0, colon + 1) + "not-the-password" + url.substr(at);
    asio::io_context io;
    sh::diagnostics why;
    const auto started = std::chrono::steady_clock::now();
    auto r = run(io, sh::database::async_open(io.get_executor(), wrong, {}, why, sh::as_result));
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error(), sh::condition::cannot_open);
    EXPECT_NE(why.message.find("password authentication failed"), std::string::npos) << why.message;
    EXPECT_EQ(why.message.find("not-the-password"), std::string::npos);
}

TEST(Postgres, NoErrorOrPathEverShowsAPassword) {
    // libpq quotes a broken %-escape it cannot read: the message keeps its reason, not the text.
    asio::io_context io;
    sh::diagnostics why;
    const std::string bad = "postgresql://u:Sekr3t%zz@127.0.0.1:1/d";
    auto r = run(io, sh::database::async_open(io.get_executor(), bad, {}, why, sh::as_result));
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(why.message.find("Sekr3t"), std::string::npos) << why.message;
    EXPECT_NE(why.message.find("percent"), std::string::npos) << why.message;
    // A log database is an SQLite file: a server's URL is refused at once, without its password.
    try {
        sh::log_database logs(io.get_executor(), "postgresql://u:Sekr3t@127.0.0.1/d");
        ADD_FAILURE() << "a PostgreSQL URL was taken for a log file";
    } catch (const sh::system_error& e) {
        EXPECT_EQ(e.code(), sh::errc::path_refused);
        EXPECT_EQ(std::string(e.what()).find("Sekr3t"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("PostgreSQL"), std::string::npos) << e.what();
    }
}

TEST(Postgres, AnUnreachableServerFailsQuicklyAndSaysWhy) {
    asio::io_context io;
    sh::diagnostics why;
    sh::database_options o;
    o.connection.postgres.connect_timeout = 2s;
    const auto started = std::chrono::steady_clock::now();
    // Port 1 on loopback: nothing listens, the connection is refused at once. A blackholed
    // address would wait for connect_timeout.
    auto r = run(io, sh::database::async_open(io.get_executor(), "postgresql://sqlh@127.0.0.1:1/sqlh",
                                              o, why, sh::as_result));
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error(), sh::condition::cannot_open);
    EXPECT_NE(why.message.find("127.0.0.1"), std::string::npos) << why.message;
}

TEST(Postgres, StatementsThatLookLikeReadsButWriteRunOnTheWriter) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url);
    auto db = t.open();
    const std::string sql =
        "WITH made AS (INSERT INTO counter VALUES ($1, 7) RETURNING n) SELECT n FROM made";
    EXPECT_EQ(run(t.io, db.async_query<std::int64_t>(sql, sh::args(1))), std::vector<std::int64_t>{7});
    // Learned: the next one goes to the writer directly.
    EXPECT_EQ(run(t.io, db.async_query<std::int64_t>(sql, sh::args(2))), std::vector<std::int64_t>{7});
    EXPECT_EQ(run(t.io, db.async_query<std::int64_t>("SELECT count(*) FROM counter")),
              std::vector<std::int64_t>{2});
}

TEST(Postgres, ValuesThatCannotBeStoredOrReadAsAskedAreErrorsNotTruncations) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url);
    t.o.migrations.push_back("CREATE TABLE note(id BIGINT PRIMARY KEY, body TEXT)");
    auto db = t.open();
    // PostgreSQL text cannot hold a NUL: refused, not cut at it ("ab").
    sh::diagnostics d;
    auto stored = run(t.io, db.async_execute("INSERT INTO note VALUES (1, ?)",
                                             sh::args(std::string("ab\0cd", 5)), d, sh::as_result));
    EXPECT_EQ(stored.error(), sh::errc::value_out_of_range);
    EXPECT_NE(d.message.find("NUL"), std::string::npos) << d.message;
    EXPECT_EQ(run(t.io, db.async_query<std::int64_t>("SELECT count(*) FROM note")),
              std::vector<std::int64_t>{0});
    // A numeric no double can hold reads as its digits, and as a double it is an error.
    auto as_double = run(t.io, db.async_query<double>("SELECT 1e400::numeric", {}, sh::as_result));
    EXPECT_EQ(as_double.error(), sh::errc::type_mismatch);
    const auto digits = run(t.io, db.async_query<std::string>("SELECT 1e400::numeric"));
    ASSERT_EQ(digits.size(), 1u);
    EXPECT_EQ(digits[0].size(), 401u);
    EXPECT_EQ(run(t.io, db.async_query<double>("SELECT 2.5::numeric")), std::vector<double>{2.5});
    // Narrowing reads are checked as on SQLite.
    auto narrowed = run(t.io, db.async_query<int>("SELECT 4294967297::bigint", {}, sh::as_result));
    EXPECT_EQ(narrowed.error(), sh::errc::value_out_of_range);
}

TEST(Postgres, StatementsArePreparedAgainWhenTheirTableChangedOrTheirPlanWasDropped) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url, 1);
    t.o.migrations.push_back("CREATE TABLE r(a BIGINT); INSERT INTO r VALUES (1)");
    auto db = t.open();
    using one = std::tuple<std::int64_t>;
    using two = std::tuple<std::int64_t, std::optional<std::int64_t>>;
    auto read_on_writer = [&]() {
        return run(t.io, db.async_write(
                             [](sh::connection& c) { return c.query<two>("SELECT * FROM r"); },
                             sh::as_result));
    };
    EXPECT_EQ(run(t.io, db.async_query<one>("SELECT * FROM r")), std::vector<one>{{1}});
    ASSERT_TRUE(run(t.io, db.async_write([](sh::connection& c) { return c.query<one>("SELECT * FROM r"); },
                                         sh::as_result)));
    run(t.io, db.async_maintenance([](sh::connection& c) {
        c.execute_script("ALTER TABLE r ADD COLUMN b BIGINT").value();
    }));
    // The reader's statement runs in autocommit: prepared again at once.
    EXPECT_EQ(run(t.io, db.async_query<two>("SELECT * FROM r")), (std::vector<two>{{1, std::nullopt}}));
    // The writer's runs in a transaction that the stale plan fails: prepared again next time.
    auto first = read_on_writer();
    if (!first) {
        EXPECT_EQ(sh::postgres_sqlstate(first.error()), "0A000");
    }
    auto second = read_on_writer();
    ASSERT_TRUE(second) << second.error().message();
    EXPECT_EQ(second.value(), (std::vector<two>{{1, std::nullopt}}));
}

TEST(Postgres, TheWritersStatementCacheStaysBoundedInsideATransaction) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url, 1);
    t.o.connection.statement_cache_size = 16;
    auto db = t.open();
    // One job, so one transaction: eviction cannot wait for an idle moment.
    const auto counts = run(t.io, db.async_write([](sh::connection& c) {
        for (int i = 0; i < 300; ++i)
            c.query<std::int64_t>("SELECT " + std::to_string(i) + "::bigint").value();
        const auto mid = c.query<std::int64_t>("SELECT count(*) FROM pg_prepared_statements");
        return mid.value().at(0);
    }));
    EXPECT_LE(counts, 17); // 16, and the count's own statement
    // A statement in use is never evicted: its rows stay readable while others come and go.
    run(t.io, db.async_write([](sh::connection& c) {
        auto held = c.prepare("SELECT generate_series(1, 3)::bigint").value();
        ASSERT_TRUE(held.step().value());
        for (int i = 0; i < 40; ++i)
            c.query<std::int64_t>("SELECT " + std::to_string(1000 + i) + "::bigint").value();
        EXPECT_EQ(held.row<std::int64_t>().value(), 1);
        ASSERT_TRUE(held.step().value());
        EXPECT_EQ(held.row<std::int64_t>().value(), 2);
    }));
    sh::diagnostics d;
    auto dropped = run(t.io, db.async_execute("DEALLOCATE ALL", {}, d, sh::as_result));
    EXPECT_EQ(dropped.error(), sh::errc::statement_refused);
}

// A connection is pooled and shared by the jobs that run on it: what would stay in its session
// after a job is refused before it runs, and the sessions stay as they were.
TEST(Postgres, SessionStateThatWouldOutliveAJobIsRefused) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url, 1);
    auto db = t.open();
    run(t.io, db.async_execute("INSERT INTO counter VALUES (1, 1)"));
    for (const char* sql :
         {"SELECT set_config('search_path', 'nowhere', false)", "SET search_path = nowhere",
          "LISTEN sqlh_channel", "CREATE TEMP TABLE scratch(a BIGINT)",
          "SELECT pg_advisory_lock(42)", "SELECT pg_try_advisory_lock(42)"}) {
        sh::diagnostics d;
        auto r = run(t.io, db.async_execute(sql, {}, d, sh::as_result));
        EXPECT_EQ(r.error(), sh::errc::statement_refused) << sql;
        EXPECT_NE(d.message.find("session"), std::string::npos) << d.message;
        auto in_job = run(t.io, db.async_write([&](sh::connection& c) { return c.execute(sql); },
                                               sh::as_result));
        EXPECT_EQ(in_job.error(), sh::errc::statement_refused) << sql;
    }
    // Every later read and write still finds the schema, and no lock was left behind.
    for (int i = 0; i < 6; ++i)
        EXPECT_EQ(run(t.io, db.async_query<std::int64_t>("SELECT n FROM counter WHERE id = 1")),
                  std::vector<std::int64_t>{1});
    run(t.io, db.async_execute("INSERT INTO counter VALUES (2, 2)"));
    EXPECT_EQ(run(t.io, db.async_query<std::int64_t>(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 "
                            "AND objid = 42")), // other tests' migrations take one of their own
              std::vector<std::int64_t>{0});
    // What ends with the transaction is allowed.
    run(t.io, db.async_write([](sh::connection& c) {
        c.query<std::string>("SELECT pg_advisory_xact_lock(42)::text").value();
    }));
}

// A SELECT that calls a function of the database's own which may write (VOLATILE) runs on the
// writer: on a read-only reader a function that catches its own error would do nothing.
TEST(Postgres, ASelectCallingAVolatileFunctionOfTheDatabaseRunsOnTheWriter) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url, 2);
    t.o.migrations.push_back(
        "CREATE FUNCTION bump() RETURNS BIGINT LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO counter VALUES (7, 1) ON CONFLICT (id) DO UPDATE SET n = counter.n + 1; "
        "RETURN 1; EXCEPTION WHEN OTHERS THEN RETURN 0; END $$");
    t.o.migrations.push_back(
        "CREATE FUNCTION twice(x BIGINT) RETURNS BIGINT LANGUAGE sql IMMUTABLE AS 'SELECT 2 * x'");
    auto db = t.open();
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(run(t.io, db.async_query<std::int64_t>("SELECT bump()")), std::vector<std::int64_t>{1});
    EXPECT_EQ(run(t.io, db.async_query<std::int64_t>("SELECT n FROM counter WHERE id = 7")),
              std::vector<std::int64_t>{5});
    // Functions that only compute, and the server's own, still go to the readers.
    const auto before = db.metrics();
    EXPECT_EQ(run(t.io, db.async_query<std::int64_t>("SELECT twice(count(*)) FROM counter")),
              std::vector<std::int64_t>{2});
    EXPECT_EQ(db.metrics().writes, before.writes);
}

TEST(Postgres, TheWriteBufferMatchesNamesExactlyAsPostgreSQLQuotesThem) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url, 1);
    t.o.migrations.push_back(
        "CREATE TABLE \"Mixed\"(id BIGINT PRIMARY KEY, v TEXT, \"V\" TEXT)");
    auto db = t.open();
    sh::write_buffer_options bo;
    bo.flush_interval = 1h;
    bo.log = sh::null_logger();
    sh::write_buffer buffer(db, bo);
    run(t.io, buffer.async_start());
    sh::diagnostics d;
    EXPECT_EQ(buffer.buffer_upsert("mixed", {{"id", 1}}, {"id"}, &d), sh::errc::invalid_identifier);
    EXPECT_NE(d.message.find("there is 'Mixed'"), std::string::npos) << d.message;
    ASSERT_FALSE(buffer.buffer_upsert("Mixed", {{"id", 1}, {"v", "lower"}, {"V", "upper"}}, {"id"}));
    EXPECT_EQ(run(t.io, buffer.async_force_flush()), 1u);
    using vv = std::tuple<std::string, std::string>;
    EXPECT_EQ(run(t.io, db.async_query<vv>("SELECT v, \"V\" FROM \"Mixed\"")),
              (std::vector<vv>{{"lower", "upper"}}));
    run(t.io, buffer.async_stop());
}

TEST(Postgres, TheServersWarningsGoToTheDatabasesLog) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url, 1);
    std::mutex m;
    std::vector<std::pair<sh::log_level, std::string>> logged;
    t.o.log = [&](sh::log_level level, std::string_view message) {
        std::lock_guard lock(m);
        logged.emplace_back(level, std::string(message));
    };
    auto db = t.open();
    run(t.io, db.async_execute("DO $$ BEGIN RAISE WARNING 'careful %', 42; END $$"));
    std::lock_guard lock(m);
    const auto it = std::find_if(logged.begin(), logged.end(), [](const auto& l) {
        return l.second.find("careful 42") != std::string::npos;
    });
    ASSERT_NE(it, logged.end());
    EXPECT_EQ(it->first, sh::log_level::warn);
    EXPECT_NE(it->second.find("WARNING"), std::string::npos) << it->second;
}

TEST(Postgres, QuestionMarksInLiteralsCommentsAndDollarQuotesStayText) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url);
    auto db = t.open();
    using row = std::tuple<std::string, std::string, std::string, std::int64_t>;
    const auto r = run(t.io, db.async_query<row>(
                                 "SELECT '?' || ?, $$a?b$$, E'\\'?' /* ? */, CAST(?2 AS BIGINT) -- ?\n",
                                 sh::args("x", 5)));
    EXPECT_EQ(r, (std::vector<row>{{"?x", "a?b", "'?", 5}}));
    // A `?` against a name: the parameter stays a token of its own ($2AS would be junk).
    EXPECT_EQ(run(t.io, db.async_query<std::int64_t>("SELECT CAST(? AS BIGINT)+CAST(?AS BIGINT)",
                                                      sh::args(1, 2))),
              std::vector<std::int64_t>{3});
}

TEST(Postgres, CancellingARunningReadStopsItOnTheServer) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url, 1);
    auto db = t.open();
    const auto cancelled = cancel_running_query<int>(t.io, db, "SELECT 1 FROM pg_sleep(20)");
    EXPECT_LT(cancelled.answered_after, 5s);
    EXPECT_EQ(cancelled.ec, asio::error::operation_aborted);
    EXPECT_EQ(run(t.io, db.async_query<int>("SELECT 1")), std::vector<int>{1});
}

// A writer waiting for another client's row lock and a long read each hold a thread of the
// pool until the server answers: the default pool has one thread per connection, so the other
// readers go on.
TEST(Postgres, AWriterWaitingForARowLockAndALongReadDoNotHoldUpTheOtherReaders) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    postgres_database t(url, 4);
    auto db = t.open();
    run(t.io, db.async_execute("INSERT INTO counter VALUES (1, 0)"));
    auto holder = sh::connection::open(url, sh::open_mode::read_write, {}).value();
    ASSERT_TRUE(holder.execute_script(t.schema.session_sql() +
                                      "; BEGIN; UPDATE counter SET n = 100 WHERE id = 1"));
    std::optional<sh::error_code> write_done, long_read_done;
    db.async_execute("UPDATE counter SET n = n + 1 WHERE id = 1", {},
                     [&](sh::error_code ec, sh::execute_result) { write_done = ec; });
    db.async_query<int>("SELECT 1 FROM pg_sleep(4)", {},
                        [&](sh::error_code ec, std::vector<int>) { long_read_done = ec; });
    // Both are on the server: the update waits for the lock, the read sleeps.
    auto admin = sh::connection::open(url, sh::open_mode::read_write, {}).value();
    for (int i = 0;; ++i) {
        ASSERT_LT(i, 1000) << "the write and the long read did not both reach the server";
        auto busy = admin.query_one<std::int64_t>(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
            "(query LIKE 'SELECT 1 FROM pg_sleep(4)%' OR query LIKE 'UPDATE counter SET n = n + 1%')");
        ASSERT_TRUE(busy) << admin.last_diagnostics().message;
        if (busy.value().value_or(0) == 2)
            break;
        std::this_thread::sleep_for(10ms);
    }
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(run(t.io, db.async_query<int>("SELECT CAST(? AS integer)", {i})), std::vector<int>{i});
    EXPECT_FALSE(long_read_done.has_value()) << "the quick reads waited for the long one";
    EXPECT_FALSE(write_done.has_value());
    ASSERT_TRUE(holder.execute_script("COMMIT"));
    run(t.io, sh::test::until(t.io, [&] { return write_done && long_read_done; }));
    EXPECT_FALSE(*write_done) << write_done->message();
    EXPECT_FALSE(*long_read_done) << long_read_done->message();
    EXPECT_EQ(run(t.io, db.async_query<std::int64_t>("SELECT n FROM counter")),
              std::vector<std::int64_t>{101});
}

// Every server process stopped (SIGSTOP): a write or a read under a deadline ends at it (plus
// the grace a cancel request gets) while the server is still frozen, a cancellation never
// blocks the caller's thread, and nothing unacknowledged is applied once the server runs again.
TEST(Postgres, AFrozenServerHoldsNoCallerPastItsDeadlineOrCancellation) {
    SQLITE_HYBRID_NEED_POSTGRES(shared_url);
    sh::test::postgres_cluster cluster;
    postgres_database t(cluster.url(), 1);
    auto db = t.open();
    run(t.io, db.async_execute("INSERT INTO counter VALUES (1, 0)"));
    sh::retry_policy policy;
    policy.base_delay = 50ms;
    policy.max_retries = 100;
    policy.deadline = 1s;
    auto with_deadline = [&](auto op) {
        return run(t.io, sh::with_retry(op, policy, nullptr, sh::as_result));
    };
    // A function job goes to the writer at once (a single statement would be routed by a
    // reader first).
    auto update = [&](auto token) {
        return db.async_write(
            [](sh::connection& c) -> sh::result<void> {
                BOOST_OUTCOME_TRY(c.execute("UPDATE counter SET n = n + 1 WHERE id = 1"));
                return sh::outcome::success();
            },
            std::move(token));
    };
    auto read = [&](auto token) {
        return db.async_query<std::int64_t>("SELECT n FROM counter", {}, std::move(token));
    };
    // A reader that ran a statement before has its connection open when the server freezes.
    EXPECT_EQ(run(t.io, db.async_query<std::int64_t>("SELECT n FROM counter")),
              std::vector<std::int64_t>{0});
    // So has a second handle's, where a statement never seen before is routed (prepared on
    // the reader to learn whether it writes).
    auto routing = t.open();
    EXPECT_EQ(run(t.io, routing.async_query<std::int64_t>("SELECT n FROM counter")),
              std::vector<std::int64_t>{0});
    cluster.freeze();
    const auto frozen_at = std::chrono::steady_clock::now();
    // Cancelling the read running on the frozen server returns at once on the caller's thread:
    // the cancel request (which waits for the server) is sent from a thread of its own.
    const auto cancelled = cancel_running_query<std::int64_t>(t.io, db, "SELECT n FROM counter");
    EXPECT_LT(cancelled.emit_took, 1s);
    EXPECT_EQ(cancelled.ec, asio::error::operation_aborted) << cancelled.ec.message();
    // The writer's BEGIN waits for the frozen server: the deadline ends it.
    auto first = with_deadline(update);
    EXPECT_EQ(first.error(), sh::errc::database_busy) << first.error().message();
    // That connection was closed; connecting again waits for the frozen server too, on the
    // writer and on the reader whose read was cancelled.
    auto second = with_deadline(update);
    EXPECT_EQ(second.error(), sh::errc::database_busy) << second.error().message();
    auto third = with_deadline(read);
    EXPECT_EQ(third.error(), sh::errc::database_busy) << third.error().message();
    auto routed = run(t.io, sh::with_retry(
                                [&](auto token) {
                                    return routing.async_execute(
                                        "UPDATE counter SET n = n + 2 WHERE id = 1", {},
                                        std::move(token));
                                },
                                policy, nullptr, sh::as_result));
    EXPECT_EQ(routed.error(), sh::errc::database_busy) << routed.error().message();
    // All of that happened while the server was still frozen.
    const auto frozen_for = std::chrono::steady_clock::now() - frozen_at;
    cluster.thaw();
    EXPECT_LT(frozen_for, 30s);
    // The server runs again: the pool connects again (after its backoff), and the writes that
    // were answered with errors are not there.
    std::optional<sh::result<sh::execute_result>> after;
    for (int attempt = 0; attempt < 100; ++attempt) {
        after.emplace(run(t.io, db.async_execute("UPDATE counter SET n = n + 1 WHERE id = 1", {},
                                                 sh::as_result)));
        if (*after)
            break;
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(*after) << after->error().message();
    EXPECT_EQ(run(t.io, db.async_query<std::int64_t>("SELECT n FROM counter")),
              std::vector<std::int64_t>{1});
}

// pg_ctl restart -m fast while eight callers insert: every write answered with success is in
// the table afterwards, every other one was answered with connection_lost, and the pool
// connects again by itself.
TEST(Postgres, AFastRestartLosesNoAcknowledgedWrite) {
    SQLITE_HYBRID_NEED_POSTGRES(shared_url);
    sh::test::postgres_cluster cluster;
    postgres_database t(cluster.url(), 1);
    auto db = t.open();
    std::set<std::int64_t> acknowledged;
    std::vector<sh::error_code> failures;
    std::size_t acknowledged_at_restart = 0;
    std::atomic<bool> restart_done{false};
    bool restarted = false;
    std::thread restarter;
    int running = 0;
    std::int64_t next_id = 0;
    std::function<void()> insert = [&] {
        // Until 100 writes were acknowledged after the restart ended.
        if (restart_done && acknowledged.size() >= acknowledged_at_restart + 100) {
            --running;
            return;
        }
        const std::int64_t id = next_id++;
        db.async_execute("INSERT INTO counter VALUES (?, 0)", {id},
                         [&, id](sh::error_code ec, sh::execute_result) {
                             if (!ec) {
                                 acknowledged.insert(id);
                             } else {
                                 failures.push_back(ec);
                                 std::this_thread::sleep_for(5ms); // the server is away
                             }
                             if (acknowledged.size() == 100 && !restarter.joinable())
                                 restarter = std::thread([&] {
                                     restarted = cluster.restart();
                                     restart_done = true;
                                 });
                             if (restart_done && acknowledged_at_restart == 0)
                                 acknowledged_at_restart = acknowledged.size();
                             insert();
                         });
    };
    running = 8;
    for (int i = 0; i < 8; ++i)
        insert();
    run(t.io, sh::test::until(t.io, [&] { return running == 0; }));
    restarter.join();
    ASSERT_TRUE(restarted);
    for (const auto& ec : failures)
        EXPECT_EQ(ec, sh::condition::connection_lost) << ec.message();
    // The reader's connection was idle through the restart: its first job finds it lost.
    std::optional<sh::result<std::vector<std::int64_t>>> rows;
    for (int attempt = 0; attempt < 100 && !(rows && *rows); ++attempt) {
        if (rows)
            std::this_thread::sleep_for(100ms);
        rows.emplace(run(t.io, db.async_query<std::int64_t>("SELECT id FROM counter", {},
                                                            sh::as_result)));
    }
    ASSERT_TRUE(*rows) << rows->error().message();
    const std::set<std::int64_t> stored(rows->value().begin(), rows->value().end());
    for (auto id : acknowledged)
        EXPECT_TRUE(stored.count(id)) << "write " << id << " was acknowledged and is not there";
    EXPECT_GE(acknowledged.size(), 200u);
}

} // namespace
