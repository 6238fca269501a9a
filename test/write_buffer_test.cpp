// SPDX-License-Identifier: BSL-1.0
// The write buffer: coalescing, flushing, failures kept or buried, bad names, backpressure.
#include "support/process.hpp"
#include "support/run.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/write_buffer.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <cmath>

#include <future>
#include <map>
#include <optional>
#include <random>
#include <thread>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using asio::awaitable;
using sh::test::open_database;
using sh::test::run;
using sh::test::until;
using sh::test::temp_dir;
using namespace std::chrono_literals;

namespace {

const std::string schema_sql =
    "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c REAL);"
    "CREATE TABLE pair(x INTEGER NOT NULL, y INTEGER NOT NULL, v TEXT, PRIMARY KEY(x, y));"
    "CREATE TABLE checked(id INTEGER PRIMARY KEY, n INTEGER CHECK (n > 0));"
    "CREATE TABLE strict_t(id INTEGER PRIMARY KEY, n INTEGER) STRICT;"
    "CREATE TABLE email(id INTEGER PRIMARY KEY, address TEXT UNIQUE, name TEXT);"
    "CREATE TABLE account(id INTEGER PRIMARY KEY, login TEXT, active INTEGER);"
    "CREATE UNIQUE INDEX account_active_login ON account(login) WHERE active;";

sh::database_options options() {
    sh::database_options o;
    o.migrations = {schema_sql};
    o.log = sh::null_logger();
    return o;
}

sh::write_buffer_options quiet(std::chrono::milliseconds interval = 1h) {
    sh::write_buffer_options o;
    o.flush_interval = interval;
    o.log = sh::null_logger();
    return o;
}

using t_row = std::tuple<std::int64_t, std::optional<std::int64_t>, std::optional<std::string>,
                         std::optional<double>>;

std::vector<t_row> rows_of_t(asio::io_context& io, sh::database& db) {
    return run(io, db.async_query<t_row>("SELECT id, a, b, c FROM t ORDER BY id"));
}

// A database file with the test schema and a write buffer on it, started.
struct started_buffer {
    temp_dir dir;
    asio::io_context io;
    sh::database db;
    sh::write_buffer buffer;

    explicit started_buffer(sh::write_buffer_options bo = quiet(),
                            sh::database_options o = options())
        : db(open_database(io, dir.file("b.db"), std::move(o))), buffer(db, std::move(bo)) {
        run(io, buffer.async_start());
    }
};

// One buffered write, and what the same write is as plain SQL (the reference).
struct op {
    char kind; // 'u' upsert, 'p' update, 'd' delete
    sh::row values;

    void buffer(sh::write_buffer& b) const {
        sh::row key{{"id", 1}};
        sh::error_code ec;
        if (kind == 'u')
            ec = b.buffer_upsert("t", values, {"id"});
        else if (kind == 'p')
            ec = b.buffer_update("t", key, values);
        else
            ec = b.buffer_delete("t", key);
        ASSERT_FALSE(ec) << ec.message();
    }
    void apply_directly(sh::connection& c) const {
        std::string cols, marks, set;
        sh::params p;
        for (const auto& f : values) {
            cols += (cols.empty() ? "" : ", ") + f.column;
            marks += marks.empty() ? "?" : ", ?";
            if (f.column != "id")
                set += (set.empty() ? "" : ", ") + f.column + " = excluded." + f.column;
            p.push_back(f.v);
        }
        if (kind == 'u') {
            c.execute("INSERT INTO t (" + cols + ") VALUES (" + marks + ") ON CONFLICT (id) " +
                          (set.empty() ? "DO NOTHING" : "DO UPDATE SET " + set),
                      p)
                .value();
        } else if (kind == 'p') {
            std::string assign;
            for (const auto& f : values)
                assign += (assign.empty() ? "" : ", ") + f.column + " = ?";
            p.push_back(1);
            c.execute("UPDATE t SET " + assign + " WHERE id = ?", p).value();
        } else {
            c.execute("DELETE FROM t WHERE id = 1").value();
        }
    }
};

struct coalescing_case {
    const char* name;
    bool row_exists;
    std::vector<op> ops;
};

TEST(WriteBuffer, CoalescingLeavesWhatApplyingEachWriteInOrderLeaves) {
    const op up_ab{'u', {{"id", 1}, {"a", 10}, {"b", "x"}}};
    const op up_bc{'u', {{"id", 1}, {"b", "y"}, {"c", 2.5}}};
    const op up_id{'u', {{"id", 1}}};
    const op upd_a{'p', {{"a", 20}}};
    const op upd_ac{'p', {{"a", 30}, {"c", 9.0}}};
    const op del{'d', {}};
    const std::vector<coalescing_case> cases{
        {"upsert after upsert", false, {up_ab, up_bc}},
        {"upsert after upsert, row existed", true, {up_ab, up_bc}},
        {"update merged into an upsert", false, {up_ab, upd_a}},
        {"update after update", true, {upd_a, upd_ac}},
        {"update after update, no row", false, {upd_a, upd_ac}},
        {"delete after upsert", true, {up_ab, del}},
        {"delete after update", true, {upd_a, del}},
        {"delete after delete", true, {del, del}},
        {"upsert after delete", true, {del, up_bc}},
        {"upsert after delete, no row", false, {del, up_bc}},
        {"update of a row deleted in the buffer", true, {del, upd_a}},
        {"upsert after update, row existed", true, {upd_a, up_bc}},
        {"upsert after update, no row", false, {upd_a, up_bc}},
        {"update, upsert, update", true, {upd_a, up_bc, upd_ac}},
        {"delete, upsert, update", true, {del, up_ab, upd_ac}},
        {"upsert of the key alone", true, {up_id, upd_a}},
        {"upsert, delete, upsert", true, {up_ab, del, up_bc}},
    };
    for (const auto& tc : cases) {
        SCOPED_TRACE(tc.name);
        temp_dir dir;
        asio::io_context io;
        auto buffered = open_database(io, dir.file("buffered.db"), options());
        auto direct = sh::connection::open(dir.file("direct.db"), sh::open_mode::read_write_create, {})
                          .value();
        direct.execute_script(schema_sql).value();
        if (tc.row_exists) {
            const char* seed = "INSERT INTO t VALUES(1, 1, 'seed', 1.0)";
            run(io, buffered.async_execute(seed));
            direct.execute(seed).value();
        }
        sh::write_buffer buffer(buffered, quiet());
        run(io, buffer.async_start());
        for (const auto& o : tc.ops) {
            o.buffer(buffer);
            o.apply_directly(direct);
        }
        EXPECT_EQ(buffer.metrics().pending, 1u);
        EXPECT_EQ(buffer.metrics().coalesced, tc.ops.size() - 1);
        run(io, buffer.async_force_flush());
        EXPECT_EQ(rows_of_t(io, buffered),
                  direct.query<t_row>("SELECT id, a, b, c FROM t ORDER BY id").value());
        run(io, buffer.async_stop());
    }
}

TEST(WriteBuffer, CompositeKeysAndKeyColumnOrder) {
    started_buffer t;
    auto& [dir, io, db, buffer] = t;
    ASSERT_FALSE(buffer.buffer_upsert("pair", {{"x", 1}, {"y", 2}, {"v", "first"}}, {"x", "y"}));
    ASSERT_FALSE(buffer.buffer_upsert("PAIR", {{"Y", 2}, {"X", 1}, {"v", "second"}}, {"y", "x"}));
    ASSERT_FALSE(buffer.buffer_update("pair", {{"y", 2}, {"x", 1}}, {{"v", "third"}}));
    EXPECT_EQ(buffer.metrics().pending, 1u); // one row, whatever the order or case of the names
    run(io, buffer.async_force_flush());
    EXPECT_EQ(run(io, db.async_query<std::string>("SELECT v FROM pair WHERE x = 1 AND y = 2")),
              std::vector<std::string>{"third"});
    run(io, buffer.async_stop());
}

TEST(WriteBuffer, KeysGivenInOtherTypesAreOneRowAsTheColumnStoresThem) {
    started_buffer t;
    auto& [dir, io, db, buffer] = t;
    // INTEGER PRIMARY KEY: 1.0, 1 and "1" are the integer 1; the latest write wins.
    ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", 1.0}, {"a", 1}}, {"id"}));
    ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", 1}, {"a", 2}}, {"id"}));
    ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", " 1 "}, {"a", 3}}, {"id"}));
    // TEXT UNIQUE: 2 is "2".
    ASSERT_FALSE(buffer.buffer_upsert("email", {{"address", 2}, {"name", "older"}}, {"address"}));
    ASSERT_FALSE(buffer.buffer_upsert("email", {{"address", "2"}, {"name", "newer"}}, {"address"}));
    EXPECT_EQ(buffer.metrics().pending, 2u);
    EXPECT_EQ(buffer.metrics().coalesced, 3u);
    run(io, buffer.async_force_flush());
    EXPECT_EQ(run(io, db.async_query<std::tuple<std::int64_t, std::int64_t>>("SELECT id, a FROM t")),
              (std::vector<std::tuple<std::int64_t, std::int64_t>>{{1, 3}}));
    EXPECT_EQ(run(io, db.async_query<std::string>("SELECT name FROM email WHERE address = '2'")),
              std::vector<std::string>{"newer"});
    run(io, buffer.async_stop());
}

TEST(WriteBuffer, ManyThreadsBufferAtOnceAndNothingIsLost) {
    auto o = quiet(5ms);
    o.batch_size = 50;
    started_buffer t{o};
    auto& [dir, io, db, buffer] = t;
    std::thread io_thread([&] {
        auto guard = asio::make_work_guard(io);
        io.run_for(60s);
    });
    constexpr int threads = 8, each = 2000, keys = 500;
    std::vector<std::thread> producers;
    std::atomic<int> errors{0};
    for (int t = 0; t < threads; ++t)
        producers.emplace_back([&, t] {
            for (int i = 0; i < each; ++i) {
                const int id = (t * each + i) % keys;
                if (buffer.buffer_upsert("t", {{"id", id}, {"a", t * each + i}}, {"id"}))
                    ++errors;
            }
        });
    for (auto& p : producers)
        p.join();
    auto stopped = asio::co_spawn(io, buffer.async_stop(), asio::use_future);
    const auto report = stopped.get();
    io.stop();
    io_thread.join();
    EXPECT_EQ(errors, 0);
    EXPECT_TRUE(report.unwritten.empty());
    const auto m = buffer.metrics();
    EXPECT_EQ(m.accepted, static_cast<std::uint64_t>(threads * each));
    EXPECT_EQ(m.pending, 0u);
    EXPECT_EQ(run(io, db.async_query<int>("SELECT count(*) FROM t")), std::vector<int>{keys});
    EXPECT_EQ(buffer.buffer_upsert("t", {{"id", 1}}, {"id"}), sh::errc::closed);
}

TEST(WriteBuffer, TheTimerFlushesWithoutBeingAsked) {
    started_buffer t{quiet(20ms)};
    auto& [dir, io, db, buffer] = t;
    ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", 7}, {"a", 1}}, {"id"}));
    run(io, until(io, [&] { return buffer.metrics().flushed == 1; }));
    EXPECT_EQ(run(io, db.async_query<int>("SELECT id FROM t")), std::vector<int>{7});
    run(io, buffer.async_stop());
}

TEST(WriteBuffer, AFullBatchFlushesEarly) {
    auto o = quiet(1h);
    o.batch_size = 10;
    started_buffer t{o};
    auto& [dir, io, db, buffer] = t;
    for (int i = 0; i < 10; ++i)
        ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", i}}, {"id"}));
    run(io, until(io, [&] { return buffer.metrics().flushed == 10; }));
    run(io, buffer.async_stop());
}

TEST(WriteBuffer, ForcedFlushSaysHowManyRowsItWrote) {
    started_buffer t;
    auto& [dir, io, db, buffer] = t;
    for (int i = 0; i < 250; ++i)
        ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", i}, {"b", "v"}}, {"id"}));
    EXPECT_EQ(run(io, buffer.async_force_flush()), 250u);
    EXPECT_EQ(run(io, db.async_query<int>("SELECT count(*) FROM t")), std::vector<int>{250});
    EXPECT_EQ(buffer.metrics().flushes, 3u); // batches of 100
    EXPECT_EQ(run(io, buffer.async_force_flush()), 0u);
    auto report = run(io, buffer.async_stop());
    EXPECT_TRUE(report.unwritten.empty());
    auto again = run(io, buffer.async_force_flush(sh::as_result));
    EXPECT_EQ(again.error(), sh::errc::closed);
}

TEST(WriteBuffer, RunsOfUpsertsOfEveryLengthAreWritten) {
    // Multi-row INSERTs take 32 rows at a time: runs just under, at and over a multiple.
    for (int rows : {1, 31, 32, 33, 64, 65, 100}) {
        SCOPED_TRACE(rows);
        started_buffer t;
        auto& [dir, io, db, buffer] = t;
        for (int i = 0; i < rows; ++i)
            ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", i}, {"a", i}}, {"id"}));
        ASSERT_FALSE(buffer.buffer_delete("t", {{"id", 1000}})); // a row of another kind after them
        EXPECT_EQ(run(io, buffer.async_force_flush()), static_cast<std::size_t>(rows) + 1);
        EXPECT_EQ(run(io, db.async_query<int>("SELECT count(*) FROM t WHERE a = id")),
                  std::vector<int>{rows});
        run(io, buffer.async_stop());
    }
}

TEST(WriteBuffer, HigherPriorityTablesFlushFirst) {
    auto o = options();
    o.migrations.push_back(
        "CREATE TABLE flush_log(seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT);"
        "CREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO flush_log(tbl) VALUES('t'); END;"
        "CREATE TRIGGER email_log AFTER INSERT ON email BEGIN INSERT INTO flush_log(tbl) VALUES('email'); END;");
    auto bo = quiet();
    bo.priorities = {{"email", 10}};
    started_buffer t{bo, o};
    auto& [dir, io, db, buffer] = t;
    for (int i = 0; i < 5; ++i) {
        ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", i}}, {"id"}));
        ASSERT_FALSE(buffer.buffer_upsert("email", {{"id", i}, {"address", std::to_string(i)}}, {"id"}));
    }
    run(io, buffer.async_force_flush());
    auto order = run(io, db.async_query<std::string>("SELECT tbl FROM flush_log ORDER BY seq"));
    ASSERT_EQ(order.size(), 10u);
    EXPECT_EQ(std::count(order.begin(), order.begin() + 5, "email"), 5);
    run(io, buffer.async_stop());
}

TEST(WriteBuffer, RowsThatCanNeverBeWrittenBecomeDeadLettersAndTheOthersAreWritten) {
    auto o = quiet();
    std::vector<sh::dead_letter> reported;
    o.on_dead_letter = [&](const sh::dead_letter& d) { reported.push_back(d); };
    started_buffer t{o};
    auto& [dir, io, db, buffer] = t;
    for (int i = 1; i <= 5; ++i)
        ASSERT_FALSE(buffer.buffer_upsert("checked", {{"id", i}, {"n", i == 3 ? -1 : i}}, {"id"}));
    ASSERT_FALSE(buffer.buffer_upsert("strict_t", {{"id", 1}, {"n", "not a number"}}, {"id"}));
    ASSERT_FALSE(buffer.buffer_upsert("strict_t", {{"id", 2}, {"n", 2}}, {"id"}));
    // The forced flush wrote the 5 others, and says that it buried rows.
    EXPECT_EQ(run(io, buffer.async_force_flush(asio::as_tuple(asio::use_awaitable))),
              std::make_tuple(sh::error_code(sh::errc::rows_dead_lettered), std::size_t{5}));
    EXPECT_EQ(run(io, db.async_query<int>("SELECT id FROM checked ORDER BY id")),
              (std::vector<int>{1, 2, 4, 5}));
    EXPECT_EQ(run(io, db.async_query<int>("SELECT id FROM strict_t")), std::vector<int>{2});
    ASSERT_EQ(reported.size(), 2u);
    const auto dead = buffer.dead_letters();
    ASSERT_EQ(dead.size(), 2u);
    for (const auto& d : dead)
        EXPECT_EQ(d.error, sh::condition::constraint) << d.error.message();
    auto checked = std::find_if(dead.begin(), dead.end(), [](auto& d) { return d.table == "checked"; });
    ASSERT_NE(checked, dead.end());
    EXPECT_NE(checked->message.find("CHECK"), std::string::npos) << checked->message;
    EXPECT_EQ(buffer.metrics().dead_letters, 2u);
    EXPECT_EQ(buffer.metrics().pending, 0u);
    run(io, buffer.async_stop());
}

TEST(WriteBuffer, TwoBuffersWrittenFromOneThreadKeepTheirRowsApart) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("b.db"), options());
    sh::write_buffer first(db, quiet()), second(db, quiet());
    run(io, first.async_start());
    run(io, second.async_start());
    // The same names, alternating between the buffers.
    for (int i = 0; i < 10; ++i)
        ASSERT_FALSE((i % 3 ? first : second).buffer_upsert("t", {{"id", i}, {"a", i}}, {"id"}));
    EXPECT_EQ(first.metrics().pending, 6u);
    EXPECT_EQ(second.metrics().pending, 4u);
    EXPECT_EQ(run(io, second.async_force_flush()), 4u);
    EXPECT_EQ(run(io, db.async_query<int>("SELECT id FROM t ORDER BY id")),
              (std::vector<int>{0, 3, 6, 9}));
    run(io, first.async_stop());
    run(io, second.async_stop());
    EXPECT_EQ(run(io, db.async_query<int>("SELECT count(*) FROM t")), std::vector<int>{10});
}

TEST(WriteBuffer, RowsRewrittenWithValuesOfOtherSizesKeepTheLatestValues) {
    // Values that change size move within the buffer's storage, which is compacted now and
    // then; keys longer than a few bytes are stored apart from the row.
    auto o = quiet();
    o.batch_size = 64; // several chunks per flush
    started_buffer t{o};
    auto& [dir, io, db, buffer] = t;
    constexpr int keys = 300, passes = 40;
    std::map<int, std::string> expected_b;
    std::map<std::string, std::string> expected_name;
    for (int pass = 0; pass < passes; ++pass) {
        for (int k = 0; k < keys; ++k) {
            const std::string b(static_cast<std::size_t>((k * 7 + pass * 13) % 50),
                                static_cast<char>('a' + pass % 26));
            if ((k + pass) % 5 == 0) // changes some columns only: merged with what is pending
                ASSERT_FALSE(buffer.buffer_update("t", {{"id", k}}, {{"b", b}}));
            else
                ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", k}, {"a", pass}, {"b", b}}, {"id"}));
            if ((k + pass) % 5 != 0 || expected_b.contains(k))
                expected_b[k] = b;
            const std::string address = "someone-" + std::to_string(k) + "@a-long-domain.example";
            const std::string name = std::to_string(pass * keys + k);
            ASSERT_FALSE(buffer.buffer_upsert(
                "email", {{"id", k}, {"address", address}, {"name", name}}, {"address"}));
            expected_name[address] = name;
        }
    }
    EXPECT_EQ(buffer.metrics().pending, 2u * keys);
    run(io, buffer.async_force_flush());
    const auto rows =
        run(io, db.async_query<std::tuple<int, std::string>>("SELECT id, b FROM t ORDER BY id"));
    ASSERT_EQ(rows.size(), expected_b.size());
    for (const auto& [id, b] : rows)
        EXPECT_EQ(b, expected_b.at(id)) << "id " << id;
    const auto emails = run(io, db.async_query<std::tuple<std::string, std::string>>(
                                    "SELECT address, name FROM email"));
    ASSERT_EQ(emails.size(), expected_name.size());
    for (const auto& [address, name] : emails)
        EXPECT_EQ(name, expected_name.at(address)) << address;
    run(io, buffer.async_stop());
}

TEST(WriteBuffer, AFailedChunkKeepsItsRowsAndTheRestWhileEarlierChunksStayWritten) {
    temp_dir dir;
    asio::io_context io;
    auto o = options();
    // Inserting row 55 fails once with an I/O error, as a failing disk would.
    o.migrations.push_back(
        "CREATE TRIGGER t_fail AFTER INSERT ON t WHEN new.id = 55 BEGIN SELECT fail_once(); END;");
    auto db = open_database(io, dir.file("b.db"), o);
    static std::atomic<bool> failed;
    failed = false;
    run(io, db.async_write([](sh::connection& c) {
        sqlite3_create_function_v2(
            c.native_handle(), "fail_once", 0, SQLITE_UTF8, nullptr,
            [](sqlite3_context* ctx, int, sqlite3_value**) {
                if (!failed.exchange(true))
                    sqlite3_result_error_code(ctx, SQLITE_IOERR);
            },
            nullptr, nullptr, nullptr);
    }));
    auto bo = quiet();
    bo.batch_size = 10;
    sh::write_buffer buffer(db, bo);
    run(io, buffer.async_start());
    for (int i = 99; i >= 0; --i) // written in key order whatever the order they came in
        ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", i}, {"a", i}}, {"id"}));
    auto r = run(io, buffer.async_force_flush(sh::as_result));
    EXPECT_EQ(r.error(), sh::condition::io_error) << r.error().message();
    // Chunks 0-49 were written; the one with row 55 and every later one went back.
    EXPECT_EQ(buffer.metrics().flushed, 50u);
    EXPECT_EQ(buffer.metrics().pending, 50u);
    EXPECT_EQ(run(io, db.async_query<int>("SELECT max(id) FROM t")), std::vector<int>{49});
    ASSERT_FALSE(buffer.buffer_update("t", {{"id", 77}}, {{"a", 770}})); // merges over it
    EXPECT_EQ(buffer.metrics().pending, 50u);
    EXPECT_EQ(run(io, buffer.async_force_flush()), 50u);
    EXPECT_EQ(run(io, db.async_query<int>("SELECT count(*) FROM t WHERE a = id")),
              std::vector<int>{99});
    EXPECT_EQ(run(io, db.async_query<int>("SELECT a FROM t WHERE id = 77")), std::vector<int>{770});
    run(io, buffer.async_stop());
}

TEST(WriteBuffer, ADeadLetterInOneChunkLeavesTheOtherChunksWritten) {
    auto o = quiet();
    o.batch_size = 5;
    started_buffer t{o};
    auto& [dir, io, db, buffer] = t;
    for (int i = 1; i <= 50; ++i)
        ASSERT_FALSE(buffer.buffer_upsert("checked", {{"id", i}, {"n", i == 23 ? -1 : i}}, {"id"}));
    EXPECT_EQ(run(io, buffer.async_force_flush(asio::as_tuple(asio::use_awaitable))),
              std::make_tuple(sh::error_code(sh::errc::rows_dead_lettered), std::size_t{49}));
    EXPECT_EQ(run(io, db.async_query<int>("SELECT count(*) FROM checked")), std::vector<int>{49});
    ASSERT_EQ(buffer.dead_letters().size(), 1u);
    EXPECT_EQ(buffer.dead_letters()[0].values.at(0).v, sh::value(23));
    EXPECT_EQ(buffer.metrics().flushes, 10u);
    // The next flush buried nothing: plain success.
    ASSERT_FALSE(buffer.buffer_upsert("checked", {{"id", 100}, {"n", 1}}, {"id"}));
    EXPECT_EQ(run(io, buffer.async_force_flush()), 1u);
    run(io, buffer.async_stop());
}

TEST(WriteBuffer, OtherWritesRunBetweenTheChunksOfAFlush) {
    auto o = options();
    o.migrations.push_back(
        "CREATE TABLE write_log(seq INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT);"
        "CREATE TRIGGER t_log AFTER INSERT ON t BEGIN"
        " INSERT INTO write_log(what) VALUES('row'); END;");
    auto bo = quiet();
    bo.batch_size = 10;
    started_buffer t{bo, o};
    auto& [dir, io, db, buffer] = t;
    constexpr int rows = 3000; // 300 chunks
    for (int i = 0; i < rows; ++i)
        ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", i}}, {"id"}));
    std::optional<std::size_t> written;
    asio::co_spawn(io, buffer.async_force_flush(),
                   [&](std::exception_ptr, std::size_t n) { written = n; });
    // Once the flush is under way, a write of the application's own.
    run(io, until(io, [&] { return buffer.metrics().flushes > 0; }));
    run(io, db.async_execute("INSERT INTO write_log(what) VALUES('other')"));
    run(io, until(io, [&] { return written.has_value(); }));
    EXPECT_EQ(written, static_cast<std::size_t>(rows));
    // Chunks ran both before and after it: it did not wait for the whole flush.
    const auto at = run(io, db.async_query<int>("SELECT seq FROM write_log WHERE what = 'other'"));
    ASSERT_EQ(at.size(), 1u);
    const auto after = run(io, db.async_query<int>("SELECT count(*) FROM write_log WHERE seq > ?",
                                                   sh::args(at[0])));
    EXPECT_GT(at[0], 1);
    EXPECT_GT(after.at(0), 0);
    run(io, buffer.async_stop());
}

TEST(WriteBuffer, UnknownNamesAndBadKeysAreRefusedAtOnce) {
    started_buffer t;
    auto& [dir, io, db, buffer] = t;
    sh::diagnostics diag;
    EXPECT_EQ(buffer.buffer_upsert("nope", {{"id", 1}}, {"id"}, &diag), sh::errc::invalid_identifier);
    EXPECT_NE(diag.message.find("nope"), std::string::npos);
    EXPECT_EQ(buffer.buffer_upsert("t", {{"id", 1}, {"zzz", 1}}, {"id"}, &diag),
              sh::errc::invalid_identifier);
    EXPECT_NE(diag.message.find("zzz"), std::string::npos);
    EXPECT_EQ(buffer.buffer_upsert("t", {{"id", 1}, {"a", 1}}, {"a"}), sh::errc::invalid_key); // not unique
    EXPECT_EQ(buffer.buffer_upsert("t", {{"id", sh::null}}, {"id"}), sh::errc::invalid_key);
    EXPECT_EQ(buffer.buffer_upsert("t", {{"a", 1}}, {"id"}), sh::errc::invalid_key);
    EXPECT_EQ(buffer.buffer_update("t", {{"id", 1}}, {{"id", 2}}), sh::errc::invalid_key);
    EXPECT_EQ(buffer.buffer_update("t", {{"id", 1}}, {}), sh::errc::invalid_identifier);
    EXPECT_EQ(buffer.buffer_upsert("t", {{"id", 1}, {"a", 1}, {"A", 2}}, {"id"}),
              sh::errc::invalid_identifier);
    // A partial unique index cannot be an upsert's conflict target: refused here, not dead later.
    EXPECT_EQ(buffer.buffer_upsert("account", {{"login", "x"}, {"active", 1}}, {"login"}, &diag),
              sh::errc::invalid_key);
    // NaN binds as NULL: every write would make a new row.
    EXPECT_EQ(buffer.buffer_upsert("t", {{"id", std::nan("")}, {"a", 1}}, {"id"}, &diag),
              sh::errc::invalid_key);
    EXPECT_NE(diag.message.find("NaN"), std::string::npos) << diag.message;
    EXPECT_FALSE(buffer.buffer_upsert("email", {{"address", "a@b"}, {"name", "n"}}, {"address"}));
    EXPECT_EQ(buffer.metrics().pending, 1u); // only the valid one
    run(io, buffer.async_stop());
}

TEST(WriteBuffer, InjectionAttemptsAreRefusedOrStoredAsPlainValues) {
    started_buffer t;
    auto& [dir, io, db, buffer] = t;
    EXPECT_EQ(buffer.buffer_upsert("t; DROP TABLE t; --", {{"id", 1}}, {"id"}),
              sh::errc::invalid_identifier);
    EXPECT_EQ(buffer.buffer_upsert("t", {{"id", 1}, {"b\" = 1; DROP TABLE t; --", 1}}, {"id"}),
              sh::errc::invalid_identifier);
    EXPECT_EQ(buffer.buffer_delete("t", {{"id) OR (1=1", 1}}), sh::errc::invalid_identifier);
    const std::string evil = "'); DROP TABLE t; --";
    ASSERT_FALSE(buffer.buffer_upsert("email", {{"id", 1}, {"address", evil}, {"name", evil}}, {"id"}));
    ASSERT_FALSE(buffer.buffer_update("email", {{"address", evil}}, {{"name", "changed"}}));
    run(io, buffer.async_force_flush());
    auto rows = run(io, db.async_query<std::tuple<std::string, std::string>>(
                            "SELECT address, name FROM email"));
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(std::get<0>(rows[0]), evil);
    EXPECT_EQ(std::get<1>(rows[0]), "changed");
    EXPECT_EQ(run(io, db.async_query<int>("SELECT count(*) FROM sqlite_schema WHERE name = 't'")),
              std::vector<int>{1});
    run(io, buffer.async_stop());
}

TEST(WriteBuffer, AsyncWritesSeeTablesCreatedAfterStart) {
    started_buffer t;
    auto& [dir, io, db, buffer] = t;
    ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", 1}, {"a", 1}}, {"id"}));
    run(io, db.async_execute("CREATE TABLE later(id INTEGER PRIMARY KEY, v TEXT)"));
    EXPECT_EQ(buffer.buffer_upsert("later", {{"id", 1}}, {"id"}), sh::errc::invalid_identifier);
    run(io, buffer.async_buffer_upsert("later", {{"id", 1}, {"v", "x"}}, {"id"}));
    // Reading the schema again drops what was worked out for the names before: the same
    // write is checked again and lands on the same pending row.
    ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", 1}, {"a", 2}}, {"id"}));
    EXPECT_EQ(buffer.metrics().pending, 2u);
    auto missing = run(io, buffer.async_buffer_upsert("still_missing", {{"id", 1}}, {"id"}, sh::as_result));
    EXPECT_EQ(missing.error(), sh::errc::invalid_identifier);
    run(io, buffer.async_force_flush());
    EXPECT_EQ(run(io, db.async_query<std::string>("SELECT v FROM later")), std::vector<std::string>{"x"});
    EXPECT_EQ(run(io, db.async_query<int>("SELECT a FROM t WHERE id = 1")), std::vector<int>{2});
    run(io, buffer.async_stop());
}

TEST(WriteBuffer, BackpressureWaitsForRoomOrFailsAtOnce) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("b.db"), options());
    auto o = quiet();
    o.max_pending = 10;
    o.batch_size = 10;
    sh::write_buffer waiting(db, o);
    run(io, waiting.async_start());
    for (int i = 0; i < 10; ++i)
        ASSERT_FALSE(waiting.buffer_upsert("t", {{"id", i}}, {"id"}));
    EXPECT_EQ(waiting.buffer_upsert("t", {{"id", 100}}, {"id"}), sh::errc::buffer_full);
    EXPECT_FALSE(waiting.buffer_update("t", {{"id", 3}}, {{"a", 3}})); // merges: needs no room
    // The full batch wakes the flusher, which makes room for the waiting writer.
    run(io, waiting.async_buffer_upsert("t", {{"id", 100}}, {"id"}));
    run(io, waiting.async_stop());
    EXPECT_EQ(run(io, db.async_query<int>("SELECT count(*) FROM t")), std::vector<int>{11});

    o.fail_when_full = true;
    o.max_pending = 5;
    o.batch_size = 5;
    sh::write_buffer failing(db, o);
    run(io, failing.async_start());
    // The writer is kept busy, so the flush the full batch starts cannot make room yet.
    std::promise<void> release;
    auto released = release.get_future().share();
    db.async_write([released](sh::connection&) { released.wait_for(30s); }, [](sh::error_code) {});
    for (int i = 0; i < 5; ++i)
        ASSERT_FALSE(failing.buffer_upsert("t", {{"id", 200 + i}}, {"id"}));
    auto r = run(io, failing.async_buffer_upsert("t", {{"id", 300}}, {"id"}, sh::as_result));
    EXPECT_EQ(r.error(), sh::errc::buffer_full);
    release.set_value();
    run(io, failing.async_stop());
    EXPECT_EQ(run(io, db.async_query<int>("SELECT count(*) FROM t")), std::vector<int>{16});
}

TEST(WriteBuffer, ALockHeldByAnotherProcessKeepsTheRowsForALaterFlush) {
    auto o = options();
    o.lock_timeout = 100ms;
    started_buffer t{quiet(), o};
    auto& [dir, io, db, buffer] = t;
    for (int i = 0; i < 20; ++i)
        ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", i}, {"a", i}}, {"id"}));
    {
        sh::test::child_process holder({SQLITE_HYBRID_TEST_HELPER, "hold-lock", dir.file("b.db"), "1000"}, true);
        ASSERT_EQ(holder.read_line(), "locked");
        auto failed = run(io, buffer.async_force_flush(sh::as_result));
        EXPECT_TRUE(sh::is_lock_error(failed.error())) << failed.error().message();
        // Writes that arrive meanwhile merge over the kept rows (newer wins).
        ASSERT_FALSE(buffer.buffer_update("t", {{"id", 5}}, {{"a", 500}}));
        EXPECT_EQ(buffer.metrics().pending, 20u);
        EXPECT_GE(buffer.metrics().failures, 1u);
        EXPECT_EQ(holder.wait(), 0);
    }
    EXPECT_EQ(run(io, buffer.async_force_flush()), 20u);
    EXPECT_EQ(run(io, db.async_query<int>("SELECT count(*) FROM t")), std::vector<int>{20});
    EXPECT_EQ(run(io, db.async_query<int>("SELECT a FROM t WHERE id = 5")), std::vector<int>{500});
    run(io, buffer.async_stop());
}

TEST(WriteBuffer, StopReportsRowsItCouldNotWrite) {
    auto o = options();
    o.lock_timeout = 50ms;
    auto bo = quiet();
    bo.retry.max_retries = 1;
    bo.retry.base_delay = 10ms;
    started_buffer t{bo, o};
    auto& [dir, io, db, buffer] = t;
    ASSERT_FALSE(buffer.buffer_upsert("t", {{"id", 1}, {"b", "kept"}}, {"id"}));
    sh::test::child_process holder({SQLITE_HYBRID_TEST_HELPER, "hold-lock", dir.file("b.db"), "3000"}, true);
    ASSERT_EQ(holder.read_line(), "locked");
    sh::stop_report report;
    auto ec = run(io, [&]() -> awaitable<sh::error_code> {
        auto [e, r] = co_await buffer.async_stop(asio::as_tuple(asio::use_awaitable));
        report = std::move(r);
        co_return e;
    }());
    EXPECT_TRUE(sh::is_lock_error(ec)) << ec.message();
    ASSERT_EQ(report.unwritten.size(), 1u);
    EXPECT_EQ(report.unwritten[0].table, "t");
    EXPECT_EQ(report.unwritten[0].values.size(), 2u);
    EXPECT_EQ(holder.wait(), 0);
}

TEST(WriteBuffer, RowsReportedFlushedSurviveAKill) {
    temp_dir dir;
    const auto path = dir.file("kill.db");
    std::mt19937 rng(std::random_device{}());
    for (int iteration = 0; iteration < 5; ++iteration) {
        sh::test::child_process child({SQLITE_HYBRID_TEST_HELPER, "buffer-stream", path}, true);
        long long flushed_up_to = -1;
        const int lines = 3 + static_cast<int>(rng() % 20);
        for (int i = 0; i < lines; ++i) {
            const auto line = child.read_line();
            if (line.empty())
                break;
            flushed_up_to = std::stoll(line);
        }
        child.kill();
        EXPECT_EQ(child.wait(), -1); // killed, not exited
        auto c = sh::connection::open(path, sh::open_mode::read_write, {}).value();
        EXPECT_EQ(c.query_one<std::string>("PRAGMA integrity_check").value(), "ok");
        const auto present = c.query_one<long long>(
                                 "SELECT count(*) FROM kv WHERE k <= ? AND k >= 0", flushed_up_to)
                                 .value();
        EXPECT_EQ(present, flushed_up_to + 1) << "iteration " << iteration;
        c.execute("DELETE FROM kv").value();
    }
}

} // namespace
