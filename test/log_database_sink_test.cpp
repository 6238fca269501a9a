// SPDX-License-Identifier: BSL-1.0
// The spdlog sink: through a plain spdlog::logger next to its other sinks, with spdlog's levels,
// patterns and source locations; and the recursion guard when the log database's own messages
// are routed into the same logger.
#include "support/log_database_helpers.hpp"
#include "support/run.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/log_database.hpp>
#include <sqlite_hybrid/log_database_sink.hpp>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/syscall.h>
#include <unistd.h>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using sh::test::quiet_log_options;
using sh::test::read_all;
using sh::test::report_log;
using sh::test::run;
using sh::test::temp_dir;

namespace {

TEST(LogDatabaseSink, WritesThroughAPlainSpdlogLoggerNextToItsOtherSinks) {
    temp_dir dir;
    asio::io_context io;
    report_log reports;
    sh::log_database logs(io.get_executor(), dir.file("logs.db"), quiet_log_options(reports));

    std::ostringstream console_text;
    auto console = std::make_shared<spdlog::sinks::ostream_sink_mt>(console_text);
    console->set_pattern("%l %v");
    auto sink = std::make_shared<sh::log_database_sink_mt>(logs.writer());
    spdlog::logger app("app", {console, sink});
    app.set_level(spdlog::level::debug); // trace stays out: spdlog's level rules apply

    SPDLOG_LOGGER_INFO(&app, "user {} logged in", 42);
    app.warn("disk {}% full", 91);
    app.debug("details");
    app.trace("not logged");
    app.flush(); // asks the log database to write; does not wait
    run(io, logs.async_flush());

    auto rows = read_all(io, logs);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0].message, "user 42 logged in"); // the payload: the rest has its columns
    EXPECT_EQ(rows[0].level, sh::log_level::info);
    EXPECT_EQ(rows[0].logger, "app");
    EXPECT_EQ(rows[0].thread, static_cast<std::uint64_t>(::syscall(SYS_gettid)));
    EXPECT_NE(rows[0].source.find("log_database_sink_test.cpp:"), std::string::npos)
        << rows[0].source;
    EXPECT_NE(rows[0].source.find("TestBody"), std::string::npos) << rows[0].source;
    EXPECT_LE(rows[0].time, sh::log_now());
    EXPECT_GT(rows[0].time, sh::log_now() - std::chrono::minutes(1));
    EXPECT_EQ(rows[1].message, "disk 91% full");
    EXPECT_EQ(rows[1].level, sh::log_level::warn);
    EXPECT_EQ(rows[1].source, ""); // unknown without the SPDLOG_LOGGER_* macros
    EXPECT_EQ(rows[2].level, sh::log_level::debug);
    EXPECT_EQ(console_text.str(), "info user 42 logged in\nwarning disk 91% full\n"
                                  "debug details\n");

    // A pattern on the sink formats the message column, without spdlog's end of line.
    sink->set_pattern("[%n] %v");
    app.error("formatted");
    app.set_pattern("%l: %v"); // a logger's pattern reaches every sink
    app.critical("by the logger");
    run(io, logs.async_flush());
    rows = read_all(io, logs);
    ASSERT_EQ(rows.size(), 5u);
    EXPECT_EQ(rows[3].message, "[app] formatted");
    EXPECT_EQ(rows[4].message, "critical: by the logger");
    run(io, logs.async_stop());
}

TEST(LogDatabaseSink, SingleThreadedSinkWorksToo) {
    temp_dir dir;
    asio::io_context io;
    report_log reports;
    sh::log_database logs(io.get_executor(), dir.file("logs.db"), quiet_log_options(reports));
    spdlog::logger app("st", std::make_shared<sh::log_database_sink_st>(logs.writer()));
    app.info("one");
    run(io, logs.async_flush());
    auto rows = read_all(io, logs);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].logger, "st");
    run(io, logs.async_stop());
}

TEST(LogDatabaseSink, ThreadsLogThroughOneSinkWhileItsPatternChanges) {
    temp_dir dir;
    asio::io_context io;
    report_log reports;
    sh::log_database logs(io.get_executor(), dir.file("logs.db"), quiet_log_options(reports));
    auto sink = std::make_shared<sh::log_database_sink_mt>(logs.writer());
    spdlog::logger app("app", sink);

    // The sink takes records from several threads at once; its formatter is guarded.
    constexpr int threads = 4;
    constexpr int per_thread = 2000;
    std::vector<std::thread> loggers;
    for (int t = 0; t < threads; ++t)
        loggers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i)
                app.info("t{} {}", t, i);
        });
    for (int i = 0; i < 50; ++i)
        sink->set_pattern(i % 2 ? "%v" : "[%n] %v");
    for (auto& t : loggers)
        t.join();
    sink->set_pattern("%v");
    run(io, logs.async_flush());

    auto rows = read_all(io, logs);
    ASSERT_EQ(rows.size(), std::size_t{threads * per_thread});
    std::map<std::string, int> next;
    for (const auto& row : rows) {
        std::string_view text = row.message;
        if (text.starts_with("[app] "))
            text.remove_prefix(6);
        const auto space = text.find(' ');
        ASSERT_NE(space, std::string_view::npos) << row.message;
        EXPECT_EQ(std::stoi(std::string(text.substr(space + 1))),
                  next[std::string(text.substr(0, space))]++)
            << row.message; // each thread's records in its order
    }
    run(io, logs.async_stop());
}

TEST(LogDatabaseSink, ItsOwnMessagesRoutedIntoTheSameLoggerDoNotLoopBack) {
    temp_dir dir;
    asio::io_context io;
    report_log unused;
    const auto path = dir.file("logs.db");
    std::filesystem::create_directory(path); // the first open fails; the flusher retries

    std::ostringstream console_text;
    std::shared_ptr<spdlog::logger> app; // set once the log database exists
    auto options = quiet_log_options(unused);
    // Both of the log database's voices go to the application's logger, which writes into the
    // log database: without the guard, every failure report would become a log entry to write.
    options.report = [&](std::string_view text) {
        if (app)
            app->error("{}", text);
    };
    options.database_settings.log = [&](sh::log_level level, std::string_view text) {
        if (app)
            app->log(static_cast<spdlog::level::level_enum>(level), "{}", text);
    };
    sh::log_database logs(io.get_executor(), path, options);
    auto console = std::make_shared<spdlog::sinks::ostream_sink_mt>(console_text);
    console->set_pattern("%v");
    app = std::make_shared<spdlog::logger>(
        "app", spdlog::sinks_init_list{console,
                                       std::make_shared<sh::log_database_sink_mt>(logs.writer())});

    app->info("hello");
    EXPECT_FALSE(run(io, logs.async_flush(sh::as_result))); // still cannot open
    std::filesystem::remove(path);
    run(io, logs.async_flush()); // opens: migrates (logged), recovers (reported)

    const auto console_lines = console_text.str();
    EXPECT_NE(console_lines.find("migrated"), std::string::npos) << console_lines;
    EXPECT_NE(console_lines.find("writing again"), std::string::npos) << console_lines;
    auto rows = read_all(io, logs);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].message, "hello");
    EXPECT_GE(logs.metrics().suppressed, 2u);
    run(io, logs.async_stop());
    app.reset();
}

} // namespace
