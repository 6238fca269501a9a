// SPDX-License-Identifier: BSL-1.0
// Type erasure of the work a database runs on a connection: the job runs on the connection's
// strand and keeps its own result, which the completion then hands to the caller's handler.
#pragma once

#include <sqlite_hybrid/connection.hpp>
#include <sqlite_hybrid/diagnostics.hpp>
#include <sqlite_hybrid/result.hpp>

#include <boost/asio/any_completion_handler.hpp>

#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>

namespace sqlite_hybrid::detail {

struct job {
    virtual ~job() = default;
    // Runs on the connection's strand. Never throws: failures become the returned code, and
    // their explanation goes to `diag`.
    virtual error_code run(connection& conn, diagnostics& diag) noexcept = 0;
    // Drops a result kept from an earlier run (a group whose transaction was lost).
    virtual void discard_result() noexcept = 0;
    // The single statement a routed job runs (execute/query), so it can go to a reader when
    // it only reads; empty for jobs that run arbitrary code.
    virtual std::string_view routed_sql() const noexcept { return {}; }
    // One statement: SQLite undoes a failed statement's changes itself, so a group needs no
    // savepoint around it (a function job may run several statements and gets one).
    bool single_statement() const noexcept { return !routed_sql().empty(); }
};

using job_ptr = std::unique_ptr<job>;
using job_handler = boost::asio::any_completion_handler<void(error_code, job_ptr)>;

// Converts the exception in flight into a code and a message (system_error keeps its code).
error_code error_from_current_exception(diagnostics& diag) noexcept;

template <class T> struct unwrap_result {
    using type = T;
};
template <class T> struct unwrap_result<result<T>> {
    using type = T;
};
template <class T> constexpr bool is_result_v = false;
template <class T> constexpr bool is_result_v<result<T>> = true;

template <class T> struct signature_for {
    using type = void(error_code, T);
};
template <> struct signature_for<void> {
    using type = void(error_code);
};

template <class Fn> class typed_job final : public job {
    static_assert(std::is_invocable_v<const Fn&, connection&>,
                  "sqlite_hybrid: a job's function must be callable as const with a "
                  "connection& (no `mutable` lambda): it runs once, and runs again only when "
                  "SQLite rolled back the transaction it ran in, so it must not consume its "
                  "captures");

public:
    using returned = std::invoke_result_t<const Fn&, connection&>;
    using value_type = typename unwrap_result<returned>::type;
    using signature = typename signature_for<value_type>::type;

    explicit typed_job(Fn fn) : fn_(std::move(fn)) {}

    error_code run(connection& conn, diagnostics& diag) noexcept override {
        try {
            const Fn& fn = fn_;
            if constexpr (is_result_v<returned>) {
                auto r = fn(conn);
                if (!r)
                    return r.error();
                if constexpr (!std::is_void_v<value_type>)
                    out_.emplace(std::move(r).value());
            } else if constexpr (std::is_void_v<value_type>) {
                fn(conn);
            } else {
                out_.emplace(fn(conn));
            }
            return {};
        } catch (...) {
            return error_from_current_exception(diag);
        }
    }

    void discard_result() noexcept override {
        if constexpr (!std::is_void_v<value_type>)
            out_.reset();
    }

    std::string_view routed_sql() const noexcept override {
        if constexpr (requires { fn_.sql; })
            return fn_.sql;
        else
            return {};
    }

    // Hands the outcome to the caller's handler (on the caller's executor).
    template <class Handler> static void deliver(Handler&& h, error_code ec, job_ptr j) {
        if constexpr (std::is_void_v<value_type>) {
            std::move(h)(ec);
        } else {
            auto& self = static_cast<typed_job&>(*j);
            if (ec || !self.out_)
                std::move(h)(ec ? ec : make_error_code(errc::job_exception), value_type{});
            else
                std::move(h)(ec, std::move(*self.out_));
        }
    }

private:
    struct empty {};
    Fn fn_;
    [[no_unique_address]] std::conditional_t<std::is_void_v<value_type>, empty,
                                             std::optional<value_type>> out_;
};

} // namespace sqlite_hybrid::detail
