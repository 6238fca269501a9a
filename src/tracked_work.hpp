// SPDX-License-Identifier: BSL-1.0
// An operation holds its handler's executor's outstanding work from its start until its handler
// has run, as Asio's own operations do: an io_context never stops with one of the library's
// completions still on its way.
#pragma once

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>

#include <utility>

namespace sqlite_hybrid::detail {

namespace asio = boost::asio;

// The executor a handler completes on (or `fallback`), holding its context's outstanding work.
template <class Handler, class Executor>
asio::any_completion_executor tracked_executor(const Handler& handler, const Executor& fallback) {
    return asio::prefer(asio::get_associated_executor(handler, fallback),
                        asio::execution::outstanding_work.tracked);
}

// A handler together with the work it holds; its associated executor is the tracking one, so
// whatever dispatches to that executor releases the work only once the handler has run.
template <class... Args> class work_holding_handler {
public:
    using executor_type = asio::any_completion_executor;
    using cancellation_slot_type = asio::cancellation_slot;

    template <class Executor>
    work_holding_handler(asio::any_completion_handler<void(Args...)> handler, const Executor& fallback)
        : work_(tracked_executor(handler, fallback)), handler_(std::move(handler)) {}

    executor_type get_executor() const noexcept { return work_; }
    cancellation_slot_type get_cancellation_slot() const noexcept {
        return asio::get_associated_cancellation_slot(handler_);
    }

    void operator()(Args... args) {
        const auto work = std::move(work_); // released after the handler returned
        std::move(handler_)(std::move(args)...);
    }

private:
    executor_type work_;
    asio::any_completion_handler<void(Args...)> handler_;
};

// `handler`, holding its executor's work from now on. For operations that store their handlers
// (queued flushes, stops, closes) and complete them from another thread later.
template <class... Args, class Executor>
asio::any_completion_handler<void(Args...)>
holding_work(asio::any_completion_handler<void(Args...)> handler, const Executor& fallback) {
    return asio::any_completion_handler<void(Args...)>(
        work_holding_handler<Args...>(std::move(handler), fallback));
}

} // namespace sqlite_hybrid::detail
