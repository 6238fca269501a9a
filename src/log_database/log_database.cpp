// SPDX-License-Identifier: BSL-1.0
// The log database's handles: log_database (which owns the flusher's lifetime) and log_writer
// (the copyable entry point the spdlog sink holds).
#include "complete_later.hpp"
#include "log_path.hpp"
#include "log_state.hpp"
#include "../tracked_work.hpp"

#include <sqlite_hybrid/log_database.hpp>

#include <boost/asio/system_executor.hpp>

#include <sys/syscall.h>
#include <unistd.h>

namespace sqlite_hybrid {
namespace {

// The OS thread id, as spdlog records it (and as ps and gdb show it).
std::uint64_t current_thread_id() noexcept {
    thread_local const auto id = static_cast<std::uint64_t>(::syscall(SYS_gettid));
    return id;
}

// Completes at once (the handle is empty, or there is nothing to read from).
template <class Handler, class... Values>
void fail_now(Handler handler, const asio::any_io_executor& io, error_code ec, Values... values) {
    if (io)
        detail::complete_later(io, std::move(handler), ec, std::move(values)...);
    else
        detail::complete_later(asio::system_executor(), std::move(handler), ec,
                               std::move(values)...);
}

} // namespace

// ---- log_writer ----------------------------------------------------------------------------

void log_writer::log(log_level level, std::string_view logger, std::string_view message,
                     std::span<const log_field> extra) const noexcept {
    if (!state_ || !state_->accepting_here())
        return;
    try {
        log_entry entry;
        entry.time = log_now();
        entry.level = level;
        entry.logger = logger;
        entry.message = message;
        entry.extra = encode_log_fields(extra);
        entry.thread = current_thread_id();
        state_->log(std::move(entry));
    } catch (...) {
        state_->count_lost(level);
    }
}

void log_writer::log(log_entry entry) const noexcept {
    if (state_ && state_->accepting_here())
        state_->log(std::move(entry));
}

void log_writer::request_flush() const noexcept {
    if (state_)
        state_->request_flush();
}

// ---- log_database --------------------------------------------------------------------------

log_database::log_database(executor_type ex, std::string path, log_database_options options) {
    std::string why;
    if (auto ec = detail::check_log_path(path, options, why))
        throw system_error(ec, why);
    auto state =
        std::make_shared<detail::log_state>(std::move(ex), std::move(path), std::move(options));
    state->start();
    writer_ = log_writer(std::move(state));
}

log_database& log_database::operator=(log_database&& other) noexcept {
    if (this != &other) {
        this->~log_database();
        new (this) log_database(std::move(other));
    }
    return *this;
}

log_database::~log_database() {
    if (!writer_.state_)
        return;
    writer_.state_->request_stop();
}

void log_database::start_flush(std::shared_ptr<detail::log_state> state, void_handler handler) {
    if (!state)
        return fail_now(std::move(handler), asio::any_io_executor(), make_error_code(errc::closed));
    state->flush(detail::holding_work(std::move(handler), state->executor()));
}

void log_database::start_stop(std::shared_ptr<detail::log_state> state, void_handler handler) {
    if (!state)
        return fail_now(std::move(handler), asio::any_io_executor(), error_code());
    state->stop(detail::holding_work(std::move(handler), state->executor()));
}

void log_database::start_retention(std::shared_ptr<detail::log_state> state,
                                   count_handler handler) {
    if (!state)
        return fail_now(std::move(handler), asio::any_io_executor(), make_error_code(errc::closed),
                        std::int64_t{0});
    state->run_retention(detail::holding_work(std::move(handler), state->executor()));
}

void log_database::start_query(std::shared_ptr<detail::log_state> state, log_filter filter,
                               std::optional<std::chrono::milliseconds> poll_interval,
                               detail::log_entries_handler handler) {
    if (!state)
        return fail_now(std::move(handler), asio::any_io_executor(), make_error_code(errc::closed),
                        std::vector<log_entry>());
    // Waits for an open in progress (the constructor does not wait for it).
    auto io = state->executor();
    state->with_database(detail::log_state::database_handler(
        [io, filter = std::move(filter), poll_interval,
         handler = detail::holding_work(std::move(handler), io)](
            error_code why, std::shared_ptr<database> db) mutable {
            if (!db)
                return fail_now(std::move(handler), io, why, std::vector<log_entry>());
            if (poll_interval)
                detail::start_log_follow(*db, db, std::move(filter), *poll_interval,
                                         std::move(handler));
            else
                sqlite_hybrid::async_query_logs(*db, std::move(filter), std::move(handler));
        }));
}

log_database_metrics log_database::metrics() const {
    return writer_.state_ ? writer_.state_->metrics() : log_database_metrics{};
}

const std::string& log_database::path() const noexcept {
    static const std::string none;
    return writer_.state_ ? writer_.state_->path() : none;
}

log_database::executor_type log_database::get_executor() const noexcept {
    return writer_.state_ ? writer_.state_->executor() : executor_type();
}

} // namespace sqlite_hybrid
