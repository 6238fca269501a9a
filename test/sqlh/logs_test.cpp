// SPDX-License-Identifier: BSL-1.0
// sqlh logs, run as a real process on log files the library wrote: each filter, order and limit,
// JSON lines, plain output when piped and colours on a terminal, refused files and options, and
// --follow until SIGTERM.
#include "sqlh/run_sqlh.hpp"
#include "support/c_strings.hpp"
#include "support/log_database_helpers.hpp"
#include "support/process.hpp"
#include "support/run.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/log_database.hpp>

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using sh::test::child_process;
using sh::test::quiet_log_options;
using sh::test::report_log;
using sh::test::run;
using sh::test::run_sqlh;
using sh::test::temp_dir;

namespace {

using texts = std::vector<std::string>;

const sh::log_time base = std::chrono::sys_days(std::chrono::year(2024) / 5 / 1) + 12h;

sh::log_entry entry(int second, sh::log_level level, std::string logger, std::string message) {
    sh::log_entry e;
    e.time = base + std::chrono::seconds(second);
    e.level = level;
    e.logger = std::move(logger);
    e.message = std::move(message);
    return e;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

std::vector<json::object> json_lines(const std::string& text) {
    std::vector<json::object> out;
    for (const auto& line : lines_of(text))
        out.push_back(json::parse(line).as_object());
    return out;
}

std::vector<std::string> messages(const std::string& json_text) {
    std::vector<std::string> out;
    for (const auto& o : json_lines(json_text))
        out.emplace_back(o.at("message").as_string());
    return out;
}

// Runs sqlh with its standard output on a pseudo-terminal, as in a person's shell, with NO_COLOR
// set or not; returns what it printed there, or nothing where there are no pseudo-terminals.
std::optional<std::string> run_sqlh_on_terminal(std::vector<std::string> args, bool no_color) {
    const int terminal = posix_openpt(O_RDWR | O_NOCTTY);
    if (terminal < 0)
        return std::nullopt;
    if (grantpt(terminal) != 0 || unlockpt(terminal) != 0) {
        close(terminal);
        return std::nullopt;
    }
    const std::string screen = ptsname(terminal);

    std::vector<std::string> env;
    for (char** e = environ; *e; ++e)
        if (!std::string_view(*e).starts_with("NO_COLOR=") &&
            !std::string_view(*e).starts_with("TERM="))
            env.emplace_back(*e);
    env.emplace_back("TERM=xterm");
    if (no_color)
        env.emplace_back("NO_COLOR=1");
    auto envp = sqlite_hybrid::test::c_strings(env);

    args.insert(args.begin(), SQLH_BINARY);
    auto argv = sqlite_hybrid::test::c_strings(args);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, screen.c_str(), O_RDWR | O_NOCTTY, 0);
    posix_spawn_file_actions_addclose(&actions, terminal);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    std::string out;
    if (rc == 0) {
        char chunk[4096];
        for (ssize_t n; (n = read(terminal, chunk, sizeof chunk)) > 0;) // EIO once it exits
            out.append(chunk, static_cast<std::size_t>(n));
        waitpid(pid, nullptr, 0);
    }
    close(terminal);
    return out;
}

// The entries are from 2024: retention would delete them.
sh::log_database_options keep_everything(report_log& reports) {
    auto options = quiet_log_options(reports);
    options.retention_days = 0;
    return options;
}

class SqlhLogs : public ::testing::Test {
protected:
    void SetUp() override {
        auto add = [&](sh::log_entry e) { logs.log(std::move(e)); };
        add(entry(0, sh::log_level::debug, "db", "opened file"));
        add(entry(1, sh::log_level::info, "http", "GET /a 200"));
        auto slow = entry(2, sh::log_level::warn, "http", "slow: 100% of budget");
        slow.extra = sh::encode_log_fields(std::vector<sh::log_field>{{"path", "/a"}, {"ms", 250}});
        slow.thread = 42;
        slow.source = "server.cpp:10 handle";
        add(std::move(slow));
        add(entry(3, sh::log_level::error, "db", "disk 100x full"));
        add(entry(4, sh::log_level::critical, "http", "down"));
        run(io, logs.async_flush());
    }
    void TearDown() override { run(io, logs.async_stop()); }

    void add_and_flush(sh::log_entry e) {
        logs.log(std::move(e));
        run(io, logs.async_flush());
    }

    // sqlh logs FILE args... --json: the messages printed, in their order.
    texts shown(std::vector<std::string> args) {
        args.insert(args.begin(), {"logs", path});
        args.emplace_back("--json");
        const auto r = run_sqlh(args);
        EXPECT_EQ(r.status, 0) << r.err;
        return messages(r.out);
    }

    temp_dir dir;
    const std::string path = dir.file("app-logs.db");
    asio::io_context io;
    report_log reports;
    sh::log_database logs{io.get_executor(), path, keep_everything(reports)};
};

TEST_F(SqlhLogs, FiltersByLevelLoggerTimeAndText) {
    EXPECT_EQ(shown({"--level", "warn"}),
              (texts{"down", "disk 100x full", "slow: 100% of budget"}));
    EXPECT_EQ(shown({"--level", "ERROR"}), (texts{"down", "disk 100x full"}));
    EXPECT_EQ(shown({"--logger", "db"}), (texts{"disk 100x full", "opened file"}));
    EXPECT_EQ(shown({"--since", "2024-05-01T12:00:03Z"}), (texts{"down", "disk 100x full"}));
    EXPECT_EQ(shown({"--until", "2024-05-01T12:00:01"}), (texts{"opened file"}));
    EXPECT_EQ(shown({"--since", "2024-05-01 12:00:01", "--until", "2024-05-01T12:00:03Z"}),
              (texts{"slow: 100% of budget", "GET /a 200"}));
    EXPECT_EQ(shown({"--grep", "100%"}), (texts{"slow: 100% of budget"})); // no LIKE wildcards
    EXPECT_EQ(shown({"--grep", "100"}), (texts{"disk 100x full", "slow: 100% of budget"}));
    EXPECT_EQ(shown({"--grep", "DOWN"}), texts{}); // case-sensitive
    EXPECT_EQ(shown({"--level", "info", "--logger", "http", "--grep", "o"}),
              (texts{"down", "slow: 100% of budget"}));

    // Durations count back from now.
    auto now = entry(0, sh::log_level::info, "now", "just now");
    now.time = sh::log_now();
    add_and_flush(now);
    auto recent = entry(0, sh::log_level::info, "now", "a minute ago");
    recent.time = sh::log_now() - 1min;
    add_and_flush(recent);
    auto older = recent;
    older.time = sh::log_now() - 2h;
    older.message = "two hours ago";
    add_and_flush(older);
    EXPECT_EQ(shown({"--logger", "now", "--since", "10m"}), (texts{"just now", "a minute ago"}));
    EXPECT_EQ(shown({"--logger", "now", "--since", "3h", "--until", "30s"}),
              (texts{"a minute ago", "two hours ago"}));
}

TEST_F(SqlhLogs, OrdersAndLimits) {
    EXPECT_EQ(shown({}), (texts{"down", "disk 100x full", "slow: 100% of budget", "GET /a 200",
                                "opened file"}));
    EXPECT_EQ(shown({"--limit", "2"}), (texts{"down", "disk 100x full"}));
    EXPECT_EQ(shown({"--oldest-first", "--limit", "2"}), (texts{"opened file", "GET /a 200"}));
    EXPECT_EQ(shown({"--oldest-first", "--level", "error"}), (texts{"disk 100x full", "down"}));
    for (int i = 0; i < 1200; ++i)
        logs.log(entry(10, sh::log_level::trace, "many", "entry"));
    run(io, logs.async_flush());
    EXPECT_EQ(shown({"--logger", "many"}).size(), 1000u); // the default limit
    EXPECT_EQ(shown({"--logger", "many", "--limit", "0"}).size(), 1200u);
}

TEST_F(SqlhLogs, JsonLinesHaveStableFields) {
    auto bad_utf8 = entry(5, sh::log_level::info, "enc", "bad \xff byte, quote \" and\nnewline");
    add_and_flush(bad_utf8);
    const auto r = run_sqlh({"logs", path, "--json", "--oldest-first"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto rows = json_lines(r.out);
    ASSERT_EQ(rows.size(), 6u);

    const auto& slow = rows[2];
    EXPECT_GT(slow.at("id").as_int64(), 0);
    EXPECT_EQ(slow.at("time").as_string(), "2024-05-01T12:00:02.000000Z");
    EXPECT_EQ(slow.at("level").as_string(), "warning");
    EXPECT_EQ(slow.at("logger").as_string(), "http");
    EXPECT_EQ(slow.at("message").as_string(), "slow: 100% of budget");
    EXPECT_EQ(slow.at("extra").as_object().at("path").as_string(), "/a");
    EXPECT_EQ(slow.at("extra").as_object().at("ms").as_int64(), 250);
    EXPECT_EQ(slow.at("thread").as_int64(), 42);
    EXPECT_EQ(slow.at("source").as_string(), "server.cpp:10 handle");

    const auto& opened = rows[0];
    EXPECT_EQ(opened.at("level").as_string(), "debug");
    EXPECT_TRUE(opened.at("extra").as_object().empty());
    EXPECT_TRUE(opened.at("thread").is_null());
    EXPECT_FALSE(opened.contains("source")); // unknown: left out
    EXPECT_LT(rows[0].at("id").as_int64(), rows[1].at("id").as_int64());

    // One line per entry, valid UTF-8 even when the message is not.
    EXPECT_EQ(rows[5].at("message").as_string(), "bad \xef\xbf\xbd byte, quote \" and\nnewline");
    for (const auto& name : {"id", "time", "level", "logger", "message", "extra", "thread"})
        for (const auto& row : rows)
            EXPECT_TRUE(row.contains(name)) << name;
}

TEST_F(SqlhLogs, HumanOutputIsAlignedAndPlainWhenPiped) {
    auto tricky = entry(6, sh::log_level::info, "a-much-longer-logger",
                        "red \x1b[31mtext\x1b[0m\nsecond line");
    add_and_flush(tricky);
    const auto r = run_sqlh({"logs", path, "--oldest-first"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "no escape codes in a pipe";
    const auto lines = lines_of(r.out);
    ASSERT_EQ(lines.size(), 7u);
    EXPECT_EQ(lines[0].find("2024-05-01T12:00:00.000000Z debug "), 0u) << lines[0];
    EXPECT_NE(
        lines[2].find(R"(slow: 100% of budget {"path":"/a","ms":250} (server.cpp:10 handle))"),
        std::string::npos)
        << lines[2];
    // Every message starts in the same column, continuation lines too.
    const auto column = lines[0].find("opened file");
    for (const auto& [line, message] :
         std::vector<std::pair<std::string, std::string>>{{lines[1], "GET /a 200"},
                                                          {lines[4], "down"},
                                                          {lines[5], "red \\x1b[31mtext"},
                                                          {lines[6], "second line"}})
        EXPECT_EQ(line.find(message), column) << line;

    const auto coloured = run_sqlh({"logs", path, "--color", "always"});
    EXPECT_NE(coloured.out.find("\x1b[31m"), std::string::npos) << "errors in red";
}

TEST_F(SqlhLogs, ColoursOnATerminalUnlessNoColor) {
    const auto on_terminal = run_sqlh_on_terminal({"logs", path}, false);
    if (!on_terminal)
        GTEST_SKIP() << "no pseudo-terminal here";
    EXPECT_NE(on_terminal->find("down"), std::string::npos) << *on_terminal;
    EXPECT_NE(on_terminal->find("\x1b["), std::string::npos) << *on_terminal;
    const auto no_color = run_sqlh_on_terminal({"logs", path}, true);
    ASSERT_TRUE(no_color);
    EXPECT_NE(no_color->find("down"), std::string::npos) << *no_color;
    EXPECT_EQ(no_color->find('\x1b'), std::string::npos) << *no_color;
}

TEST_F(SqlhLogs, RefusesMissingAndForeignFilesWithoutTouchingThem) {
    const auto missing = dir.file("missing.db");
    auto r = run_sqlh({"logs", missing});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(missing)) << "must not be created";

    const auto text_file = dir.file("notes.txt");
    std::ofstream(text_file) << "just some text, not a database\n";
    r = run_sqlh({"logs", text_file});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("not a log database"), std::string::npos) << r.err;

    // Another kind of SQLite database stays as it was (not switched to WAL).
    const auto other = dir.file("other.db");
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "CREATE TABLE logs(id INTEGER PRIMARY KEY, text TEXT)", nullptr, nullptr,
                 nullptr);
    sqlite3_close(db);
    r = run_sqlh({"logs", other});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("not a log database"), std::string::npos) << r.err;
    auto conn = sh::connection::open(other, sh::open_mode::read_only, {}).value();
    EXPECT_EQ(conn.query_one<std::string>("PRAGMA journal_mode").value(), "delete");

    r = run_sqlh({"logs", dir.path().string()});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("is a directory"), std::string::npos) << r.err;
}

TEST_F(SqlhLogs, InvalidOptionsAreUsageErrors) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--level", "loud"},
             {"--since", "yesterday"},
             {"--until", "2024-13-01"},
             {"--since", "-5m"},
             {"--limit", "many"},
             {"--color", "sometimes"},
             {"--frobnicate"},
         }) {
        auto full = args;
        full.insert(full.begin(), {"logs", path});
        const auto r = run_sqlh(full);
        EXPECT_EQ(r.status, 2) << args[0];
        EXPECT_FALSE(r.err.empty()) << args[0];
        EXPECT_TRUE(r.out.empty()) << args[0];
    }
    auto r = run_sqlh({"logs", path, "--level", "loud"});
    EXPECT_NE(r.err.find("--level 'loud'"), std::string::npos) << r.err;
    r = run_sqlh({"logs", path, "--since", "yesterday"});
    EXPECT_NE(r.err.find("--since 'yesterday'"), std::string::npos) << r.err;
    r = run_sqlh({"logs"});
    EXPECT_EQ(r.status, 2) << "FILE is required";
    r = run_sqlh({"logs", "--help"});
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("--follow"), std::string::npos);
}

TEST_F(SqlhLogs, FollowPrintsNewEntriesUntilSigterm) {
    // The shell prints its process id, then becomes sqlh: the id to signal.
    child_process sqlh({"/bin/sh", "-c", "echo $$; exec \"$0\" \"$@\"", SQLH_BINARY, "logs", path,
                        "--follow", "--json", "--level", "warn", "--limit", "2"},
                       true);
    const pid_t pid = std::stoi(sqlh.read_line());

    // First the newest entries, in the order they happened.
    EXPECT_EQ(json::parse(sqlh.read_line()).at("message").as_string(), "disk 100x full");
    EXPECT_EQ(json::parse(sqlh.read_line()).at("message").as_string(), "down");

    // Then new ones as they are written; the filter still applies.
    logs.log(entry(7, sh::log_level::info, "http", "below the level"));
    logs.log(entry(8, sh::log_level::error, "http", "new error"));
    run(io, logs.async_flush());
    EXPECT_EQ(json::parse(sqlh.read_line()).at("message").as_string(), "new error");
    for (int i = 0; i < 3; ++i)
        logs.log(entry(9 + i, sh::log_level::warn, "jobs", "late " + std::to_string(i)));
    run(io, logs.async_flush());
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(json::parse(sqlh.read_line()).at("message").as_string(),
                  "late " + std::to_string(i));

    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    EXPECT_EQ(sqlh.read_line(), "") << "nothing more after the signal";
    EXPECT_EQ(sqlh.wait(), 0);
}

TEST_F(SqlhLogs, FollowEndsCleanlyOnSigintToo) {
    child_process sqlh({"/bin/sh", "-c", "echo $$; exec \"$0\" \"$@\"", SQLH_BINARY, "logs", path,
                        "--follow", "--logger", "db", "--limit", "1"},
                       true);
    const pid_t pid = std::stoi(sqlh.read_line());
    // Its first line says it runs (and handles signals); an entry for another logger is not
    // printed.
    EXPECT_NE(sqlh.read_line().find("disk 100x full"), std::string::npos);
    add_and_flush(entry(12, sh::log_level::info, "other", "not followed"));
    ASSERT_EQ(::kill(pid, SIGINT), 0);
    EXPECT_EQ(sqlh.read_line(), "");
    EXPECT_EQ(sqlh.wait(), 0);
}

} // namespace
