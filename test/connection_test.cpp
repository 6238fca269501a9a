// SPDX-License-Identifier: BSL-1.0
// The synchronous layer: opening, pragmas, statements, binding, reading and bad input.
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/connection.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <string_view>
#include <tuple>

namespace sh = sqlite_hybrid;
using sh::test::temp_dir;

namespace {

struct item {
    std::int64_t id = 0;
    std::string name;
    std::optional<double> price;
};

} // namespace

template <> struct sqlite_hybrid::row_traits<item> {
    static constexpr auto members = std::make_tuple(&item::id, &item::name, &item::price);
};

namespace {

sh::connection open_writer(const temp_dir& dir, sh::connection_options options = {}) {
    return sh::connection::open(dir.file("test.db"), sh::open_mode::read_write_create, options)
        .value();
}

TEST(Connection, AppliesDefaultPragmasAndReadsThemBack) {
    temp_dir dir;
    auto c = open_writer(dir);
    const auto& s = c.settings();
    EXPECT_EQ(s.journal_mode, "wal");
    EXPECT_EQ(s.busy_timeout, std::chrono::milliseconds(500));
    EXPECT_EQ(s.synchronous, 1); // NORMAL
    EXPECT_EQ(s.cache_size, -64000);
    EXPECT_EQ(s.temp_store, 2); // MEMORY
    EXPECT_EQ(s.mmap_size, 256 * 1024 * 1024);
    EXPECT_TRUE(s.foreign_keys);
    EXPECT_EQ(s.journal_size_limit, 64 * 1024 * 1024);
    EXPECT_FALSE(s.read_only);
}

// Every journal and synchronous mode is applied, and SQLite answers with the mode's name.
TEST(Connection, EveryJournalAndSynchronousModeIsAppliedByName) {
    using sh::journal_mode;
    using sh::synchronous_mode;
    for (const auto mode : {journal_mode::wal, journal_mode::delete_mode, journal_mode::truncate,
                            journal_mode::persist, journal_mode::memory, journal_mode::off}) {
        temp_dir dir;
        sh::connection_options o;
        o.journal = mode;
        o.require_wal = false;
        EXPECT_EQ(open_writer(dir, o).settings().journal_mode, sh::to_string(mode));
    }
    int level = 0;
    for (const auto mode : {synchronous_mode::off, synchronous_mode::normal, synchronous_mode::full,
                            synchronous_mode::extra}) {
        temp_dir dir;
        sh::connection_options o;
        o.synchronous = mode;
        EXPECT_EQ(open_writer(dir, o).settings().synchronous, level++) << sh::to_string(mode);
    }
    EXPECT_EQ(sh::to_string(synchronous_mode::full), "full");
}

TEST(Connection, SecureDeleteCanBeTurnedOff) {
    temp_dir dir;
    sh::connection_options o;
    o.secure_delete = false;
    EXPECT_FALSE(open_writer(dir, o).settings().secure_delete);
}

TEST(Connection, MemoryDatabaseSaysItIsNotWal) {
    auto c = sh::connection::open(":memory:", sh::open_mode::read_write_create, {}).value();
    EXPECT_EQ(c.settings().journal_mode, "memory");

    sh::connection_options strict;
    strict.require_wal = true;
    sh::diagnostics diag;
    auto r = sh::connection::open(":memory:", sh::open_mode::read_write_create, strict, &diag);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), sh::errc::wal_unavailable);
    EXPECT_NE(diag.message.find("memory"), std::string::npos) << diag.message;
}

TEST(Connection, BindsAndReadsEveryType) {
    temp_dir dir;
    auto c = open_writer(dir);
    ASSERT_TRUE(c.execute_script("CREATE TABLE t(i INTEGER, d REAL, s TEXT, b BLOB, n, f INTEGER)"));
    const sh::blob bytes{std::byte{0}, std::byte{1}, std::byte{255}};
    ASSERT_TRUE(c.execute("INSERT INTO t VALUES(?, ?, ?, ?, ?, ?)", std::int64_t{1} << 40, 2.5,
                          std::string("text"), bytes, sh::null, true));
    auto row = c.query_one<std::tuple<std::int64_t, double, std::string, sh::blob,
                                      std::optional<int>, bool>>("SELECT * FROM t")
                   .value();
    ASSERT_TRUE(row);
    EXPECT_EQ(std::get<0>(*row), std::int64_t{1} << 40);
    EXPECT_DOUBLE_EQ(std::get<1>(*row), 2.5);
    EXPECT_EQ(std::get<2>(*row), "text");
    EXPECT_EQ(std::get<3>(*row), bytes);
    EXPECT_FALSE(std::get<4>(*row).has_value());
    EXPECT_TRUE(std::get<5>(*row));
}

TEST(Connection, EmptyBlobStaysABlobNotNull) {
    auto c = sh::connection::open(":memory:", sh::open_mode::read_write_create, {}).value();
    auto type = c.query_one<std::string>("SELECT typeof(?)", sh::blob{}).value();
    EXPECT_EQ(type, "blob");
}

TEST(Connection, ReadsRowsIntoDescribedStructsAndScalars) {
    auto c = sh::connection::open(":memory:", sh::open_mode::read_write_create, {}).value();
    ASSERT_TRUE(c.execute_script("CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, price REAL);"
                                 "INSERT INTO item VALUES(1, 'a', 1.5), (2, 'b', NULL);"));
    auto items = c.query<item>("SELECT id, name, price FROM item ORDER BY id").value();
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[1].name, "b");
    EXPECT_EQ(items[0].price, 1.5);
    EXPECT_FALSE(items[1].price);
    EXPECT_EQ(c.query_one<std::int64_t>("SELECT count(*) FROM item").value(), 2);
    EXPECT_FALSE(c.query_one<std::int64_t>("SELECT id FROM item WHERE id = 99").value());
}

TEST(Connection, BindsByNameAndFromValueLists) {
    auto c = sh::connection::open(":memory:", sh::open_mode::read_write_create, {}).value();
    auto stmt = c.prepare("SELECT :a || @b").value();
    ASSERT_TRUE(stmt.bind(":a", "x"));
    ASSERT_TRUE(stmt.bind("@b", 7));
    ASSERT_TRUE(stmt.step().value());
    EXPECT_EQ(stmt.row<std::string>().value(), "x7");

    sh::params values{1, "two", 3.0};
    auto r = c.query_one<std::tuple<int, std::string, double>>("SELECT ?, ?, ?", values).value();
    EXPECT_EQ(std::get<1>(*r), "two");
}

TEST(Connection, TemporaryStringsAreCopiedNotDangling) {
    auto c = sh::connection::open(":memory:", sh::open_mode::read_write_create, {}).value();
    auto stmt = c.prepare("SELECT ?").value();
    ASSERT_TRUE(stmt.bind_values(std::string(1000, 'x') + "tail"));
    std::string overwrite(2000, 'y'); // reuses the freed heap block if the text dangled
    ASSERT_TRUE(stmt.step().value());
    EXPECT_EQ(stmt.row<std::string>().value(), std::string(1000, 'x') + "tail");
}

TEST(Connection, SyntaxErrorKeepsMessageAndOffset) {
    auto c = sh::connection::open(":memory:", sh::open_mode::read_write_create, {}).value();
    auto r = c.execute("SELECT * FROM nowhere");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), sh::condition::syntax_error);
    EXPECT_NE(c.last_diagnostics().message.find("nowhere"), std::string::npos)
        << c.last_diagnostics().message;
    EXPECT_EQ(c.last_diagnostics().sql, "SELECT * FROM nowhere");

    auto bad = c.execute("SELEKT 1");
    ASSERT_FALSE(bad);
    EXPECT_NE(c.last_diagnostics().message.find("syntax error"), std::string::npos);
    EXPECT_EQ(c.last_diagnostics().error_offset, 0);
}

TEST(Connection, WrongParameterCountIsAnError) {
    auto c = sh::connection::open(":memory:", sh::open_mode::read_write_create, {}).value();
    auto r = c.execute("SELECT ?, ?", 1);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), sh::errc::parameter_count);
    EXPECT_EQ(r.error(), sh::condition::misuse);
    EXPECT_NE(c.last_diagnostics().message.find("2 parameters"), std::string::npos);
}

TEST(Connection, TypeMismatchAndNullAreErrorsWithTheColumnNamed) {
    auto c = sh::connection::open(":memory:", sh::open_mode::read_write_create, {}).value();
    auto r = c.query_one<std::int64_t>("SELECT 'abc' AS word");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), sh::errc::type_mismatch);
    EXPECT_NE(c.last_diagnostics().message.find("word"), std::string::npos)
        << c.last_diagnostics().message;

    auto n = c.query_one<std::string>("SELECT NULL");
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error(), sh::errc::null_value);

    auto narrow = c.query_one<std::tuple<int, int>>("SELECT 1");
    ASSERT_FALSE(narrow);
    EXPECT_EQ(narrow.error(), sh::errc::column_out_of_range);
}

TEST(Connection, OnlyOneStatementPerPrepare) {
    auto c = sh::connection::open(":memory:", sh::open_mode::read_write_create, {}).value();
    EXPECT_TRUE(c.execute("SELECT 1; -- a comment"));
    auto r = c.execute("SELECT 1; SELECT 2");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), sh::errc::multiple_statements);
    EXPECT_FALSE(c.execute(""));
}

TEST(Connection, StatementCacheReusesIdleStatementsOnly) {
    sh::connection_options o;
    o.statement_cache_size = 2;
    auto c = sh::connection::open(":memory:", sh::open_mode::read_write_create, o).value();
    sqlite3_stmt* first = nullptr;
    {
        auto s = c.prepare("SELECT 1").value();
        first = s.native_handle();
        auto busy = c.prepare("SELECT 1").value(); // the cached one is in use: a fresh one
        EXPECT_NE(busy.native_handle(), first);
    }
    EXPECT_EQ(c.prepare("SELECT 1").value().native_handle(), first);
    // Evicted past capacity, and still correct afterwards.
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(c.query_one<int>("SELECT " + std::to_string(i)).value(), i);
}

TEST(Connection, ConstraintViolationsMapToConditions) {
    auto c = sh::connection::open(":memory:", sh::open_mode::read_write_create, {}).value();
    ASSERT_TRUE(c.execute_script("CREATE TABLE p(id INTEGER PRIMARY KEY, u TEXT UNIQUE NOT NULL);"
                                 "CREATE TABLE ch(p INTEGER REFERENCES p(id));"
                                 "INSERT INTO p VALUES(1, 'a');"));
    auto unique = c.execute("INSERT INTO p VALUES(2, 'a')");
    EXPECT_EQ(unique.error(), sh::condition::unique_violation);
    EXPECT_EQ(unique.error(), sh::condition::constraint);
    EXPECT_EQ(sh::primary_sqlite_code(unique.error()), SQLITE_CONSTRAINT);
    EXPECT_EQ(unique.error().value(), SQLITE_CONSTRAINT_UNIQUE); // the extended code is kept
    EXPECT_EQ(c.execute("INSERT INTO p VALUES(3, NULL)").error(), sh::condition::not_null_violation);
    EXPECT_EQ(c.execute("INSERT INTO p VALUES(1, 'z')").error(),
              sh::condition::primary_key_violation);
    EXPECT_EQ(c.execute("INSERT INTO ch VALUES(42)").error(), sh::condition::foreign_key_violation);
}

TEST(Connection, UnwritablePathFailsToOpen) {
    sh::diagnostics diag;
    auto r = sh::connection::open("/nonexistent-dir/sub/x.db", sh::open_mode::read_write_create, {},
                                  &diag);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), sh::condition::cannot_open);
    EXPECT_NE(diag.message.find("/nonexistent-dir"), std::string::npos) << diag.message;
}

TEST(Connection, NonDatabaseFileIsReportedAsCorrupt) {
    temp_dir dir;
    std::ofstream(dir.file("garbage.db")) << std::string(8192, 'g');
    auto r = sh::connection::open(dir.file("garbage.db"), sh::open_mode::read_write_create, {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), sh::condition::corrupt);
}

TEST(Connection, ReadOnlyConnectionRefusesWrites) {
    temp_dir dir;
    auto w = open_writer(dir);
    ASSERT_TRUE(w.execute_script("CREATE TABLE t(x)"));
    auto r = sh::connection::open(dir.file("test.db"), sh::open_mode::read_only, {}).value();
    EXPECT_TRUE(r.read_only());
    EXPECT_EQ(r.execute("INSERT INTO t VALUES(1)").error(), sh::condition::read_only);
    EXPECT_EQ(r.query_one<int>("SELECT count(*) FROM t").value(), 0);
}

TEST(Errors, CategoriesNameTheirCodes) {
    auto busy = sh::make_sqlite_error(SQLITE_BUSY_SNAPSHOT);
    EXPECT_TRUE(sh::is_lock_error(busy));
    EXPECT_EQ(busy, sh::condition::busy);
    EXPECT_EQ(busy, sh::condition::lock_error);
    EXPECT_NE(busy.message().find("locked"), std::string::npos) << busy.message();
    EXPECT_TRUE(sh::is_lock_error(sh::make_sqlite_error(SQLITE_LOCKED_SHAREDCACHE)));
    EXPECT_FALSE(sh::is_lock_error(sh::make_sqlite_error(SQLITE_CONSTRAINT)));
    EXPECT_FALSE(sh::make_sqlite_error(SQLITE_OK));

    sh::error_code lib = sh::errc::database_busy;
    EXPECT_EQ(lib, sh::condition::busy);
    EXPECT_FALSE(sh::is_lock_error(lib)); // exhausted retries are not retried again
    EXPECT_EQ(std::string(lib.category().name()), "sqlite_hybrid");
    EXPECT_FALSE(lib.message().empty());
    std::error_code std_ec = lib; // converts to std::error_code
    EXPECT_TRUE(std_ec);
}

} // namespace

namespace {

TEST(Connection, NoIntegerNarrowsSilentlyWhenReadOrBound) {
    temp_dir dir;
    auto c = open_writer(dir);
    c.execute_script("CREATE TABLE n(big INTEGER)").value();
    c.execute("INSERT INTO n VALUES (?)", std::int64_t{4294967297}).value();
    auto as_int = c.query_one<int>("SELECT big FROM n");
    EXPECT_EQ(as_int.error(), sh::errc::value_out_of_range);
    EXPECT_NE(c.last_diagnostics().message.find("'big'"), std::string::npos)
        << c.last_diagnostics().message;
    EXPECT_EQ(c.query_one<std::int64_t>("SELECT big FROM n").value(), 4294967297);
    EXPECT_EQ(c.query_one<int>("SELECT 9223372036854775807").error(), sh::errc::value_out_of_range);
    EXPECT_EQ(c.query_one<std::uint64_t>("SELECT -9223372036854775808").error(),
              sh::errc::value_out_of_range);
    EXPECT_EQ(c.query_one<std::uint8_t>("SELECT 255").value(), 255);
    EXPECT_EQ(c.query_one<std::uint8_t>("SELECT 256").error(), sh::errc::value_out_of_range);
    EXPECT_EQ(c.query_one<std::int8_t>("SELECT -128").value(), -128);
    // Binding: SQLite stores 64-bit signed integers, so the largest unsigned ones cannot go in.
    try {
        (void)sh::value(std::numeric_limits<std::uint64_t>::max());
        ADD_FAILURE() << "uint64_t max bound without an error";
    } catch (const sh::system_error& e) {
        EXPECT_EQ(e.code(), sh::errc::value_out_of_range);
    }
    EXPECT_EQ(sh::value(std::uint64_t{9223372036854775807ull}).as_int64(), INT64_MAX);
}

TEST(Connection, SqlWithAnEmbeddedNulIsRefusedAndRunsNothing) {
    temp_dir dir;
    auto c = open_writer(dir);
    c.execute_script("CREATE TABLE t(x)").value();
    using namespace std::string_view_literals;
    auto r = c.execute("INSERT INTO t VALUES (1)\0; DROP TABLE t"sv);
    EXPECT_EQ(r.error(), sh::condition::misuse);
    EXPECT_NE(c.last_diagnostics().message.find("NUL"), std::string::npos);
    EXPECT_EQ(c.execute_script("INSERT INTO t VALUES (2)\0 junk"sv).error(), sh::condition::misuse);
    EXPECT_EQ(c.query_one<int>("SELECT count(*) FROM t").value(), 0);
}

} // namespace
