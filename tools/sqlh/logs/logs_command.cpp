// SPDX-License-Identifier: BSL-1.0
// sqlh logs FILE [filters]: prints a log database's entries; with --follow, then the new ones as
// they arrive, until SIGINT or SIGTERM.
#include "commands.hpp"
#include "logs/log_file_check.hpp"
#include "logs/log_printer.hpp"
#include "parse_options.hpp"

#include <sqlite_hybrid/log_database_options.hpp>
#include <sqlite_hybrid/log_query.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace sqlh {
namespace {

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using logs::log_printer;
using logs::output_format;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto poll_interval = std::chrono::milliseconds(200);
// Entries per query while following: a burst is printed in pieces of this size.
constexpr std::size_t follow_batch = 1000;

struct logs_options {
    std::string file;
    std::string level;
    std::string logger;
    std::string since;
    std::string until;
    std::string grep;
    std::string color = "auto";
    std::size_t limit = 1000;
    bool oldest_first = false;
    bool follow = false;
    bool json = false;
};

void fail(const std::string& text) {
    std::fprintf(stderr, "sqlh logs: %s\n", text.c_str());
}

bool use_color(const std::string& when) {
    if (when != "auto")
        return when == "always";
    if (const char* no_color = std::getenv("NO_COLOR"); no_color && *no_color)
        return false; // https://no-color.org
    if (const char* term = std::getenv("TERM"); term && std::string_view(term) == "dumb")
        return false;
    return isatty(STDOUT_FILENO) == 1;
}

std::optional<sh::log_time> parse_time_option(const std::string& name, const std::string& text,
                                              sh::log_time now) {
    auto t = sh::parse_log_time(text, now);
    if (!t)
        fail(name + " '" + text +
             "' is neither a length of time back from now (500ms, 90s, 10m, 2h, 7d, 1h30m) nor "
             "a UTC date and time (2024-05-01, 2024-05-01T12:00, 2024-05-01T12:00:05.25Z)");
    return t;
}

// The filter the options ask for; nothing (after saying why) when one of them is invalid.
std::optional<sh::log_filter> make_filter(const logs_options& o) {
    sh::log_filter f;
    if (!o.level.empty()) {
        f.min_level = sh::parse_log_level(o.level);
        if (!f.min_level) {
            fail("--level '" + o.level +
                 "' is not a level: trace, debug, info, warn, error, critical (or 0-5)");
            return std::nullopt;
        }
    }
    if (!o.logger.empty())
        f.logger = o.logger;
    const auto now = sh::log_now();
    if (!o.since.empty() && !(f.since = parse_time_option("--since", o.since, now)))
        return std::nullopt;
    if (!o.until.empty() && !(f.until = parse_time_option("--until", o.until, now)))
        return std::nullopt;
    if (!o.grep.empty())
        f.text = o.grep;
    f.limit = o.limit;
    f.order = o.oldest_first ? sh::log_order::oldest_first : sh::log_order::newest_first;
    return f;
}

void write_out(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout); // a pipe would hold followed entries back
}

// What a follow watches for: set once SIGINT or SIGTERM arrived, and the cancellation that
// ends the follow waiting at that moment.
struct stop_request {
    bool requested = false;
    asio::cancellation_signal signal;
};

asio::awaitable<int> print_logs(sh::database& db, const logs_options& o, sh::log_filter filter,
                                log_printer& printer, stop_request& stop) {
    // A follow starts with the newest entries, in the order they happened, like tail -f.
    auto first = filter;
    if (o.follow)
        first.order = sh::log_order::newest_first;
    auto [ec, rows] = co_await sh::async_query_logs(db, first, use_tuple);
    if (ec) {
        fail("cannot read '" + o.file + "': " + ec.message());
        co_return 1;
    }
    if (o.follow)
        std::reverse(rows.begin(), rows.end());
    std::string text;
    printer.print(rows, text);
    write_out(text);
    if (!o.follow)
        co_return 0;

    for (const auto& e : rows)
        filter.after_id = std::max(filter.after_id, e.id);
    filter.limit = follow_batch;
    while (!stop.requested) {
        auto [follow_ec, fresh] = co_await sh::async_follow_logs(
            db, filter, poll_interval, asio::bind_cancellation_slot(stop.signal.slot(), use_tuple));
        if (stop.requested)
            break;
        if (follow_ec) {
            fail("cannot follow '" + o.file + "': " + follow_ec.message());
            co_return 1;
        }
        text.clear();
        printer.print(fresh, text);
        write_out(text);
        filter.after_id = fresh.back().id;
    }
    co_return 0;
}

asio::awaitable<int> read_logs(const logs_options& o, sh::log_filter filter, log_printer& printer,
                               stop_request& stop) {
    // A viewer: a plain database on the file, which only reads (the file was checked first).
    auto settings = sh::default_log_database_settings();
    settings.log = sh::null_logger();
    sh::diagnostics diag;
    auto [ec, db] = co_await sh::database::async_open(co_await asio::this_coro::executor, o.file,
                                                      settings, diag, use_tuple);
    if (ec) {
        fail("cannot open '" + o.file + "': " + ec.message() +
             (diag.message.empty() || diag.message == ec.message() ? ""
                                                                   : " (" + diag.message + ")"));
        co_return 1;
    }
    const int status = co_await print_logs(db, o, std::move(filter), printer, stop);
    co_await db.async_close(use_tuple);
    co_return status;
}

} // namespace

int run_logs(int argc, char** argv) {
    CLI::App app("Prints the entries of a log database (see docs/log_database.md), newest first.",
                 "sqlh logs");
    logs_options o;
    app.add_option("FILE", o.file, "the log database file")->required();
    app.add_option("--level", o.level,
                   "this level and above: trace, debug, info, warn, error, critical");
    app.add_option("--logger", o.logger, "only this logger (its exact name)");
    app.add_option("--since", o.since,
                   "entries at or after this time: 10m (ago), 1h30m, 7d, or UTC 2024-05-01T12:00");
    app.add_option("--until", o.until, "entries before this time (the same forms as --since)");
    app.add_option("--grep", o.grep, "messages that contain TEXT (literal, case-sensitive)");
    app.add_option("--limit", o.limit, "at most N entries; 0: all")->capture_default_str();
    app.add_flag("--oldest-first", o.oldest_first, "the oldest entries first");
    app.add_flag("-f,--follow", o.follow,
                 "then print new entries as they arrive, until SIGINT or SIGTERM");
    app.add_flag("--json", o.json, "one JSON object per line");
    app.add_option("--color", o.color, "colour the output: auto (on a terminal), always, never")
        ->check(CLI::IsMember({"auto", "always", "never"}))
        ->capture_default_str();
    if (auto status = parse_options(app, argc, argv))
        return *status;

    auto filter = make_filter(o);
    if (!filter)
        return exit_usage;
    if (auto problem = logs::check_log_file(o.file); problem.status != 0) {
        fail(problem.message);
        return problem.status;
    }

    log_printer printer(o.json ? output_format::json : output_format::human,
                        !o.json && use_color(o.color));
    asio::io_context io;
    stop_request stop;
    std::optional<asio::signal_set> signals;
    if (o.follow) {
        signals.emplace(io, SIGINT, SIGTERM);
        signals->async_wait([&stop](boost::system::error_code ec, int) {
            if (ec)
                return;
            stop.requested = true;
            stop.signal.emit(asio::cancellation_type::terminal);
        });
    }
    int status = 1;
    asio::co_spawn(io, read_logs(o, std::move(*filter), printer, stop),
                   [&](std::exception_ptr e, int result) {
                       status = result;
                       if (e) {
                           status = 1;
                           try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& x) {
                               fail(x.what());
                           }
                       }
                       if (signals)
                           signals->cancel();
                   });
    io.run();
    return status;
}

} // namespace sqlh
