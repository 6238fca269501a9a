// SPDX-License-Identifier: BSL-1.0
// The asynchronous database: one writer connection and N read-only readers, each on its own
// strand of a thread pool. Every async_* takes an Asio completion token; the default token
// makes it co_await-able in an asio::awaitable. Handlers run on the caller's executor.
#pragma once

#include <sqlite_hybrid/connection.hpp>
#include <sqlite_hybrid/detail/forwarding_handler.hpp>
#include <sqlite_hybrid/detail/job.hpp>
#include <sqlite_hybrid/diagnostics.hpp>
#include <sqlite_hybrid/metrics.hpp>
#include <sqlite_hybrid/options.hpp>
#include <sqlite_hybrid/value.hpp>
#include <sqlite_hybrid/with_diagnostics.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <string>
#include <vector>

namespace sqlite_hybrid {

namespace asio = boost::asio;

// co_await-able; an error is thrown as error_with_diagnostics (with_diagnostics.hpp).
using default_token = with_diagnostics_t<asio::use_awaitable_t<>>;

namespace detail {
class database_impl;
// auto_route: a single statement that runs on a reader if it only reads; query: one known to.
enum class job_kind { read, write, maintenance, auto_route, query };
}

class database {
public:
    using executor_type = asio::any_io_executor;

    database() = default; // not open: every operation fails with errc::closed
    database(database&&) noexcept = default;
    database& operator=(database&&) noexcept;
    ~database(); // an open database is shut down: queued jobs fail, running ones finish

    // Opens the writer (which sets WAL and applies migrations), then the readers.
    // Handlers run on `ex` unless they have an executor of their own.
    template <class Token = default_token>
    static auto async_open(executor_type ex, std::string path, database_options options,
                           Token&& token = {}) {
        return open_with(std::move(ex), std::move(path), std::move(options), nullptr,
                         std::forward<Token>(token));
    }
    template <class Token = default_token>
    static auto async_open(executor_type ex, std::string path, database_options options,
                           diagnostics& diag, Token&& token = {}) {
        return open_with(std::move(ex), std::move(path), std::move(options), &diag,
                         std::forward<Token>(token));
    }

    // fn(connection&) runs on a reader, inside one read transaction (a consistent snapshot).
    // fn may return a value, a result<T>, or void; the handler gets (error_code[, T]).
    template <class Fn, class Token = default_token> auto async_read(Fn fn, Token&& token = {}) {
        return initiate(detail::job_kind::read, std::move(fn), nullptr, std::forward<Token>(token));
    }
    template <class Fn, class Token = default_token>
    auto async_read(Fn fn, diagnostics& diag, Token&& token = {}) {
        return initiate(detail::job_kind::read, std::move(fn), &diag, std::forward<Token>(token));
    }

    // fn(connection&) runs once on the writer inside BEGIN IMMEDIATE ... COMMIT, sharing the
    // transaction with other queued writes (inside a savepoint of its own, so that its failure
    // undoes only its work). The handler runs only after the shared COMMIT. fn is called as
    // const; it runs again only when another job or SQLite rolled back the transaction it ran
    // in (metrics().job_reruns), so keep effects outside the database out of it.
    template <class Fn, class Token = default_token> auto async_write(Fn fn, Token&& token = {}) {
        return initiate(detail::job_kind::write, std::move(fn), nullptr, std::forward<Token>(token));
    }
    template <class Fn, class Token = default_token>
    auto async_write(Fn fn, diagnostics& diag, Token&& token = {}) {
        return initiate(detail::job_kind::write, std::move(fn), &diag, std::forward<Token>(token));
    }

    // fn(connection&) runs on the writer with no transaction open, in order with queued writes:
    // for VACUUM, journal_mode changes, checkpoints and other statements that cannot run
    // inside a transaction.
    template <class Fn, class Token = default_token>
    auto async_maintenance(Fn fn, Token&& token = {}) {
        return initiate(detail::job_kind::maintenance, std::move(fn), nullptr,
                        std::forward<Token>(token));
    }
    template <class Fn, class Token = default_token>
    auto async_maintenance(Fn fn, diagnostics& diag, Token&& token = {}) {
        return initiate(detail::job_kind::maintenance, std::move(fn), &diag,
                        std::forward<Token>(token));
    }

    // One statement with bound parameters. Read-only statements go to a reader, all others to
    // the writer (in a group transaction).
    template <class Token = default_token>
    auto async_execute(std::string sql, params values = {}, Token&& token = {}) {
        return async_execute(std::move(sql), std::move(values), nullptr, std::forward<Token>(token));
    }
    template <class Token = default_token>
    auto async_execute(std::string sql, params values, diagnostics& diag, Token&& token = {}) {
        return async_execute(std::move(sql), std::move(values), &diag, std::forward<Token>(token));
    }

    // One statement's rows as Row (a tuple, a column type, or a described struct; see row.hpp).
    template <class Row, class Token = default_token>
    auto async_query(std::string sql, params values = {}, Token&& token = {}) {
        return async_query<Row>(std::move(sql), std::move(values), nullptr,
                                std::forward<Token>(token));
    }
    template <class Row, class Token = default_token>
    auto async_query(std::string sql, params values, diagnostics& diag, Token&& token = {}) {
        return async_query<Row>(std::move(sql), std::move(values), &diag,
                                std::forward<Token>(token));
    }

    // Runs every queued job, then closes the connections. Later calls fail with errc::closed.
    template <class Token = default_token> auto async_close(Token&& token = {}) {
        return asio::async_initiate<Token, void(error_code)>(
            [](auto handler, std::shared_ptr<detail::database_impl> impl) {
                start_close(std::move(impl),
                            asio::any_completion_handler<void(error_code)>(std::move(handler)));
            },
            token, impl_);
    }

    bool is_open() const noexcept;
    metrics_snapshot metrics() const;
    // The writer's settings as SQLite reports them (journal_mode says whether WAL is on).
    applied_settings writer_settings() const;
    const std::string& path() const noexcept;
    executor_type get_executor() const noexcept;

private:
    explicit database(std::shared_ptr<detail::database_impl> impl) noexcept;

    template <class Token>
    static auto open_with(executor_type ex, std::string path, database_options options,
                          diagnostics* diag, Token&& token) {
        return asio::async_initiate<Token, void(error_code, database)>(
            [](auto handler, executor_type ex, std::string path, database_options options,
               diagnostics* diag) {
                diag = detail::diagnostics_target(handler, diag);
                start_open(std::move(ex), std::move(path), std::move(options), diag,
                           asio::any_completion_handler<void(error_code, database)>(
                               std::move(handler)));
            },
            token, std::move(ex), std::move(path), std::move(options), diag);
    }

    template <class Fn, class Token>
    auto initiate(detail::job_kind kind, Fn fn, diagnostics* diag, Token&& token) {
        using job_type = detail::typed_job<std::decay_t<Fn>>;
        return asio::async_initiate<Token, typename job_type::signature>(
            [](auto handler, std::shared_ptr<detail::database_impl> impl, detail::job_kind kind,
               std::decay_t<Fn> fn, diagnostics* diag) {
                diag = detail::diagnostics_target(handler, diag);
                auto deliver = [](auto&& h, error_code ec, detail::job_ptr j) {
                    job_type::deliver(std::move(h), ec, std::move(j));
                };
                start(std::move(impl), kind, std::make_unique<job_type>(std::move(fn)), diag,
                      detail::job_handler(detail::forward_to<decltype(deliver)>(std::move(handler),
                                                                                deliver)));
            },
            token, impl_, kind, std::move(fn), diag);
    }

    template <class Token>
    auto async_execute(std::string sql, params values, diagnostics* diag, Token&& token) {
        return initiate(detail::job_kind::auto_route, execute_job{std::move(sql), std::move(values)},
                        diag, std::forward<Token>(token));
    }
    template <class Row, class Token>
    auto async_query(std::string sql, params values, diagnostics* diag, Token&& token) {
        return initiate(detail::job_kind::auto_route,
                        query_job<Row>{std::move(sql), std::move(values)}, diag,
                        std::forward<Token>(token));
    }

    struct execute_job {
        std::string sql;
        params values;
        result<execute_result> operator()(connection& c) const { return c.execute(sql, values); }
    };
    template <class Row> struct query_job {
        std::string sql;
        params values;
        result<std::vector<Row>> operator()(connection& c) const {
            return c.query<Row>(sql, values);
        }
    };

    static void start(std::shared_ptr<detail::database_impl> impl, detail::job_kind kind,
                      detail::job_ptr job, diagnostics* diag, detail::job_handler handler);
    static void start_open(executor_type ex, std::string path, database_options options,
                           diagnostics* diag,
                           asio::any_completion_handler<void(error_code, database)> handler);
    static void start_close(std::shared_ptr<detail::database_impl> impl,
                            asio::any_completion_handler<void(error_code)> handler);

    std::shared_ptr<detail::database_impl> impl_;
};

} // namespace sqlite_hybrid
