// SPDX-License-Identifier: BSL-1.0
// Runs a coroutine on an io_context until it finishes and returns its value (or rethrows).
#pragma once

#include <sqlite_hybrid/database.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <type_traits>
#include <stdexcept>

namespace sqlite_hybrid::test {

template <class T> T run(boost::asio::io_context& io, boost::asio::awaitable<T> coro) {
    // optional<T>: results such as result<T> are not default-constructible, co_spawn's are.
    std::optional<std::conditional_t<std::is_void_v<T>, int, T>> out;
    auto body = [&]() -> boost::asio::awaitable<void> {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(coro);
            out.emplace(0);
        } else {
            out.emplace(co_await std::move(coro));
        }
    };
    auto future = boost::asio::co_spawn(io, body(), boost::asio::use_future);
    // Runs handlers until this coroutine is done (others may stay pending); a hang fails the
    // test instead of blocking CI.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    io.restart();
    while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("coroutine did not finish within 60 s");
        if (io.run_one_for(std::chrono::milliseconds(10)) == 0 && io.stopped())
            io.restart();
    }
    io.restart(); // leave it ready for the caller's own run()
    future.get(); // rethrows what the coroutine threw
    if constexpr (!std::is_void_v<T>)
        return std::move(*out);
}

// Polls `condition` every millisecond until it holds (run() bounds how long that may take).
inline boost::asio::awaitable<void> until(boost::asio::io_context& io,
                                          std::function<bool()> condition) {
    while (!condition()) {
        boost::asio::steady_timer t(io, std::chrono::milliseconds(1));
        co_await t.async_wait(boost::asio::use_awaitable);
    }
}

// Opens a database on `io` with options tuned for tests (quiet logger unless given one).
inline database open_database(boost::asio::io_context& io, const std::string& path,
                              database_options options = {}) {
    if (!options.log)
        options.log = null_logger();
    return run(io, database::async_open(io.get_executor(), path, std::move(options)));
}

} // namespace sqlite_hybrid::test
