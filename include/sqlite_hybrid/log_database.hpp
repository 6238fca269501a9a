// SPDX-License-Identifier: BSL-1.0
// Application logs in a SQLite file of their own, away from the main database: log() only
// buffers; a flusher coroutine writes batches, one transaction each, on a timer or as soon as a
// batch is full; retention deletes old entries in small chunks; failures are counted and
// reported, never raised to the code that logs. See docs/log_database.md.
#pragma once

#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/log_database_metrics.hpp>
#include <sqlite_hybrid/log_database_options.hpp>
#include <sqlite_hybrid/log_query.hpp>
#include <sqlite_hybrid/log_writer.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sqlite_hybrid {

class log_database {
public:
    using executor_type = asio::any_io_executor;

    // Starts the flusher on `ex` (which it keeps busy until stopped) and returns at once: the
    // flusher opens or creates the file on the log database's pool, never on the caller's
    // thread, while log() buffers. Throws system_error with errc::path_refused for the main
    // database's files and for ":memory:" (see the options). A failure to open (an unwritable
    // directory, a locked file) is reported, counted in the metrics and retried; queries wait
    // for an open in progress; async_flush() completes once the open has ended, with its error.
    // If the file is deleted or renamed later, the next batch goes to a new file at `path`.
    log_database(executor_type ex, std::string path, log_database_options options = {});
    log_database(log_database&&) noexcept = default;
    log_database& operator=(log_database&&) noexcept;
    // Asks the flusher to stop: it writes what is buffered if `ex` keeps running. Prefer
    // async_stop, which says when that is done.
    ~log_database();

    void log(log_level level, std::string_view logger, std::string_view message,
             std::initializer_list<log_field> extra = {}) noexcept {
        writer_.log(level, logger, message, extra);
    }
    void log(log_level level, std::string_view logger, std::string_view message,
             std::span<const log_field> extra) noexcept {
        writer_.log(level, logger, message, extra);
    }
    void log(log_entry entry) noexcept { writer_.log(std::move(entry)); }

    // A copyable handle to log() into this database (what the spdlog sink holds).
    log_writer writer() const noexcept { return writer_; }

    // Writes what is buffered now. Completes with (error_code): the failure that kept entries
    // unwritten (they stay buffered and are tried again), errc::closed once stopped.
    template <class Token = default_token> auto async_flush(Token&& token = {}) {
        return asio::async_initiate<Token, void(error_code)>(
            [](auto handler, std::shared_ptr<detail::log_state> state) {
                start_flush(std::move(state), void_handler(std::move(handler)));
            },
            token, writer_.state_);
    }

    // Stops taking entries, writes what is buffered and closes the file. Completes with
    // (error_code): empty, or the failure that left entries unwritten (counted as
    // dropped_after_stop). Queries fail with errc::closed afterwards.
    template <class Token = default_token> auto async_stop(Token&& token = {}) {
        return asio::async_initiate<Token, void(error_code)>(
            [](auto handler, std::shared_ptr<detail::log_state> state) {
                start_stop(std::move(state), void_handler(std::move(handler)));
            },
            token, writer_.state_);
    }

    // Runs a retention pass now (chunked deletes, then incremental vacuum), in turn with the
    // flusher's batches. Completes with (error_code, rows deleted).
    template <class Token = default_token> auto async_run_retention(Token&& token = {}) {
        return asio::async_initiate<Token, void(error_code, std::int64_t)>(
            [](auto handler, std::shared_ptr<detail::log_state> state) {
                start_retention(std::move(state), count_handler(std::move(handler)));
            },
            token, writer_.state_);
    }

    // async_query_logs / async_follow_logs (log_query.hpp) on this log file; entries still
    // buffered are not seen. Fail with the open error while the file could not be opened.
    template <class Token = default_token>
    auto async_query_logs(log_filter filter, Token&& token = {}) {
        return asio::async_initiate<Token, void(error_code, std::vector<log_entry>)>(
            [](auto handler, std::shared_ptr<detail::log_state> state, log_filter filter) {
                start_query(std::move(state), std::move(filter), std::nullopt,
                            detail::log_entries_handler(std::move(handler)));
            },
            token, writer_.state_, std::move(filter));
    }
    template <class Token = default_token>
    auto async_follow_logs(log_filter filter, std::chrono::milliseconds poll_interval,
                           Token&& token = {}) {
        return asio::async_initiate<Token, void(error_code, std::vector<log_entry>)>(
            [](auto handler, std::shared_ptr<detail::log_state> state, log_filter filter,
               std::chrono::milliseconds interval) {
                start_query(std::move(state), std::move(filter), interval,
                            detail::log_entries_handler(std::move(handler)));
            },
            token, writer_.state_, std::move(filter), poll_interval);
    }

    log_database_metrics metrics() const;
    const std::string& path() const noexcept;
    executor_type get_executor() const noexcept;

private:
    using void_handler = asio::any_completion_handler<void(error_code)>;
    using count_handler = asio::any_completion_handler<void(error_code, std::int64_t)>;

    static void start_flush(std::shared_ptr<detail::log_state> state, void_handler handler);
    static void start_stop(std::shared_ptr<detail::log_state> state, void_handler handler);
    static void start_retention(std::shared_ptr<detail::log_state> state, count_handler handler);
    // A follow when `poll_interval` is set, else a query.
    static void start_query(std::shared_ptr<detail::log_state> state, log_filter filter,
                            std::optional<std::chrono::milliseconds> poll_interval,
                            detail::log_entries_handler handler);

    log_writer writer_;
};

} // namespace sqlite_hybrid
