// SPDX-License-Identifier: BSL-1.0
// The composed operation behind with_retry. What does not depend on the operation's type (the
// policy's arithmetic, metrics, logging, the report) is compiled once in src/retry.cpp.
#pragma once

#include <sqlite_hybrid/error.hpp>
#include <sqlite_hybrid/retry_policy.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/prepend.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>

namespace sqlite_hybrid::detail {

// How an attempt is cancelled: the caller's cancellations are forwarded to it, and at the
// deadline it gets a terminal cancellation of its own (so every operation inside it, however
// many awaits deep, stops waiting: for another process's lock too).
struct attempt_cancellation {
    boost::asio::cancellation_signal signal;
    bool deadline_fired = false;
};

class retry_state {
public:
    using clock = std::chrono::steady_clock;

    retry_state(retry_policy policy, retry_report* report);

    void begin_attempt() noexcept { ++attempts_; }
    std::optional<clock::time_point> deadline() const noexcept { return deadline_; }
    // After a lock error: the backoff to wait before the next attempt, or nullopt when the
    // retries or the deadline are used up (`ec` then becomes database_busy).
    std::optional<clock::duration> backoff_after(error_code& ec);
    void waited(clock::duration d) noexcept { waited_ += d; }
    // The deadline ended an attempt (or a backoff): `ec` becomes database_busy.
    void deadline_ended_attempt(error_code& ec) noexcept;
    // Records the outcome in the metrics and the report.
    void finish(const error_code& ec);

private:
    retry_policy policy_;
    retry_report* report_;
    clock::time_point started_ = clock::now();
    std::optional<clock::time_point> deadline_;
    int attempts_ = 0;
    bool saw_lock_error_ = false;
    bool deadline_reached_ = false;
    clock::duration waited_{0};
    error_code last_error_;
};

bool cancelled(boost::asio::cancellation_type t) noexcept;

// ---- the signature of an operation ----------------------------------------------------------

template <class T> struct awaitable_value;
template <class T, class Executor> struct awaitable_value<boost::asio::awaitable<T, Executor>> {
    using type = T;
};

template <class Op> struct retry_signature {
    using type = boost::asio::completion_signature_of_t<Op>;
};
template <class Op>
    requires std::is_invocable_v<Op&>
struct retry_signature<Op> {
    using value = typename awaitable_value<std::invoke_result_t<Op&>>::type;
    using type = std::conditional_t<std::is_void_v<value>, void(error_code),
                                    void(error_code, std::conditional_t<std::is_void_v<value>, int, value>)>;
};
template <class Op> using retry_signature_t = typename retry_signature<Op>::type;

// Starts one attempt of `op`, completing `handler` with (error_code, T...).
template <class Op, class Handler> void start_attempt(Op& op, Handler&& handler) {
    if constexpr (std::is_invocable_v<Op&>) {
        using value = typename awaitable_value<std::invoke_result_t<Op&>>::type;
        auto ex = boost::asio::get_associated_executor(handler);
        // The coroutine gets the handler's cancellation slot: a cancellation (or with_retry's
        // deadline) reaches whatever it awaits.
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        boost::asio::co_spawn(
            ex, op(),
            boost::asio::bind_cancellation_slot(
                slot, [h = std::forward<Handler>(handler)](std::exception_ptr e, auto... v) mutable {
                    error_code ec;
                    if (e) {
                        try {
                            std::rethrow_exception(e);
                        } catch (const boost::system::system_error& err) {
                            ec = err.code();
                        } catch (...) {
                            ec = make_error_code(errc::job_exception);
                        }
                    }
                    if constexpr (std::is_void_v<value>)
                        std::move(h)(ec);
                    else
                        std::move(h)(ec, std::move(v)...);
                }));
    } else {
        op(std::forward<Handler>(handler));
    }
}

// ---- the composed operation -----------------------------------------------------------------

template <class Op, class Signature> struct retry_op;

template <class Op, class... Values> struct retry_op<Op, void(error_code, Values...)> {
    // On the heap: the composed operation moves with each step, the callable must not.
    std::unique_ptr<Op> op;
    std::unique_ptr<retry_state> state;
    std::unique_ptr<boost::asio::steady_timer> timer;
    std::chrono::steady_clock::time_point wait_started{};
    std::shared_ptr<attempt_cancellation> cancel;
    std::unique_ptr<boost::asio::steady_timer> deadline_timer;

    struct backoff_over {};

    template <class Self> void operator()(Self& self) {
        self.reset_cancellation_state(boost::asio::enable_total_cancellation());
        // The caller's cancellations reach the attempt through the attempt's own signal.
        if (auto slot = self.get_cancellation_state().slot(); slot.is_connected())
            slot.assign([c = cancel](boost::asio::cancellation_type t) { c->signal.emit(t); });
        if (auto deadline = state->deadline()) {
            deadline_timer = std::make_unique<boost::asio::steady_timer>(
                boost::asio::get_associated_executor(self), *deadline);
            deadline_timer->async_wait([c = cancel](error_code e) {
                if (!e) {
                    c->deadline_fired = true;
                    c->signal.emit(boost::asio::cancellation_type::terminal);
                }
            });
        }
        attempt(self);
    }

    template <class Self> void operator()(Self& self, error_code ec, Values... values) {
        cancel->signal.slot().clear();
        if (ec && cancel->deadline_fired && !cancelled(self.cancelled())) {
            // Whatever the attempt was waiting for, the deadline came first.
            state->deadline_ended_attempt(ec);
            finish(self, ec);
            return;
        }
        if (is_lock_error(ec)) {
            if (cancelled(self.cancelled())) {
                finish(self, boost::asio::error::operation_aborted);
                return;
            }
            if (auto backoff = state->backoff_after(ec)) {
                if (!timer)
                    timer = std::make_unique<boost::asio::steady_timer>(
                        boost::asio::get_associated_executor(self));
                timer->expires_after(*backoff);
                wait_started = std::chrono::steady_clock::now();
                timer->async_wait(boost::asio::prepend(std::move(self), backoff_over{}));
                return;
            }
        }
        end(self);
        state->finish(ec);
        self.complete(ec, std::move(values)...);
    }

    template <class Self> void operator()(Self& self, backoff_over, error_code ec) {
        state->waited(std::chrono::steady_clock::now() - wait_started);
        if (ec || cancelled(self.cancelled())) {
            finish(self, boost::asio::error::operation_aborted);
            return;
        }
        if (cancel->deadline_fired) { // the deadline came during the backoff
            state->deadline_ended_attempt(ec);
            finish(self, ec);
            return;
        }
        attempt(self);
    }

private:
    template <class Self> void attempt(Self& self) {
        state->begin_attempt();
        // Both are read before `self` (and with it this object) moves into the binder.
        Op& callable = *op;
        auto slot = cancel->signal.slot();
        start_attempt(callable, boost::asio::bind_cancellation_slot(slot, std::move(self)));
    }

    template <class Self> void end(Self& self) {
        if (auto slot = self.get_cancellation_state().slot(); slot.is_connected())
            slot.clear();
        if (deadline_timer)
            deadline_timer->cancel();
    }

    template <class Self> void finish(Self& self, error_code ec) {
        end(self);
        state->finish(ec);
        self.complete(ec, Values{}...);
    }
};

} // namespace sqlite_hybrid::detail
