// SPDX-License-Identifier: BSL-1.0
#include "pg_session.hpp"

#include "../database_url_secrets.hpp"
#include "pg_wait_scope.hpp"

#include <sqlite_hybrid/error.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <future>
#include <system_error>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace sqlite_hybrid::detail {

namespace {

using clock = std::chrono::steady_clock;

// How often a wait looks at its scope again: cancellations of queued jobs do not wake it.
constexpr std::chrono::milliseconds wait_slice{50};

bool is_error(const PGresult* r) {
    const auto status = PQresultStatus(r);
    return status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE;
}

// libpq ends its messages with a newline.
std::string trimmed(const char* text) {
    std::string s = text ? text : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}

// Text form of a parameter; blobs go in binary (bytea) form.
struct param_buffers {
    std::vector<std::string> text;
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;

    explicit param_buffers(std::span<const value> params) {
        text.resize(params.size());
        values.resize(params.size());
        lengths.resize(params.size());
        formats.resize(params.size());
        for (std::size_t i = 0; i < params.size(); ++i) {
            const value& v = params[i];
            switch (v.type()) {
            case value_type::null: values[i] = nullptr; continue;
            case value_type::integer: text[i] = std::to_string(v.as_int64()); break;
            case value_type::real: {
                char buf[32];
                auto end = std::to_chars(buf, buf + sizeof buf, v.as_double()).ptr;
                text[i].assign(buf, end);
                break;
            }
            case value_type::text: text[i] = v.as_text(); break;
            case value_type::blob: {
                const auto& b = v.as_blob();
                text[i].assign(reinterpret_cast<const char*>(b.data()), b.size());
                formats[i] = 1;
                break;
            }
            }
            values[i] = text[i].c_str();
            lengths[i] = static_cast<int>(text[i].size());
        }
    }
};

} // namespace

result<std::unique_ptr<pg_session>> pg_session::connect(pg_session_options options,
                                                        diagnostics& diag) {
    std::unique_ptr<pg_session> s(new pg_session(std::move(options)));
    if (auto ec = s->open(diag))
        return ec;
    return s;
}

pg_session::pg_session(pg_session_options options)
    : options_(std::move(options)), wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

pg_session::~pg_session() {
    if (conn_)
        PQfinish(conn_);
    if (wake_fd_ >= 0)
        ::close(wake_fd_);
}

void pg_session::abandon() noexcept {
    if (conn_)
        PQfinish(std::exchange(conn_, nullptr)); // non-blocking: its goodbye never waits
    cancel_.reset();
    ++generation_; // a new connection knows none of the prepared statements
}

void pg_session::interrupt() noexcept {
    interrupted_wait_.store(wait_id_.load());
    const std::uint64_t one = 1;
    if (wake_fd_ >= 0)
        (void)!::write(wake_fd_, &one, sizeof one);
}

bool pg_session::should_give_up(std::uint64_t wait) noexcept {
    return interrupted_wait_.load() == wait || !server_wait::wanted();
}

std::future<void> pg_session::send_cancel_request() {
    std::promise<void> sent;
    auto done = sent.get_future();
    if (!cancel_) {
        sent.set_value();
        return done;
    }
    try {
        std::thread([cancel = cancel_, sent = std::move(sent)]() mutable {
            char message[256];
            (void)PQcancel(cancel.get(), message, sizeof message);
            sent.set_value();
        }).detach();
    } catch (const std::system_error&) {
        // No thread for it: the connection is closed after the grace period instead.
    }
    return done;
}

pg_session::wait_end pg_session::wait_socket(short events,
                                             std::optional<clock::time_point> limit,
                                             std::optional<std::uint64_t> interruptible_as) {
    for (;;) {
        auto slice = wait_slice;
        if (limit) {
            const auto now = clock::now();
            if (now >= *limit)
                return wait_end::timed_out;
            slice = std::min(slice, std::chrono::ceil<std::chrono::milliseconds>(*limit - now));
        }
        pollfd fds[2] = {{PQsocket(conn_), events, 0}, {wake_fd_, POLLIN, 0}};
        const int n = ::poll(fds, 2, static_cast<int>(slice.count()));
        if (n > 0 && (fds[1].revents & POLLIN)) {
            std::uint64_t count;
            (void)!::read(wake_fd_, &count, sizeof count);
        }
        if (n > 0 && fds[0].revents != 0)
            return wait_end::ready;
        // An answer that came within the first slice never costs a cancel request.
        if (interruptible_as && should_give_up(*interruptible_as))
            return wait_end::interrupted;
    }
}

error_code pg_session::not_sent(std::string_view sql) {
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK)
        return lost(sql);
    diag_->message = trimmed(PQerrorMessage(conn_));
    diag_->sql = std::string(sql);
    diag_->error_offset = -1;
    return make_postgres_error("XX000");
}

result<pg_result> pg_session::finish(std::string_view sql, std::optional<clock::time_point> limit) {
    const std::uint64_t wait = ++wait_id_;
    pg_result kept;
    std::optional<clock::time_point> give_up_at;
    std::future<void> cancel_request;
    for (;;) {
        const int unsent = PQflush(conn_); // 1: the socket took only part of the command
        if (unsent < 0)
            return lost(sql);
        if (unsent == 0) {
            if (!PQconsumeInput(conn_) && PQstatus(conn_) != CONNECTION_OK)
                return lost(sql);
            while (!PQisBusy(conn_)) {
                pg_result r(PQgetResult(conn_));
                if (!r) {
                    // A cancel request that reached the server after this answer could cancel
                    // the next command: the server ignores it only while it waits for one.
                    if (cancel_request.valid() &&
                        cancel_request.wait_until(*give_up_at) != std::future_status::ready)
                        abandon();
                    return kept;
                }
                if (!kept || !is_error(kept.get()))
                    kept = std::move(r);
            }
        }
        const auto end = give_up_at ? give_up_at : limit;
        const auto how = wait_socket(unsent ? POLLIN | POLLOUT : POLLIN, end,
                                     give_up_at ? std::nullopt : std::optional(wait));
        if (how == wait_end::ready)
            continue;
        if (how == wait_end::interrupted) {
            // The server's answer to the cancel request (57014) ends the wait as usual.
            cancel_request = send_cancel_request();
            give_up_at = clock::now() + options_.cancel_grace;
            continue;
        }
        const bool cancelled = give_up_at.has_value();
        abandon();
        diag_->message = cancelled ? "cancelled; the server did not answer the cancel request "
                                     "in time, so the connection was closed (its transaction "
                                     "rolls back on the server)"
                                   : "the server did not answer in time; the connection was "
                                     "closed (its transaction rolls back on the server)";
        diag_->sql = std::string(sql);
        diag_->error_offset = -1;
        return make_postgres_error(cancelled ? "57014" : "08006");
    }
}

result<pg_result> pg_session::finish_command(std::string_view sql) {
    BOOST_OUTCOME_TRY(auto r, finish(sql));
    if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
        return fail(r.get(), sql);
    return r;
}

error_code pg_session::open(diagnostics& diag) {
    abandon();
    // Ours first: settings in the connection string override them.
    const std::string timeout = std::to_string(
        std::max<long long>(1, std::chrono::ceil<std::chrono::seconds>(options_.connect_timeout).count()));
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {timeout.c_str(), "sqlite_hybrid", options_.conninfo.c_str(), nullptr};
    // Connecting step by step, as libpq's blocking connect does, but in waits that a scope
    // nobody waits in any more ends (libpq leaves connect_timeout to the caller here).
    conn_ = PQconnectStartParams(keys, values, 1);
    const auto limit = clock::now() + options_.connect_timeout;
    const std::uint64_t wait = ++wait_id_;
    auto state = PGRES_POLLING_WRITING;
    std::string failure;
    while (conn_ && PQstatus(conn_) != CONNECTION_BAD && state != PGRES_POLLING_OK &&
           state != PGRES_POLLING_FAILED) {
        const auto how = wait_socket(state == PGRES_POLLING_READING ? POLLIN : POLLOUT, limit, wait);
        if (how == wait_end::timed_out) {
            failure = "no answer within " + timeout + " s (connect_timeout)";
            break;
        }
        if (how == wait_end::interrupted) {
            failure = "given up: every job waiting for the connection was cancelled or "
                      "passed its deadline";
            break;
        }
        state = PQconnectPoll(conn_);
    }
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
        if (failure.empty())
            failure = conn_ ? trimmed(PQerrorMessage(conn_)) : std::string("out of memory");
        abandon();
        // libpq may quote parts of the connection string (a broken %-escape in a password).
        diag.message = "cannot connect to PostgreSQL: " + without_secrets(failure, options_.conninfo);
        diag.sql.clear();
        diag.error_offset = -1;
        // Authentication and unknown databases have SQLSTATEs of their own on the server, but
        // libpq reports a failed connect without one: all of them are "cannot open".
        return make_postgres_error("08001");
    }
    PQsetnonblocking(conn_, 1);
    PQsetErrorVerbosity(conn_, PQERRORS_DEFAULT);
    if (options_.notices)
        PQsetNoticeReceiver(conn_, &pg_session::receive_notice, this);
    // The text forms the row reader expects, whatever the server's or role's defaults.
    std::string setup = "SET client_min_messages = warning; SET bytea_output = hex;"
                        "SET extra_float_digits = 3;";
    if (options_.read_only)
        setup += "SET default_transaction_read_only = on;";
    setup += options_.session_sql;
    if (auto r = execute_script(setup); !r) {
        // Not half set up: without its settings the session must not be used.
        diag = *diag_;
        abandon();
        return r.error();
    }
    cancel_ = std::shared_ptr<PGcancel>(PQgetCancel(conn_), [](PGcancel* c) {
        if (c)
            PQfreeCancel(c);
    });
    return {};
}

bool pg_session::healthy() {
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK)
        return false;
    const auto now = clock::now();
    const auto idle = now - last_checked_;
    last_checked_ = now;
    if (options_.health_check_after.count() <= 0 || idle < options_.health_check_after ||
        PQtransactionStatus(conn_) != PQTRANS_IDLE)
        return true;
    // Idle for long: a server restarted meanwhile shows only when the connection is used.
    // An empty query costs one round trip and answers PGRES_EMPTY_QUERY when all is well; a
    // server that does not answer within connect_timeout counts as gone.
    if (!PQsendQuery(conn_, ""))
        return false;
    auto probe = finish("", now + options_.connect_timeout);
    return probe && probe.value() && PQresultStatus(probe.value().get()) == PGRES_EMPTY_QUERY &&
           conn_ && PQstatus(conn_) == CONNECTION_OK;
}

error_code pg_session::ensure_connected() {
    if (healthy())
        return {};
    const auto now = clock::now();
    // Jobs see connection_lost (08006) until a reconnect succeeds, with the reason.
    if (now < next_reconnect_) {
        diag_->message = "the connection to PostgreSQL was lost (" + last_connect_failure_ +
                         "); next attempt to reconnect in " +
                         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            next_reconnect_ - now)
                                            .count()) +
                         " ms";
        return make_postgres_error("08006");
    }
    diagnostics why;
    if (auto ec = open(why)) {
        backoff_ = std::clamp(backoff_ * 2, options_.reconnect_backoff_min,
                              options_.reconnect_backoff_max);
        next_reconnect_ = clock::now() + backoff_;
        last_connect_failure_ = why.message;
        diag_->message = "the connection to PostgreSQL was lost and reconnecting failed: " +
                         why.message;
        return make_postgres_error("08006");
    }
    backoff_ = {};
    next_reconnect_ = {};
    last_connect_failure_.clear();
    last_checked_ = clock::now();
    return {};
}

error_code pg_session::lost(std::string_view sql) {
    diag_->message = conn_ ? "the connection to PostgreSQL was lost: " + trimmed(PQerrorMessage(conn_))
                           : std::string("the connection to PostgreSQL was closed after the server "
                                         "stopped answering; the next job connects again");
    diag_->error_offset = -1;
    diag_->sql = std::string(sql);
    return make_postgres_error("08006");
}

error_code pg_session::fail(const PGresult* r, std::string_view sql) {
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    if (PQstatus(conn_) != CONNECTION_OK) {
        // The connection is gone. A server that ended the session (pg_terminate_backend) says
        // so first: keep its code.
        if (state == nullptr || std::string_view(state).substr(0, 2) != "57")
            return lost(sql);
    }
    if (state == nullptr) { // libpq's own failure on a working connection
        diag_->message = trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
        diag_->sql = std::string(sql);
        diag_->error_offset = -1;
        return make_postgres_error("XX000");
    }
    diag_->message = trimmed(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
    if (const char* detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL))
        diag_->message += " (" + trimmed(detail) + ")";
    diag_->sql = std::string(sql);
    diag_->error_offset = -1;
    if (const char* pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION))
        diag_->error_offset = std::max(0, std::atoi(pos) - 1); // 1-based characters
    return make_postgres_error(state);
}

result<void> pg_session::execute_script(std::string_view sql) {
    const std::string text(sql);
    if (!conn_ || !PQsendQuery(conn_, text.c_str()))
        return not_sent(sql);
    BOOST_OUTCOME_TRY(auto r, finish(sql));
    const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY)
        return fail(r.get(), sql);
    return outcome::success();
}

void pg_session::receive_notice(void* self, const PGresult* notice) {
    const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
    const std::string_view level = severity ? severity : "";
    const log_level as = level == "WARNING" ? log_level::warn
                         : level == "NOTICE" || level == "INFO" || level == "LOG"
                             ? log_level::info
                         : level == "DEBUG" ? log_level::debug
                                            : log_level::error; // ERROR, FATAL, PANIC
    const char* message = PQresultErrorField(notice, PG_DIAG_MESSAGE_PRIMARY);
    static_cast<pg_session*>(self)->options_.notices(
        as, "PostgreSQL " + std::string(level) + ": " + (message ? message : ""));
}

error_code pg_session::prepare_on_server(pg_prepared& p) {
    if (!conn_ || !PQsendPrepare(conn_, p.name.c_str(), p.sql.c_str(), 0, nullptr))
        return not_sent(p.sql);
    if (auto made = finish_command(p.sql); !made)
        return made.error();
    if (!PQsendDescribePrepared(conn_, p.name.c_str()))
        return not_sent(p.sql);
    auto described = finish_command(p.sql);
    if (!described)
        return described.error();
    p.parameters = PQnparams(described.value().get());
    p.columns = PQnfields(described.value().get());
    p.generation = generation_;
    return {};
}

result<pg_prepared*> pg_session::prepare(std::string_view sql, std::optional<bool> in_job) {
    auto refused = [&](const std::optional<std::string>& why) -> error_code {
        *diag_ = {*why, -1, std::string(sql)};
        return make_error_code(errc::statement_refused);
    };
    if (auto it = prepared_.find(sql); it != prepared_.end()) {
        if (in_job && it->second.refused_in_job[*in_job])
            return refused(it->second.refused_in_job[*in_job]);
        it->second.last_used = ++use_clock_;
        return &it->second;
    }
    // Classified before the server sees it, once per text. Savepoints of a job's own are the
    // only difference, so a text allowed without them is allowed with them.
    pg_prepared p;
    p.refused_in_job[0] = postgres_refusal(sql, false);
    if (p.refused_in_job[0])
        p.refused_in_job[1] = postgres_refusal(sql, true);
    if (in_job && p.refused_in_job[*in_job])
        return refused(p.refused_in_job[*in_job]);
    if (const auto second = postgres_second_statement(sql); second != sql.npos) {
        *diag_ = {"only one statement is allowed here; use execute_script for several",
                  static_cast<int>(second), std::string(sql)};
        return make_error_code(errc::multiple_statements);
    }
    if (prepared_.size() >= std::max<std::size_t>(options_.statement_cache_size, 1))
        evict_one();
    p.name = "s" + std::to_string(next_name_++);
    p.sql = postgres_placeholders(sql);
    p.read_only = postgres_reads_only(p.sql);
    // Only a reader routes by it: the writer runs everything, and its transaction need not
    // wait for a catalog query.
    if (p.read_only && options_.read_only)
        p.read_only = !calls_volatile_function(p.sql);
    if (auto ec = prepare_on_server(p))
        return ec;
    p.last_used = ++use_clock_;
    auto [it, _] = prepared_.emplace(std::string(sql), std::move(p));
    return &it->second;
}

bool pg_session::calls_volatile_function(const std::string& sql) {
    std::string names;
    for (const auto& f : postgres_called_functions(sql))
        names += (names.empty() ? "" : ",") + f; // word characters only
    if (names.empty())
        return false;
    const char* values[] = {names.c_str()};
    const char* query =
        "SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n"
        " ON n.oid = p.pronamespace WHERE p.proname = ANY (string_to_array($1, ','))"
        " AND p.provolatile = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        " LIMIT 1";
    if (!conn_ || !PQsendQueryParams(conn_, query, 1, nullptr, values, nullptr, nullptr, 0))
        return true; // unknown: the writer runs it right whatever it does
    auto r = finish(query);
    return !r || !r.value() || PQresultStatus(r.value().get()) != PGRES_TUPLES_OK ||
           PQntuples(r.value().get()) > 0;
}

void pg_session::evict_one() {
    auto oldest = prepared_.end();
    for (auto it = prepared_.begin(); it != prepared_.end(); ++it)
        if (it->second.users == 0 &&
            (oldest == prepared_.end() || it->second.last_used < oldest->second.last_used))
            oldest = it;
    if (oldest == prepared_.end())
        return; // every one is held: the cache grows until they are closed
    const pg_prepared& p = oldest->second;
    if (p.generation == generation_ && !p.stale) {
        // DEALLOCATE runs inside a transaction too (the writer is nearly always in one), but
        // not in one that failed: then the cache grows by one until the next prepare.
        if (PQtransactionStatus(conn_) == PQTRANS_INERROR)
            return;
        if (auto r = execute_script("DEALLOCATE " + p.name); !r)
            return;
    }
    prepared_.erase(oldest);
}

result<pg_result> pg_session::run(pg_prepared& p, std::span<const value> params) {
    for (std::size_t i = 0; i < params.size(); ++i)
        if (params[i].type() == value_type::text &&
            params[i].as_text().find('\0') != std::string::npos) {
            // Sent as a C string it would end at the NUL: stored cut short, compared wrongly.
            *diag_ = {"parameter " + std::to_string(i + 1) +
                          " holds a NUL character, which PostgreSQL text cannot store (a blob "
                          "binds as bytea)",
                      -1, p.sql};
            return make_error_code(errc::value_out_of_range);
        }
    param_buffers b(params);
    for (int attempt = 0;; ++attempt) {
        if (p.stale) {
            (void)execute_script("DEALLOCATE " + p.name); // gone already (26000): nothing to do
            p.stale = false;
            p.generation = 0;
        }
        if (p.generation != generation_)
            if (auto ec = prepare_on_server(p))
                return ec;
        if (!PQsendQueryPrepared(conn_, p.name.c_str(), static_cast<int>(params.size()),
                                 b.values.data(), b.lengths.data(), b.formats.data(), 0))
            return not_sent(p.sql);
        BOOST_OUTCOME_TRY(pg_result r, finish(p.sql));
        const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
        if (status == PGRES_EMPTY_QUERY) { // as SQLite answers text without a statement
            *diag_ = {"no SQL statement in the text (empty, or only comments)", -1, p.sql};
            return make_sqlite_error(SQLITE_MISUSE);
        }
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
            return r;
        // A table changed since it was prepared ("cached plan must not change result type"),
        // or DEALLOCATE ALL ran: prepare it again. Outside a transaction nothing ran, so once
        // more now; inside one the transaction has failed, and the statement is prepared again
        // on its next use.
        const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
        if (state && (std::string_view(state) == "0A000" || std::string_view(state) == "26000")) {
            p.stale = true;
            if (attempt == 0 && PQtransactionStatus(conn_) == PQTRANS_IDLE)
                continue;
        }
        return fail(r.get(), p.sql);
    }
}

bool pg_session::in_transaction() const noexcept {
    const auto s = PQtransactionStatus(conn_);
    return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

bool pg_session::transaction_failed() const noexcept {
    return PQtransactionStatus(conn_) == PQTRANS_INERROR;
}

void pg_session::clear_statement_cache() noexcept {
    if (live_statements_ == 0 && !prepared_.empty() && PQtransactionStatus(conn_) == PQTRANS_IDLE) {
        (void)execute_script("DEALLOCATE ALL");
        prepared_.clear();
    }
}

} // namespace sqlite_hybrid::detail
