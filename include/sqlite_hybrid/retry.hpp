// SPDX-License-Identifier: BSL-1.0
// with_retry: re-runs an asynchronous operation that failed with a lock error (SQLITE_BUSY,
// SQLITE_LOCKED and their extended codes), after a backoff waited on a steady_timer of the
// caller's executor, bounded by a number of retries and an overall deadline.
//
//   auto r = co_await sh::with_retry(
//       [&](auto token) { return db.async_execute(sql, sh::args(1), std::move(token)); },
//       policy);
//
// `op` either takes a completion token and starts an operation that completes with
// (error_code, T...) — any Asio async function wrapped in a lambda — or returns an
// asio::awaitable<T> (a thrown system_error counts as its error code).
#pragma once

#include <sqlite_hybrid/detail/retry_op.hpp>
#include <sqlite_hybrid/error.hpp>
#include <sqlite_hybrid/lock_metrics.hpp>
#include <sqlite_hybrid/logger.hpp>
#include <sqlite_hybrid/retry_policy.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <utility>

namespace sqlite_hybrid {

template <class Op, class Token = boost::asio::use_awaitable_t<>>
auto with_retry(Op op, retry_policy policy, retry_report* report, Token&& token = {}) {
    using signature = detail::retry_signature_t<Op>;
    using impl = detail::retry_op<Op, signature>;
    return boost::asio::async_compose<Token, signature>(
        impl{std::make_unique<Op>(std::move(op)),
             std::make_unique<detail::retry_state>(std::move(policy), report), nullptr, {},
             std::make_shared<detail::attempt_cancellation>(), nullptr},
        token);
}

template <class Op, class Token = boost::asio::use_awaitable_t<>>
auto with_retry(Op op, retry_policy policy = {}, Token&& token = {}) {
    return with_retry(std::move(op), std::move(policy), nullptr, std::forward<Token>(token));
}

} // namespace sqlite_hybrid
