// SPDX-License-Identifier: BSL-1.0
// sqlh bench as a user runs it: small runs of the real workload over real processes, read back
// through its JSON; the library's promises (no errors surfaced, no acknowledged row lost) checked
// on every run; usage errors.
#include "bench/child_report.hpp"
#include "sqlh/run_sqlh.hpp"
#include "support/postgres.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

namespace sqlite_hybrid::test {
namespace {

namespace json = boost::json;

json::object run_json(std::vector<std::string> args) {
    args.insert(args.begin(), {"bench", "--json"});
    const auto r = run_sqlh(args);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err.find('\033'), std::string::npos) << "progress line on a pipe";
    return json::parse(r.out).as_object();
}

const json::object& strategy(const json::object& doc, std::string_view name) {
    for (const auto& s : doc.at("strategies").as_array())
        if (s.at("strategy").as_string() == name)
            return s.as_object();
    throw std::runtime_error("no strategy " + std::string(name));
}

const json::object& op(const json::object& s, std::string_view name) {
    for (const auto& o : s.at("ops").as_array())
        if (o.at("op").as_string() == name)
            return o.as_object();
    throw std::runtime_error("no op " + std::string(name));
}

std::uint64_t count(const json::value& v) { return v.to_number<std::uint64_t>(); }

std::int64_t items_in(const std::string& path) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM items", -1, &stmt, nullptr);
    const std::int64_t n = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

TEST(SqlhBench, EveryStrategyRunsAndTheHybridLosesNothing) {
    temp_dir dir;
    const auto db = dir.file("kept.db");
    const auto html = dir.file("report.html");
    const auto doc = run_json({"--duration", "1", "--processes", "2", "--coroutines", "2",
                               "--workers", "1", "--db", db, "--report", html});

    EXPECT_GT(doc.at("baseline").at("api_write_per_s").to_number<double>(), 0);
    EXPECT_GT(doc.at("baseline").at("api_read_per_s").to_number<double>(), 0);
    EXPECT_EQ(doc.at("config").at("processes").to_number<int>(), 2);
    ASSERT_EQ(doc.at("strategies").as_array().size(), 4u);
    for (const char* name : {"naive", "busy_timeout", "seed", "hybrid"}) {
        const auto& s = strategy(doc, name);
        EXPECT_EQ(s.at("processes").to_number<int>(), 2) << name;
        EXPECT_EQ(s.at("ops").as_array().size(), 4u) << name;
        EXPECT_GT(s.at("rows_checked").to_number<std::uint64_t>(), 0u) << name;
        // SQLite itself never loses a committed row: whatever the strategy, a loss is a bug.
        EXPECT_EQ(count(s.at("rows_lost")), 0u) << name;
    }
    const auto& hybrid = strategy(doc, "hybrid");
    EXPECT_EQ(count(hybrid.at("errors")), 0u);
    const auto& writes = op(hybrid, "api_write");
    EXPECT_GT(count(writes.at("committed")), 0u);
    EXPECT_EQ(count(writes.at("errors")), 0u);
    EXPECT_GT(writes.at("p99_ms").to_number<double>(), 0);
    EXPECT_GT(count(op(hybrid, "api_read").at("committed")), 0u);
    EXPECT_GT(count(op(hybrid, "bulk_write").at("committed")), 0u);
    EXPECT_GT(count(op(hybrid, "log").at("committed")), 0u);
    // Every acknowledged API write and every acknowledged stats row was looked up.
    EXPECT_GE(count(hybrid.at("rows_checked")), count(writes.at("committed")));
    EXPECT_EQ(count(hybrid.at("metrics").at("buffer_unwritten")), 0u);

    // --db keeps the file: hybrid ran last, its acknowledged items are there.
    EXPECT_EQ(items_in(db), static_cast<std::int64_t>(count(writes.at("committed"))));
    // --report: a self-contained page with its charts.
    const auto page = read_whole_file(html);
    EXPECT_NE(page.find("<svg"), std::string::npos);
    EXPECT_NE(page.find("busy_timeout"), std::string::npos);
    EXPECT_EQ(page.find("<script"), std::string::npos);
    EXPECT_EQ(page.find("http://www.w3.org/2000/svg"), page.find("http"));
}

TEST(SqlhBench, HybridRidesOutAHeldLockAndSweeps) {
    const auto doc = run_json({"--strategy", "hybrid", "--duration", "1.5", "--processes", "2",
                               "--coroutines", "2", "--workers", "1", "--hold-lock", "0.5",
                               "--sweep"});
    ASSERT_EQ(doc.at("strategies").as_array().size(), 1u);
    const auto& hybrid = strategy(doc, "hybrid");
    EXPECT_EQ(count(hybrid.at("errors")), 0u) << json::serialize(hybrid);
    EXPECT_EQ(count(hybrid.at("rows_lost")), 0u);
    EXPECT_GE(hybrid.at("hold_lock").at("held_s").to_number<double>(), 0.5);
    const auto& sweep = doc.at("sweep").as_array();
    ASSERT_EQ(sweep.size(), 2u); // 1 and 2 processes
    EXPECT_EQ(sweep[0].at("processes").to_number<int>(), 1);
    EXPECT_EQ(sweep[1].at("processes").to_number<int>(), 2);
    for (const auto& p : sweep) {
        EXPECT_GT(p.at("api_write_per_s").to_number<double>(), 0);
        EXPECT_EQ(count(p.at("rows_lost")), 0u);
    }
}

TEST(SqlhBench, TheLockIsTakenAtRandomAndMemoryIsReported) {
    const auto doc = run_json({"--strategy", "hybrid", "--duration", "1.5", "--processes", "2",
                               "--coroutines", "2", "--workers", "1", "--hold-lock", "0.3",
                               "--lock-holds", "3"});
    const auto& hybrid = strategy(doc, "hybrid");
    const auto& hold = hybrid.at("hold_lock");
    EXPECT_EQ(hold.at("holds").to_number<int>(), 3);
    EXPECT_GT(hold.at("held_s").to_number<double>(), 0.09); // each at least a tenth of 0.3 s
    EXPECT_LT(hold.at("longest_s").to_number<double>(), 0.3 + 0.1);
    EXPECT_EQ(count(hybrid.at("errors")), 0u) << json::serialize(hybrid);
    EXPECT_EQ(count(hybrid.at("rows_lost")), 0u);
    const auto& rss = hybrid.at("rss_anon_mb").as_array();
    ASSERT_EQ(rss.size(), 2u);
    for (const auto& process : rss) {
        ASSERT_EQ(process.as_array().size(), 3u); // start, a quarter in, end
        for (const auto& mb : process.as_array())
            EXPECT_GT(mb.to_number<double>(), 0.5);
    }
}

// Latencies are kept for every call up to a bound, then as a uniform sample of that many.
TEST(SqlhBench, LatencySamplesStayBoundedAndUniform) {
    ::sqlh::bench::op_record r;
    constexpr std::int64_t calls = 3'000'000;
    for (std::int64_t ns = 1; ns <= calls; ++ns)
        r.succeeded(std::chrono::nanoseconds(ns));
    EXPECT_EQ(r.committed, static_cast<std::uint64_t>(calls));
    EXPECT_EQ(r.max_ns, calls);
    ASSERT_EQ(r.latencies_ns.size(), ::sqlh::bench::op_record::max_samples);
    auto sorted = r.latencies_ns;
    std::sort(sorted.begin(), sorted.end());
    const auto median = static_cast<double>(sorted[sorted.size() / 2]);
    EXPECT_NEAR(median, calls / 2.0, calls * 0.01);
    const auto late = std::count_if(sorted.begin(), sorted.end(),
                                     [](std::int64_t ns) { return ns > 2 * calls / 3; });
    EXPECT_NEAR(static_cast<double>(late), sorted.size() / 3.0, sorted.size() * 0.01);
}

// A lock held for 6 s outlasts the writer's wait, and the library warns of the failed flush;
// its warnings go to stderr, and stdout stays one JSON document.
TEST(SqlhBench, LibraryWarningsStayOffTheJson) {
    const auto r = run_sqlh({"bench", "--json", "--strategy", "hybrid", "--duration", "6.5",
                             "--processes", "1", "--coroutines", "1", "--workers", "1",
                             "--hold-lock", "6"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("write buffer flush failed"), std::string::npos) << r.err;
    boost::system::error_code ec;
    const auto doc = json::parse(r.out, ec);
    ASSERT_FALSE(ec) << r.out.substr(0, 300);
    EXPECT_EQ(count(strategy(doc.as_object(), "hybrid").at("rows_lost")), 0u);
}

TEST(SqlhBench, PrintsATable) {
    const auto r = run_sqlh({"bench", "--strategy", "naive", "--duration", "0.5", "--processes",
                             "1", "--coroutines", "1", "--workers", "0"});
    ASSERT_EQ(r.status, 0) << r.err;
    for (const char* text : {"raw sqlite3, one connection", "api_write", "bulk_write",
                             "errors surfaced", "rows lost", "naive"})
        EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;
}

TEST(SqlhBench, TheSameWorkloadRunsOnPostgreSQLAndLosesNothing) {
    SQLITE_HYBRID_NEED_POSTGRES(url);
    {
        // A table of the user's named like the bench's log table on SQLite stays untouched.
        auto mine = connection::open(url, open_mode::read_write, {});
        ASSERT_TRUE(mine);
        ASSERT_TRUE(mine.value().execute_script("DROP TABLE IF EXISTS logs;"
                                                "CREATE TABLE logs(note TEXT);"
                                                "INSERT INTO logs VALUES ('mine')"));
    }
    const auto doc = run_json({"--strategy", "postgresql,hybrid", "--backend", url, "--duration",
                               "1", "--processes", "2", "--coroutines", "2", "--workers", "1",
                               "--sweep"});
    // Side by side, in the usual order.
    ASSERT_EQ(doc.at("strategies").as_array().size(), 2u);
    EXPECT_EQ(doc.at("strategies").as_array()[0].at("strategy").as_string(), "hybrid");
    EXPECT_EQ(count(strategy(doc, "hybrid").at("rows_lost")), 0u);
    const auto& server = strategy(doc, "postgresql");
    EXPECT_EQ(count(server.at("errors")), 0u) << json::serialize(server);
    EXPECT_EQ(count(server.at("rows_lost")), 0u);
    const auto& writes = op(server, "api_write");
    EXPECT_GT(count(writes.at("committed")), 0u);
    EXPECT_GT(count(op(server, "api_read").at("committed")), 0u);
    EXPECT_GT(count(op(server, "bulk_write").at("committed")), 0u);
    EXPECT_GT(count(op(server, "log").at("committed")), 0u); // into a local log database
    EXPECT_GE(count(server.at("rows_checked")), count(writes.at("committed")));
    EXPECT_EQ(doc.at("sweep").as_array().size(), 4u); // 1 and 2 processes, each strategy
    // The password stays out of the report.
    const std::string backend(doc.at("config").at("backend").as_string());
    EXPECT_EQ(backend, redact_database_url(url));
    EXPECT_EQ(json::serialize(doc).find(url), std::string::npos);
    // The items are on the server: the sweep's last run (2 processes) left its rows there.
    auto c = connection::open(url, open_mode::read_only, {});
    ASSERT_TRUE(c);
    auto items = c.value().query_one<std::int64_t>("SELECT count(*) FROM items");
    ASSERT_TRUE(items);
    EXPECT_GT(items.value().value_or(0), 0);
    auto notes = c.value().query<std::string>("SELECT note FROM logs");
    ASSERT_TRUE(notes) << c.value().last_diagnostics().message;
    EXPECT_EQ(notes.value(), std::vector<std::string>{"mine"});
    c = connection::open(url, open_mode::read_write, {});
    ASSERT_TRUE(c);
    EXPECT_TRUE(c.value().execute_script("DROP TABLE logs"));
}

TEST(SqlhBench, AServerItCannotReachIsReportedWithLibpqsReasonAndNoPassword) {
    const auto r = run_sqlh({"bench", "--strategy", "postgresql", "--backend",
                             "postgresql://sqlh:Sekr3t@127.0.0.1:1/sqlh", "--duration", "0.2",
                             "--processes", "1", "--coroutines", "1", "--workers", "0"});
    EXPECT_NE(r.status, 0);
    const std::string all = r.out + r.err;
    EXPECT_EQ(all.find("Sekr3t"), std::string::npos) << all;
    EXPECT_NE(all.find("127.0.0.1"), std::string::npos) << all;
    EXPECT_NE(all.find("refused"), std::string::npos) << all;
}

TEST(SqlhBench, InvalidOptionsExitWithStatus2) {
    const std::vector<std::vector<std::string>> cases = {
        {"--processes", "0"},           {"--strategy", "optimistic"},
        {"--duration", "fast"},         {"--hold-lock", "5", "--duration", "1"},
        {"--no-such-option"},           {"--coroutines", "100000"},
        {"--lock-holds", "3"},          {"--hold-lock", "1", "--lock-holds", "0"},
        {"--strategy", "postgresql"},   {"--backend", "other.db"}};
    for (auto args : cases) {
        args.insert(args.begin(), "bench");
        const auto r = run_sqlh(args);
        EXPECT_EQ(r.status, 2) << args[1];
        EXPECT_FALSE(r.err.empty()) << args[1];
        EXPECT_TRUE(r.out.empty()) << args[1];
    }
}

TEST(SqlhBench, HelpDescribesTheOptions) {
    const auto r = run_sqlh({"bench", "--help"});
    EXPECT_EQ(r.status, 0);
    for (const char* option : {"--strategy", "--processes", "--coroutines", "--duration", "--db",
                               "--hold-lock", "--json", "--report", "--sweep", "--backend"})
        EXPECT_NE(r.out.find(option), std::string::npos) << option;
}

} // namespace
} // namespace sqlite_hybrid::test
