// SPDX-License-Identifier: BSL-1.0
// Completing a stored handler from outside the call that started its operation: posted to an
// I/O executor first (an any_completion_executor cannot be posted to), then dispatched to the
// handler's own executor, as Asio's composed operations do.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include <utility>

namespace sqlite_hybrid::detail {

template <class Executor, class Handler, class... Args>
void complete_later(const Executor& io, Handler handler, Args... args) {
    boost::asio::post(io, [io, h = std::move(handler), ... args = std::move(args)]() mutable {
        auto ex = boost::asio::get_associated_executor(h, io);
        boost::asio::dispatch(ex, [h = std::move(h), ... args = std::move(args)]() mutable {
            std::move(h)(std::move(args)...);
        });
    });
}

} // namespace sqlite_hybrid::detail
