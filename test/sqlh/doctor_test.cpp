// SPDX-License-Identifier: BSL-1.0
// sqlh doctor against real files and a real lock holder: the exit status, the JSON report, and
// that the file is left as it was.
#include "sqlh/run_sqlh.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sqlite_hybrid/database.hpp>
#include <stdexcept>
#include <thread>

namespace sqlite_hybrid::test {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;

// A plain sqlite3 connection, as another program would hold one.
class raw_connection {
public:
    explicit raw_connection(const std::string& path) {
        if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK)
            throw std::runtime_error("cannot open " + path);
    }
    raw_connection(const raw_connection&) = delete;
    raw_connection& operator=(const raw_connection&) = delete;
    ~raw_connection() { sqlite3_close(db_); }

    void exec(const char* sql) {
        char* error = nullptr;
        if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
            const std::string message = error ? error : "?";
            sqlite3_free(error);
            throw std::runtime_error(std::string(sql) + ": " + message);
        }
    }
    // Steps a query once and keeps the statement open: its read transaction stays open too.
    void hold_read(const char* sql) {
        ASSERT_EQ(sqlite3_prepare_v2(db_, sql, -1, &open_read_, nullptr), SQLITE_OK);
        ASSERT_EQ(sqlite3_step(open_read_), SQLITE_ROW);
    }
    void end_read() {
        sqlite3_finalize(open_read_);
        open_read_ = nullptr;
    }

private:
    sqlite3* db_ = nullptr;
    sqlite3_stmt* open_read_ = nullptr;
};

// An io_context running on a thread of its own, so that futures can be waited for.
struct running_io {
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
    std::thread thread{[this] { io.run(); }};
    ~running_io() {
        guard.reset();
        thread.join();
    }
};

struct doctor_run {
    int status = -1;
    json::object report;
    std::string err;
};

doctor_run doctor_json(const std::string& path) {
    const auto r = run_sqlh({"doctor", "--json", path});
    doctor_run d{r.status, {}, r.err};
    json::error_code ec;
    auto v = json::parse(r.out, ec);
    EXPECT_FALSE(ec) << "not JSON: " << r.out << r.err;
    if (!ec && v.is_object())
        d.report = v.as_object();
    return d;
}

// The row named `name`; an empty object (and a failure) when it is missing.
json::object check_named(const doctor_run& d, std::string_view name) {
    if (const auto* checks = d.report.if_contains("checks"))
        for (const auto& c : checks->as_array())
            if (c.as_object().at("name").as_string() == name)
                return c.as_object();
    ADD_FAILURE() << "no check named " << name;
    return {};
}

std::string field(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool ok(const json::object& check) {
    const auto* v = check.if_contains("ok");
    return v && v->as_bool();
}

void create_rollback_file(const std::string& path) {
    raw_connection c(path);
    c.exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES(1, 'one')");
}

TEST(Doctor, FileOpenedByTheLibraryIsHealthyWhileTheDatabaseRuns) {
    temp_dir dir;
    const auto path = dir.file("app.db");
    running_io io;
    database_options o;
    o.migrations = {"CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT)"};
    o.log = null_logger();
    auto db = database::async_open(io.io.get_executor(), path, o, asio::use_future).get();
    db.async_execute("INSERT INTO kv VALUES(1, 'a')", {}, asio::use_future).get();

    const auto d = doctor_json(path);
    EXPECT_EQ(d.status, 0) << d.err;
    EXPECT_EQ(field(d.report, "status"), "healthy");
    EXPECT_EQ(d.report.at("findings").as_int64(), 0);
    EXPECT_EQ(field(check_named(d, "journal_mode"), "value"), "wal");
    EXPECT_EQ(field(check_named(d, "write_lock"), "value"), "free");
    EXPECT_EQ(field(check_named(d, "user_version"), "value"), "1");
    const auto& wal = d.report.at("wal").as_object();
    EXPECT_GT(wal.at("file_bytes").as_int64(), 0);
    EXPECT_EQ(wal.at("log_frames"), wal.at("checkpointed_frames"));
    // Per-connection rows compare against the library's own defaults.
    EXPECT_EQ(field(check_named(d, "busy_timeout"), "expected"),
              std::to_string(connection_options{}.busy_timeout.count()) + " ms");
    EXPECT_EQ(field(check_named(d, "foreign_keys"), "scope"), "connection");

    // The database goes on working, with its data as it was.
    db.async_execute("INSERT INTO kv VALUES(2, 'b')", {}, asio::use_future).get();
    EXPECT_EQ(db.async_query<int>("SELECT count(*) FROM kv", {}, asio::use_future).get(),
              std::vector<int>{2});
    db.async_close(asio::use_future).get();
}

TEST(Doctor, WalFileFromPlainSqliteIsHealthyAndTheReportSaysSo) {
    temp_dir dir;
    const auto path = dir.file("plain.db");
    raw_connection c(path);
    c.exec("PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES(1)");
    const auto r = run_sqlh({"doctor", path});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("healthy: no findings"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("journal_mode"), std::string::npos);
    EXPECT_EQ(r.out.find("finding\n"), std::string::npos) << r.out; // no row's status
}

TEST(Doctor, RollbackJournalFileIsAFindingAndStaysUntouched) {
    temp_dir dir;
    const auto path = dir.file("rollback.db");
    create_rollback_file(path);
    const auto before = read_whole_file(path);

    const auto d = doctor_json(path);
    EXPECT_EQ(d.status, 1) << d.err;
    EXPECT_EQ(field(d.report, "status"), "findings");
    EXPECT_EQ(d.report.at("findings").as_int64(), 1);
    const auto mode = check_named(d, "journal_mode");
    EXPECT_EQ(field(mode, "value"), "delete");
    EXPECT_EQ(field(mode, "expected"), "wal");
    EXPECT_EQ(field(mode, "status"), "finding");
    EXPECT_FALSE(ok(mode));
    EXPECT_NE(field(mode, "advice").find("journal_mode=wal"), std::string::npos);
    EXPECT_EQ(field(check_named(d, "write_lock"), "value"), "free");
    EXPECT_EQ(field(check_named(d, "wal_checkpoint"), "status"), "skipped");
    EXPECT_TRUE(d.report.at("wal").is_null());

    // The lock probe and the reads wrote nothing and left no journal behind.
    EXPECT_TRUE(read_whole_file(path) == before) << "the file changed";
    EXPECT_FALSE(fs::exists(path + "-journal"));
    EXPECT_FALSE(fs::exists(path + "-wal"));

    const auto text = run_sqlh({"doctor", path});
    EXPECT_EQ(text.status, 1);
    EXPECT_NE(text.out.find("1 finding:\n1. journal_mode: "), std::string::npos) << text.out;
}

TEST(Doctor, WriteLockHeldByAnotherProcessIsAFinding) {
    temp_dir dir;
    const auto path = dir.file("locked.db");
    {
        raw_connection c(path);
        c.exec("PRAGMA journal_mode=WAL; CREATE TABLE t(x)");
    }
    child_process holder({SQLITE_HYBRID_TEST_HELPER, "hold-lock", path, "30000"}, true);
    ASSERT_EQ(holder.read_line(), "locked");

    const auto d = doctor_json(path);
    const auto text = run_sqlh({"doctor", path});
    holder.kill();
    holder.wait();

    EXPECT_EQ(d.status, 1) << d.err;
    EXPECT_EQ(d.report.at("findings").as_int64(), 1);
    const auto lock = check_named(d, "write_lock");
    EXPECT_EQ(field(lock, "value"), "held by another connection or process");
    EXPECT_EQ(field(lock, "scope"), "now");
    EXPECT_FALSE(ok(lock));
    EXPECT_NE(field(lock, "advice").find("fuser"), std::string::npos);
    EXPECT_TRUE(ok(check_named(d, "journal_mode")));
    EXPECT_EQ(text.status, 1);
    EXPECT_NE(text.out.find("1. write_lock: "), std::string::npos) << text.out;

    // Once the holder is gone, the lock is free again.
    EXPECT_EQ(doctor_json(path).status, 0);
}

TEST(Doctor, ReaderOnAnOldSnapshotLeavesFramesTheCheckpointCannotCopy) {
    temp_dir dir;
    const auto path = dir.file("snapshot.db");
    raw_connection writer(path);
    writer.exec("PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES(1)");
    raw_connection reader(path);
    reader.hold_read("SELECT x FROM t");
    writer.exec("INSERT INTO t VALUES(2); INSERT INTO t VALUES(3)");

    const auto d = doctor_json(path);
    EXPECT_EQ(d.status, 1) << d.err;
    const auto checkpoint = check_named(d, "wal_checkpoint");
    EXPECT_EQ(field(checkpoint, "status"), "finding");
    EXPECT_NE(field(checkpoint, "advice").find("read transaction"), std::string::npos);
    const auto& wal = d.report.at("wal").as_object();
    EXPECT_GT(wal.at("log_frames").as_int64(), wal.at("checkpointed_frames").as_int64());

    reader.end_read();
    EXPECT_EQ(doctor_json(path).status, 0);
}

TEST(Doctor, HotJournalIsReportedAndNotRolledBack) {
    temp_dir dir;
    const auto live = dir.file("live.db");
    const auto crashed = dir.file("crashed.db");
    {
        // A copy taken in the middle of a big transaction looks like a writer that crashed:
        // changed pages in the file, their old content in the journal, no lock held.
        raw_connection c(live);
        c.exec("CREATE TABLE t(x); INSERT INTO t VALUES(1); PRAGMA cache_size=1; BEGIN;"
               "INSERT INTO t WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
               "WHERE i < 2000) SELECT randomblob(500) FROM n");
        fs::copy_file(live, crashed);
        fs::copy_file(live + "-journal", crashed + "-journal");
        c.exec("ROLLBACK");
    }
    const auto file_before = read_whole_file(crashed);
    const auto journal_before = read_whole_file(crashed + "-journal");

    const auto d = doctor_json(crashed);
    EXPECT_EQ(d.status, 1) << d.err;
    const auto hot = check_named(d, "hot_journal");
    EXPECT_EQ(field(hot, "status"), "finding");
    EXPECT_NE(field(hot, "advice").find("Never delete"), std::string::npos);
    EXPECT_EQ(field(check_named(d, "journal_mode"), "value"), "delete");
    EXPECT_EQ(field(check_named(d, "page_size"), "value"), "4096 bytes");

    EXPECT_TRUE(read_whole_file(crashed) == file_before) << "the journal was rolled back";
    EXPECT_TRUE(read_whole_file(crashed + "-journal") == journal_before) << "the journal changed";
}

TEST(Doctor, MissingFileIsNotCreated) {
    temp_dir dir;
    const auto path = dir.file("missing.db");
    const auto r = run_sqlh({"doctor", path});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("no such file"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty());

    const auto d = doctor_json(path);
    EXPECT_EQ(d.status, 2);
    EXPECT_EQ(field(d.report, "status"), "error");
    EXPECT_NE(field(d.report, "error").find("no such file"), std::string::npos);
    EXPECT_TRUE(d.report.at("checks").as_array().empty());

    for (const char* suffix : {"", "-journal", "-wal", "-shm"})
        EXPECT_FALSE(fs::exists(path + suffix)) << suffix;
}

TEST(Doctor, NonDatabaseFileCannotBeInspected) {
    temp_dir dir;
    const auto path = dir.file("notes.txt");
    {
        std::ofstream out(path);
        out << "these are notes, not a database\n";
    }
    const auto before = read_whole_file(path);
    const auto r = run_sqlh({"doctor", path});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("file is not a database"), std::string::npos) << r.err;
    EXPECT_EQ(doctor_json(path).status, 2);
    EXPECT_EQ(read_whole_file(path), before);

    const auto directory = run_sqlh({"doctor", dir.path().string()});
    EXPECT_EQ(directory.status, 2);
    EXPECT_NE(directory.err.find("is a directory"), std::string::npos) << directory.err;
}

TEST(Doctor, InvalidOptionsAreUsageErrors) {
    temp_dir dir;
    const auto path = dir.file("t.db");
    create_rollback_file(path);
    const auto unknown = run_sqlh({"doctor", "--frobnicate", path});
    EXPECT_EQ(unknown.status, 2);
    EXPECT_NE(unknown.err.find("--frobnicate"), std::string::npos) << unknown.err;
    const auto no_file = run_sqlh({"doctor"});
    EXPECT_EQ(no_file.status, 2);
    EXPECT_NE(no_file.err.find("FILE"), std::string::npos) << no_file.err;
    const auto help = run_sqlh({"doctor", "--help"});
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.out.find("--json"), std::string::npos);
}

} // namespace
} // namespace sqlite_hybrid::test
