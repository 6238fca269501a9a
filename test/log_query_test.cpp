// SPDX-License-Identifier: BSL-1.0
// Reading logs: filters, order and limit; following new entries, with cancellation; the same on
// a plain database opened on a log file; and the text forms (durations, times, levels, JSON).
#include "support/log_database_helpers.hpp"
#include "support/run.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/log_database.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <utility>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using asio::awaitable;
using namespace std::chrono_literals;
using sh::test::quiet_log_options;
using sh::test::report_log;
using sh::test::run;
using sh::test::temp_dir;

namespace {

const sh::log_time base = std::chrono::sys_days(std::chrono::year(2024) / 5 / 1) + 12h;

std::vector<std::string> messages(const std::vector<sh::log_entry>& rows) {
    std::vector<std::string> out;
    for (const auto& r : rows)
        out.push_back(r.message);
    return out;
}

using texts = std::vector<std::string>;

// The entries are from 2024: retention would delete them.
sh::log_database_options keep_everything(report_log& reports) {
    auto options = quiet_log_options(reports);
    options.retention_days = 0;
    return options;
}

class LogDatabaseQuery : public ::testing::Test {
protected:
    void SetUp() override {
        auto add = [&](int second, sh::log_level level, std::string logger, std::string message) {
            sh::log_entry e;
            e.time = base + std::chrono::seconds(second);
            e.level = level;
            e.logger = std::move(logger);
            e.message = std::move(message);
            logs.log(std::move(e));
        };
        add(0, sh::log_level::debug, "db", "opened file");
        add(1, sh::log_level::info, "http", "GET /a 200");
        add(2, sh::log_level::warn, "http", "slow: 100% of budget_used");
        add(3, sh::log_level::error, "db", "disk 100x full");
        add(4, sh::log_level::critical, "http", "down");
        run(io, logs.async_flush());
    }
    void TearDown() override { run(io, logs.async_stop()); }

    std::vector<std::string> query(sh::log_filter f) {
        return messages(run(io, logs.async_query_logs(std::move(f))));
    }

    temp_dir dir;
    asio::io_context io;
    report_log reports;
    sh::log_database logs{io.get_executor(), dir.file("logs.db"), keep_everything(reports)};
};

TEST_F(LogDatabaseQuery, FiltersByLevelLoggerTimeAndText) {
    sh::log_filter f;
    EXPECT_EQ(query(f), (texts{"down", "disk 100x full", "slow: 100% of budget_used", "GET /a 200",
                               "opened file"}));
    f.min_level = sh::log_level::warn;
    EXPECT_EQ(query(f), (texts{"down", "disk 100x full", "slow: 100% of budget_used"}));

    f = {};
    f.logger = "http";
    EXPECT_EQ(query(f), (texts{"down", "slow: 100% of budget_used", "GET /a 200"}));
    f.logger = "htt"; // exact names only
    EXPECT_TRUE(query(f).empty());

    f = {};
    f.since = base + 1s;
    f.until = base + 3s; // until is exclusive
    EXPECT_EQ(query(f), (texts{"slow: 100% of budget_used", "GET /a 200"}));

    f = {};
    f.text = "100%"; // literal: % and _ are no wildcards
    EXPECT_EQ(query(f), (texts{"slow: 100% of budget_used"}));
    f.text = "_used";
    EXPECT_EQ(query(f), (texts{"slow: 100% of budget_used"}));
    f.text = "100";
    EXPECT_EQ(query(f), (texts{"disk 100x full", "slow: 100% of budget_used"}));
    f.text = "OPENED"; // case-sensitive
    EXPECT_TRUE(query(f).empty());

    f = {};
    f.logger = "http";
    f.min_level = sh::log_level::warn;
    f.order = sh::log_order::oldest_first;
    EXPECT_EQ(query(f), (texts{"slow: 100% of budget_used", "down"}));
}

TEST_F(LogDatabaseQuery, OrdersAndLimits) {
    sh::log_filter f;
    f.limit = 2;
    EXPECT_EQ(query(f), (texts{"down", "disk 100x full"}));
    f.order = sh::log_order::oldest_first;
    EXPECT_EQ(query(f), (texts{"opened file", "GET /a 200"}));
    auto rows = run(io, logs.async_query_logs(f));
    f.after_id = rows.back().id;
    f.limit = 0;
    EXPECT_EQ(query(f), (texts{"slow: 100% of budget_used", "disk 100x full", "down"}));
}

TEST_F(LogDatabaseQuery, FollowCompletesOnceNewEntriesArrive) {
    sh::log_filter f;
    f.limit = 1;
    const auto last_id = run(io, logs.async_query_logs(f))[0].id;

    // A producer writes a few entries a little later; the follow waits for them.
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
            asio::steady_timer timer(io, 100ms);
            co_await timer.async_wait(asio::use_awaitable);
            logs.log(sh::log_level::info, "jobs", "first");
            logs.log(sh::log_level::error, "jobs", "second");
            logs.log(sh::log_level::info, "jobs", "third");
            co_await logs.async_flush();
        },
        asio::detached);
    sh::log_filter follow;
    follow.after_id = last_id;
    const auto started = std::chrono::steady_clock::now();
    auto fresh = run(io, logs.async_follow_logs(follow, 10ms));
    EXPECT_GE(std::chrono::steady_clock::now() - started, 90ms);
    EXPECT_EQ(messages(fresh), (texts{"first", "second", "third"})); // oldest first

    // Resuming after the last one, with a filter: waits for the next matching entry only.
    follow.after_id = fresh.back().id;
    follow.min_level = sh::log_level::error;
    logs.log(sh::log_level::info, "jobs", "not an error");
    run(io, logs.async_flush());
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
            asio::steady_timer timer(io, 50ms);
            co_await timer.async_wait(asio::use_awaitable);
            logs.log(sh::log_level::critical, "jobs", "fourth");
            co_await logs.async_flush();
        },
        asio::detached);
    EXPECT_EQ(messages(run(io, logs.async_follow_logs(follow, 10ms))), (texts{"fourth"}));
}

TEST_F(LogDatabaseQuery, FollowCanBeCancelled) {
    sh::log_filter follow;
    follow.after_id = std::numeric_limits<std::int64_t>::max() - 1; // nothing will come
    asio::cancellation_signal stop;
    asio::steady_timer timer(io, 50ms);
    timer.async_wait([&](sh::error_code) { stop.emit(asio::cancellation_type::terminal); });
    auto [ec, rows] =
        run(io, logs.async_follow_logs(follow, 10ms,
                                       asio::bind_cancellation_slot(
                                           stop.slot(), asio::as_tuple(asio::use_awaitable))));
    EXPECT_EQ(ec, asio::error::operation_aborted);
    EXPECT_TRUE(rows.empty());
}

// Batches overlap in time (entries logged with given times, out of order, some at the same
// time): every order, filter and limit must give what sorting all entries would.
TEST(LogDatabaseBatches, OrderFiltersAndLimitsHoldAcrossBatchesThatOverlapInTime) {
    temp_dir dir;
    asio::io_context io;
    report_log reports;
    auto options = keep_everything(reports);
    options.batch_size = 7; // many small batches
    sh::log_database logs(io.get_executor(), dir.file("logs.db"), options);
    const char* loggers[] = {"a", "b", "c"};
    for (int i = 0; i < 200; ++i) {
        sh::log_entry e;
        e.time = base + std::chrono::seconds(i * 37 % 101); // shuffled, with repeats
        e.level = static_cast<sh::log_level>(i % 6);
        e.logger = loggers[i % 3];
        e.message = "m" + std::to_string(i) + (i % 4 == 0 ? " four" : "");
        logs.log(std::move(e));
    }
    run(io, logs.async_flush());
    const auto all = sh::test::read_log_file(logs.path()); // by id
    ASSERT_EQ(all.size(), 200u);
    for (std::size_t i = 1; i < all.size(); ++i)
        ASSERT_LT(all[i - 1].id, all[i].id);

    std::vector<sh::log_filter> filters(6);
    filters[1].min_level = sh::log_level::warn;
    filters[2].logger = "b";
    filters[3].since = base + 20s;
    filters[3].until = base + 70s;
    filters[4].text = " four";
    filters[5].min_level = sh::log_level::info;
    filters[5].logger = "c";
    filters[5].since = base + 50s;
    for (auto f : filters) {
        std::vector<sh::log_entry> expected;
        for (const auto& e : all)
            if ((!f.min_level || e.level >= *f.min_level) && (!f.logger || e.logger == *f.logger) &&
                (!f.since || e.time >= *f.since) && (!f.until || e.time < *f.until) &&
                (!f.text || e.message.find(*f.text) != std::string::npos))
                expected.push_back(e);
        for (const auto order : {sh::log_order::newest_first, sh::log_order::oldest_first}) {
            auto sorted = expected;
            std::sort(sorted.begin(), sorted.end(), [&](const auto& x, const auto& y) {
                const auto kx = std::pair(x.time, x.id);
                const auto ky = std::pair(y.time, y.id);
                return order == sh::log_order::oldest_first ? kx < ky : ky < kx;
            });
            for (const std::size_t limit : {0, 1, 5, 30}) {
                f.order = order;
                f.limit = limit;
                auto want = sorted;
                if (limit > 0 && want.size() > limit)
                    want.resize(limit);
                std::vector<std::int64_t> want_ids, got_ids;
                for (const auto& e : want)
                    want_ids.push_back(e.id);
                for (const auto& e : run(io, logs.async_query_logs(f)))
                    got_ids.push_back(e.id);
                EXPECT_EQ(got_ids, want_ids) << "limit " << limit;
            }
        }
    }
    run(io, logs.async_stop());
}

TEST(LogDatabaseBatches, MessagesComeBackByteForByte) {
    temp_dir dir;
    asio::io_context io;
    report_log reports;
    sh::log_database logs(io.get_executor(), dir.file("logs.db"), quiet_log_options(reports));
    const std::string bytes("not utf-8: \xff\xfe, a nul: \0, and \xc3\xa9", 31);
    logs.log(sh::log_level::info, "raw", bytes);
    run(io, logs.async_flush());
    const auto rows = run(io, logs.async_query_logs({}));
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].message, bytes);
    run(io, logs.async_stop());
}

TEST_F(LogDatabaseQuery, WorksOnAPlainDatabaseOpenedOnTheLogFile) {
    // What a viewer does: it opens the file, it does not run a log database (no writes).
    auto viewer = sh::test::open_database(io, logs.path());
    sh::log_filter f;
    f.min_level = sh::log_level::error;
    EXPECT_EQ(messages(run(io, sh::async_query_logs(viewer, f))),
              (texts{"down", "disk 100x full"}));

    f.after_id = run(io, sh::async_query_logs(viewer, {}))[0].id;
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
            logs.log(sh::log_level::error, "http", "from the writer");
            co_await logs.async_flush();
        },
        asio::detached);
    EXPECT_EQ(messages(run(io, sh::async_follow_logs(viewer, f, 10ms))),
              (texts{"from the writer"}));
    run(io, viewer.async_close());
    EXPECT_EQ(run(io, sh::async_follow_logs(viewer, f, 10ms, sh::as_result)).error(),
              sh::errc::closed);
}

TEST(LogDatabaseText, ParsesDurations) {
    using std::chrono::microseconds;
    EXPECT_EQ(sh::parse_log_duration("10m"), microseconds(10min));
    EXPECT_EQ(sh::parse_log_duration("90s"), microseconds(90s));
    EXPECT_EQ(sh::parse_log_duration("1h30m"), microseconds(90min));
    EXPECT_EQ(sh::parse_log_duration("500ms"), microseconds(500ms));
    EXPECT_EQ(sh::parse_log_duration("2d"), microseconds(48h));
    EXPECT_EQ(sh::parse_log_duration("1w"), microseconds(std::chrono::weeks(1)));
    for (const char* bad : {"", "10", "m", "-5m", "10x", "1.5h", "0s", "5 m", "99999999999999w"})
        EXPECT_FALSE(sh::parse_log_duration(bad)) << bad;
}

TEST(LogDatabaseText, ParsesTimes) {
    EXPECT_EQ(sh::parse_log_time("10m", base), base - 10min);
    EXPECT_EQ(sh::parse_log_time("2024-05-01"), base - 12h);
    EXPECT_EQ(sh::parse_log_time("2024-05-01T12:00"), base);
    EXPECT_EQ(sh::parse_log_time("2024-05-01 12:00:05.25Z"), base + 5250ms);
    EXPECT_EQ(sh::parse_log_time("2024-05-01T12:00:05.1234567"),
              base + 5s + std::chrono::microseconds(123456));
    for (const char* bad : {"2024-13-01", "2024-02-30", "2024-05-01T25:00", "2024-05-01T12",
                            "yesterday", "2024-5-1", "2024-05-01T12:00:05.", "2024-05-01Zx"})
        EXPECT_FALSE(sh::parse_log_time(bad)) << bad;
    EXPECT_EQ(sh::format_log_time(base + 5250ms), "2024-05-01T12:00:05.250000Z");
    EXPECT_EQ(sh::format_log_time(sh::log_time{}), "1970-01-01T00:00:00.000000Z");
}

TEST(LogDatabaseText, NamesAndParsesLevels) {
    EXPECT_EQ(sh::log_level_name(sh::log_level::warn), "warning");
    EXPECT_EQ(sh::log_level_name(sh::log_level::critical), "critical");
    EXPECT_EQ(sh::parse_log_level("warn"), sh::log_level::warn);
    EXPECT_EQ(sh::parse_log_level("WARNING"), sh::log_level::warn);
    EXPECT_EQ(sh::parse_log_level("err"), sh::log_level::error);
    EXPECT_EQ(sh::parse_log_level("0"), sh::log_level::trace);
    EXPECT_EQ(sh::parse_log_level("5"), sh::log_level::critical);
    EXPECT_FALSE(sh::parse_log_level("verbose"));
    EXPECT_FALSE(sh::parse_log_level("6"));
}

TEST(LogDatabaseText, EncodesFieldsAsValidJson) {
    const std::string control("a\x01\x1f\n\t\"\\", 7);
    const std::string bad_utf8 = "caf\xc3\xa9 \xff \xe2\x82 \xed\xa0\x80 \xf0\x9f\x98\x80";
    const sh::log_field fields[] = {
        {"control", control},
        {"utf8", bad_utf8},
        {"key \"quoted\"", 1},
        {"big", std::numeric_limits<std::uint64_t>::max()},
        {"negative", std::int64_t{-42}},
        {"nan", std::numeric_limits<double>::quiet_NaN()},
        {"tiny", 1e-300},
        {"yes", true},
        {"nothing", nullptr},
    };
    const auto json = sh::encode_log_fields(fields);
    EXPECT_EQ(json, "{\"control\":\"a\\u0001\\u001f\\n\\t\\\"\\\\\","
                    "\"utf8\":\"caf\xc3\xa9 \\ufffd \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd "
                    "\xf0\x9f\x98\x80\","
                    "\"key \\\"quoted\\\"\":1,\"big\":18446744073709551615,\"negative\":-42,"
                    "\"nan\":null,\"tiny\":1e-300,\"yes\":true,\"nothing\":null}");
    EXPECT_EQ(sh::encode_log_fields({}), "");

    // SQLite's own JSON reader agrees.
    auto conn = sh::connection::open(":memory:", sh::open_mode::read_write_create, {}).value();
    auto checked = conn.query_one<std::tuple<int, std::string>>(
                           "SELECT json_valid(?1), json_extract(?1, '$.control')", json)
                       .value();
    ASSERT_TRUE(checked);
    EXPECT_EQ(std::get<0>(*checked), 1);
    EXPECT_EQ(std::get<1>(*checked), control);
}

} // namespace
