// SPDX-License-Identifier: BSL-1.0
// The Prometheus text exposition of the library's metrics: exact lines for known values, and
// output that a strict reader of the format accepts.
#include "server/prometheus_lint.hpp"
#include "support/run.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <initializer_list>
#include <sqlite_hybrid/lock_metrics.hpp>
#include <sqlite_hybrid/log_database_metrics.hpp>
#include <sqlite_hybrid/metrics.hpp>
#include <sqlite_hybrid/prometheus.hpp>
#include <sqlite_hybrid/write_buffer.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace sh = sqlite_hybrid;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

bool has_line(const std::string& text, const std::string& line) {
    for (const auto& l : lines(text))
        if (l == line)
            return true;
    return false;
}

std::string errors_of(const sh::test::prometheus_text& parsed) {
    std::string all;
    for (const auto& e : parsed.errors)
        all += e + "\n";
    return all;
}

// Every line is in `out`, and `out` is a valid exposition.
void expect_exposition(const std::string& out, std::initializer_list<const char*> expected) {
    for (const char* line : expected)
        EXPECT_TRUE(has_line(out, line)) << line << "\nin\n" << out;
    const auto parsed = sh::test::parse_prometheus(out);
    EXPECT_TRUE(parsed.errors.empty()) << errors_of(parsed);
}

} // namespace

TEST(Prometheus, LockMetricsRenderAsCountersAndACumulativeHistogram) {
    sh::lock_metrics_snapshot m;
    m.lock_errors = 7;
    m.retries = 5;
    m.failures = 1;
    m.total_wait = 6'500'000us;
    m.waits.counts[0] = 2;  // <= 1 ms
    m.waits.counts[3] = 1;  // <= 10 ms
    m.waits.counts[12] = 1; // > 5 s
    std::string out;
    sh::prometheus_options o;
    o.prefix = "app";
    sh::append_prometheus(out, m, o);
    EXPECT_EQ(
        out, R"(# HELP app_lock_errors_total Attempts that failed with SQLITE_BUSY or SQLITE_LOCKED.
# TYPE app_lock_errors_total counter
app_lock_errors_total 7
# HELP app_lock_retries_total Attempts started again after a backoff.
# TYPE app_lock_retries_total counter
app_lock_retries_total 5
# HELP app_lock_failures_total Operations given up after their retries or deadline (database_busy).
# TYPE app_lock_failures_total counter
app_lock_failures_total 1
# HELP app_lock_wait_seconds Time operations that saw a lock error spent in backoff.
# TYPE app_lock_wait_seconds histogram
app_lock_wait_seconds_bucket{le="0.001"} 2
app_lock_wait_seconds_bucket{le="0.002"} 2
app_lock_wait_seconds_bucket{le="0.005"} 2
app_lock_wait_seconds_bucket{le="0.01"} 3
app_lock_wait_seconds_bucket{le="0.02"} 3
app_lock_wait_seconds_bucket{le="0.05"} 3
app_lock_wait_seconds_bucket{le="0.1"} 3
app_lock_wait_seconds_bucket{le="0.2"} 3
app_lock_wait_seconds_bucket{le="0.5"} 3
app_lock_wait_seconds_bucket{le="1"} 3
app_lock_wait_seconds_bucket{le="2"} 3
app_lock_wait_seconds_bucket{le="5"} 3
app_lock_wait_seconds_bucket{le="+Inf"} 4
app_lock_wait_seconds_sum 6.5
app_lock_wait_seconds_count 4
)");
    EXPECT_TRUE(sh::test::parse_prometheus(out).errors.empty());
}

TEST(Prometheus, DatabaseMetricsHaveKindsCodesQueuesAndSeconds) {
    sh::metrics_snapshot m;
    m.reads = 3;
    m.writes = 11;
    m.errors = 2;
    m.errors_by_code = {{2067, 1}, {1002, 1}};
    m.groups = 4;
    m.grouped_jobs = 10;
    m.largest_group = 6;
    m.write_queue_depth = 2;
    m.max_read_queue_depth = 9;
    m.busy_wait_time = 1500us;
    std::string out;
    sh::append_prometheus(out, m);
    expect_exposition(out, {
                               "# TYPE sqlite_hybrid_db_operations_total counter",
                               R"(sqlite_hybrid_db_operations_total{kind="read"} 3)",
                               R"(sqlite_hybrid_db_operations_total{kind="write"} 11)",
                               R"(sqlite_hybrid_db_operations_total{kind="maintenance"} 0)",
                               "sqlite_hybrid_db_errors_total 2",
                               R"(sqlite_hybrid_db_errors_by_code_total{code="1002"} 1)",
                               R"(sqlite_hybrid_db_errors_by_code_total{code="2067"} 1)",
                               "sqlite_hybrid_db_groups_total 4",
                               "sqlite_hybrid_db_grouped_jobs_total 10",
                               "# TYPE sqlite_hybrid_db_largest_group gauge",
                               "sqlite_hybrid_db_largest_group 6",
                               R"(sqlite_hybrid_db_queue_depth{queue="write"} 2)",
                               R"(sqlite_hybrid_db_max_queue_depth{queue="read"} 9)",
                               "sqlite_hybrid_db_busy_wait_seconds_total 0.0015",
                           });
}

TEST(Prometheus, WriteBufferAndLogDatabaseMetrics) {
    sh::write_buffer_metrics w;
    w.pending = 12;
    w.flushed = 300;
    w.dead_letters = 1;
    w.max_flush_latency = 250ms;
    sh::log_database_metrics l;
    l.dropped_by_level[1] = 40; // debug
    l.dropped_by_level[3] = 2;  // warning
    l.dropped = 42;
    l.failing = true;
    l.buffered = 5;
    std::string out;
    sh::append_prometheus(out, w);
    sh::append_prometheus(out, l);
    expect_exposition(out, {
                               "# TYPE sqlite_hybrid_write_buffer_pending_rows gauge",
                               "sqlite_hybrid_write_buffer_pending_rows 12",
                               "sqlite_hybrid_write_buffer_flushed_rows_total 300",
                               "sqlite_hybrid_write_buffer_dead_letters_total 1",
                               "sqlite_hybrid_write_buffer_max_flush_seconds 0.25",
                               R"(sqlite_hybrid_log_dropped_total{level="trace"} 0)",
                               R"(sqlite_hybrid_log_dropped_total{level="debug"} 40)",
                               R"(sqlite_hybrid_log_dropped_total{level="warning"} 2)",
                               "sqlite_hybrid_log_failing 1",
                               "sqlite_hybrid_log_buffered 5",
                           });
}

TEST(Prometheus, LabelsGoOnEverySampleEscapedAndBeforeTheMetricsOwn) {
    sh::lock_metrics_snapshot lock;
    lock.lock_errors = 1;
    sh::metrics_snapshot db;
    db.reads = 2;
    sh::prometheus_options o;
    o.prefix = "x";
    o.labels = {{"worker", "1"}, {"note", "a\"b\\c\nd"}};
    std::string out;
    sh::append_prometheus(out, lock, o);
    sh::append_prometheus(out, db, o);
    EXPECT_TRUE(has_line(out, R"(x_lock_errors_total{worker="1",note="a\"b\\c\nd"} 1)")) << out;
    EXPECT_TRUE(
        has_line(out, R"(x_lock_wait_seconds_bucket{worker="1",note="a\"b\\c\nd",le="+Inf"} 0)"))
        << out;
    EXPECT_TRUE(
        has_line(out, R"(x_db_operations_total{worker="1",note="a\"b\\c\nd",kind="read"} 2)"))
        << out;
    const auto parsed = sh::test::parse_prometheus(out);
    ASSERT_TRUE(parsed.errors.empty()) << errors_of(parsed);
    EXPECT_EQ(parsed.value("x_lock_errors_total", {{"note", "a\"b\\c\nd"}}), 1.0);
}

TEST(Prometheus, AnEmptyPrefixLeavesTheBareNames) {
    std::string out;
    sh::prometheus_options o;
    o.prefix = "";
    sh::append_prometheus(out, sh::lock_metrics_snapshot{}, o);
    EXPECT_TRUE(has_line(out, "lock_errors_total 0")) << out;
}

TEST(Prometheus, InvalidNamesAreRefused) {
    std::string out;
    sh::prometheus_options bad_prefix;
    bad_prefix.prefix = "my-app";
    EXPECT_THROW(sh::append_prometheus(out, sh::metrics_snapshot{}, bad_prefix),
                 std::invalid_argument);
    sh::prometheus_options bad_label;
    bad_label.labels = {{"9lives", "x"}};
    EXPECT_THROW(sh::append_prometheus(out, sh::metrics_snapshot{}, bad_label),
                 std::invalid_argument);
    sh::prometheus_options reserved;
    reserved.labels = {{"__name__", "x"}};
    EXPECT_THROW(sh::append_prometheus(out, sh::metrics_snapshot{}, reserved),
                 std::invalid_argument);
    EXPECT_TRUE(out.empty());
}

TEST(Prometheus, ALiveDatabasesMetricsParseAsOneExposition) {
    sh::test::temp_dir dir;
    boost::asio::io_context io;
    auto db = sh::test::open_database(io, dir.file("metrics.db"));
    sh::test::run(io, [&]() -> boost::asio::awaitable<void> {
        co_await db.async_execute("CREATE TABLE t(k INTEGER PRIMARY KEY)");
        co_await db.async_execute("INSERT INTO t VALUES(1)");
        (void)co_await db.async_execute("INSERT INTO t VALUES(1)", {}, sh::as_result);
        (void)co_await db.async_query<int>("SELECT k FROM t");
    }());
    std::string out;
    sh::prometheus_options o;
    o.labels = {{"worker", "0"}};
    sh::append_prometheus(out, db.metrics(), o);
    sh::append_prometheus(out, sh::global_lock_metrics().snapshot(), o);
    sh::append_prometheus(out, sh::write_buffer_metrics{}, o);
    sh::append_prometheus(out, sh::log_database_metrics{}, o);
    const auto parsed = sh::test::parse_prometheus(out);
    ASSERT_TRUE(parsed.errors.empty()) << errors_of(parsed) << out;
    EXPECT_EQ(parsed.value("sqlite_hybrid_db_errors_by_code_total", {{"code", "1555"}}), 1.0)
        << out; // SQLITE_CONSTRAINT_PRIMARYKEY
    EXPECT_EQ(parsed.value("sqlite_hybrid_db_operations_total", {{"kind", "write"}}), 3.0) << out;
    EXPECT_EQ(parsed.value("sqlite_hybrid_db_operations_total", {{"kind", "read"}}), 1.0) << out;
    EXPECT_EQ(parsed.types.at("sqlite_hybrid_lock_wait_seconds"), "histogram");
    sh::test::run(io, db.async_close());
}

// The reader these tests rely on must itself reject broken text.
TEST(Prometheus, TheFormatReaderRejectsBrokenExpositions) {
    auto errors = [](const std::string& text) {
        return sh::test::parse_prometheus(text).errors.size();
    };
    EXPECT_EQ(errors("# TYPE a counter\na 1\n"), 0u);
    EXPECT_GT(errors("a 1\n"), 0u);                              // no TYPE
    EXPECT_GT(errors("# TYPE a counter\na 1"), 0u);              // no final newline
    EXPECT_GT(errors("# TYPE a counter\na{x=\"1} 1\n"), 0u);     // unterminated value
    EXPECT_GT(errors("# TYPE a counter\na{x=\"\\q\"} 1\n"), 0u); // bad escape
    EXPECT_GT(errors("# TYPE a counter\na one\n"), 0u);          // bad value
    EXPECT_GT(errors("# TYPE a counter\na -1\n"), 0u);           // negative counter
    EXPECT_GT(errors("# TYPE a counter\na 1\na 2\n"), 0u);       // duplicate series
    EXPECT_GT(errors("# TYPE a counter\n# TYPE a gauge\n"), 0u); // second TYPE
    EXPECT_GT(errors("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{y=\"2\"} 1\n"), 0u); // split
    EXPECT_GT(errors("# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"2\"} 2\n"
                     "h_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 3\n"),
              0u); // not cumulative
    EXPECT_GT(errors("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 4\n"),
              0u); // +Inf differs from _count
    EXPECT_GT(errors("# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_sum 1\nh_count 3\n"),
              0u); // no +Inf bucket
}
