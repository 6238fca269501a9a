// SPDX-License-Identifier: BSL-1.0
// I/O faults while a database opens: the writer creates the file, switches it to WAL, applies
// the pragmas and the migrations, then the readers open. The open either succeeds with a
// database that works or fails with a clear error; either way the file stays sound and the
// next open (without faults) finds every migration applied exactly once.
#include "reliability/fault_points.hpp"
#include "support/run.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>

#include <gtest/gtest.h>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using namespace sh::test;

namespace {

sh::database_options options(std::size_t migrations = 2) {
    sh::database_options o;
    o.readers = 2;
    o.log = sh::null_logger();
    o.migrations = {"CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
                    "CREATE INDEX items_name ON items(name);"
                    "INSERT INTO items(id, name) VALUES(1000, 'from migration 2');"};
    o.migrations.resize(migrations);
    return o;
}

// Opens without faults and checks the file: sound, fully migrated, `rows` items besides the
// migration's own.
void expect_sound_and_migrated(const std::string& path, int rows) {
    {
        asio::io_context io;
        auto db = open_database(io, path, options());
        run(io, db.async_close());
    }
    auto c = open_plain(path);
    EXPECT_EQ(c.query_one<std::string>("PRAGMA integrity_check").value(), "ok");
    EXPECT_EQ(c.query_one<int>("PRAGMA user_version").value(), 2);
    EXPECT_EQ(c.query_one<int>("SELECT count(*) FROM items WHERE id = 1000").value(), 1);
    EXPECT_EQ(c.query_one<int>("SELECT count(*) FROM items WHERE id < 1000").value(), rows);
}

// The open succeeded despite the faults (or without reaching one): the database must work.
void expect_working(asio::io_context& io, sh::database& db) {
    auto w = run(io, db.async_execute("INSERT INTO items(id, name) VALUES(1, 'after open')", {},
                                      sh::as_result));
    EXPECT_TRUE(w) << w.error().message();
    auto n =
        run(io, db.async_query<int>("SELECT count(*) FROM items WHERE id = 1", {}, sh::as_result));
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(n.value(), std::vector<int>{1});
    run(io, db.async_close());
}

// Opening failed: with a clear error and a message saying why. A migration step that hit the
// fault reports the I/O error itself (migration_failed is for SQL that SQLite refused).
void expect_clear_open_error(const sh::error_code& ec, const sh::diagnostics& diag) {
    EXPECT_TRUE(is_clear_io_error(ec)) << ec.message() << ": " << diag.message;
    EXPECT_FALSE(diag.message.empty()) << ec.message();
}

// Opens `path` through the fault VFS with the plan armed, then checks what the open left: a
// working database or a clear error, and a sound, fully migrated file (`rows` items kept).
bool open_under_faults(const fault_point& point, int rows) {
    asio::io_context io;
    sh::diagnostics diag;
    auto [opened, hit] = with_faults(point.plan, [&] {
        return run(io, sh::database::async_open(io.get_executor(), fault_vfs::uri(point.path),
                                                options(), diag, sh::as_result));
    });
    if (opened) {
        expect_working(io, opened.value());
        ++rows;
    } else {
        point.errors.add(opened.error());
        expect_clear_open_error(opened.error(), diag);
    }
    expect_sound_and_migrated(point.path, rows);
    return hit;
}

class OpenFaults : public ::testing::TestWithParam<fault_mode> {};

TEST_P(OpenFaults, ANewFileOpensOrFailsCleanlyAtEveryFaultPoint) {
    run_fault_points("open a new file", GetParam(),
                     [&](const fault_point& point) { return open_under_faults(point, 0); });
}

// An existing file with data, one migration behind: the open migrates it under faults.
TEST_P(OpenFaults, AnExistingFileKeepsItsDataAtEveryFaultPoint) {
    run_fault_points(
        "open and migrate an existing file", GetParam(), [&](const fault_point& point) {
            {
                asio::io_context io;
                auto db = open_database(io, point.path, options(1));
                run(io, db.async_write([](sh::connection& c) -> sh::result<void> {
                    for (int id = 2; id < 50; ++id)
                        if (auto r = c.execute("INSERT INTO items(id, name) VALUES(?, 'kept')", id);
                            !r)
                            return r.error();
                    return sh::outcome::success();
                }));
                run(io, db.async_close());
            }
            return open_under_faults(point, 48);
        });
}

INSTANTIATE_TEST_SUITE_P(Reliability, OpenFaults,
                         ::testing::Values(transient_io, persistent_io, disk_full),
                         fault_mode_name);

} // namespace
