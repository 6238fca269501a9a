// SPDX-License-Identifier: BSL-1.0
// I/O faults while the log database writes (and while it opens its file). Logging never fails
// the caller: a failed batch stays buffered, the flush that hit the fault says so, and once the
// faults stop every entry is written exactly once.
#include "reliability/fault_points.hpp"
#include "support/log_database_helpers.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/log_database.hpp>

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using namespace sh::test;

namespace {

constexpr int entries = 100;

sh::log_database_options log_options(report_log& reports) {
    auto o = quiet_log_options(reports);
    o.flush_interval = std::chrono::hours(1); // only the test's flushes, and retries
    o.retry_interval = std::chrono::milliseconds(10);
    o.batch_size = 32; // a flush is four transactions
    o.retention_days = 0;
    return o;
}

void log_entries(sh::log_database& logs) {
    for (int i = 0; i < entries; ++i)
        logs.log(sh::log_level::info, "app", "entry " + std::to_string(i), {{"i", i}});
}

// Each entry once: none lost, none written twice by a retried batch.
void expect_every_entry_once(const std::string& path) {
    auto c = open_plain(path);
    EXPECT_EQ(c.query_one<std::string>("PRAGMA integrity_check").value(), "ok");
    std::set<std::string> messages;
    int app = 0;
    for (const auto& e : sh::test::read_log_file(path)) {
        if (e.logger == "app") {
            ++app;
            messages.insert(e.message);
        }
    }
    EXPECT_EQ(app, entries);
    EXPECT_EQ(messages.size(), std::size_t{entries});
}

// What a flush that hit faults must have said.
void expect_clear_failure(const sh::result<void>& flushed, const fault_point& point) {
    if (flushed)
        return;
    point.errors.add(flushed.error());
    EXPECT_TRUE(is_clear_io_error(flushed.error()));
}

class LogDatabaseFaults : public ::testing::TestWithParam<fault_mode> {};

TEST_P(LogDatabaseFaults, AFailedFlushKeepsItsEntriesAndWritesThemOnceLater) {
    run_fault_points("log database flush", GetParam(), [&](const fault_point& point) {
        asio::io_context io;
        report_log reports;
        sh::log_database logs(io.get_executor(), fault_vfs::uri(point.path), log_options(reports));
        run(io, logs.async_flush()); // the file is open
        log_entries(logs);

        const auto [flushed, hit] =
            with_faults(point.plan, [&] { return run(io, logs.async_flush(sh::as_result)); });
        expect_clear_failure(flushed, point);
        if (!flushed) {
            EXPECT_GT(logs.metrics().failures, 0u);
            EXPECT_GE(reports.size(), 1u) << "the failure was not reported";
        }
        auto again = run(io, logs.async_flush(sh::as_result));
        EXPECT_TRUE(again) << again.error().message();
        EXPECT_EQ(logs.metrics().dropped, 0u);
        run(io, logs.async_stop());
        expect_every_entry_once(point.path);
        return hit;
    });
}

TEST_P(LogDatabaseFaults, AFailedOpenIsRetriedAndLosesNothing) {
    run_fault_points("log database open", GetParam(), [&](const fault_point& point) {
        asio::io_context io;
        report_log reports;
        std::optional<sh::log_database> logs;
        const auto [flushed, hit] = with_faults(point.plan, [&] {
            logs.emplace(io.get_executor(), fault_vfs::uri(point.path), log_options(reports));
            log_entries(*logs);
            return run(io, logs->async_flush(sh::as_result));
        });
        expect_clear_failure(flushed, point);
        auto again = run(io, logs->async_flush(sh::as_result));
        EXPECT_TRUE(again) << again.error().message();
        run(io, logs->async_stop());
        expect_every_entry_once(point.path);
        return hit;
    });
}

INSTANTIATE_TEST_SUITE_P(Reliability, LogDatabaseFaults,
                         ::testing::Values(transient_io, persistent_io, disk_full),
                         fault_mode_name);

} // namespace
