// SPDX-License-Identifier: BSL-1.0
// Holds a database's writer busy until opened, so that the writes queued meanwhile run as one
// group (or as the groups the writer's bounds make of them).
#pragma once

#include "support/run.hpp"

#include <sqlite_hybrid/database.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <atomic>
#include <chrono>
#include <future>

namespace sqlite_hybrid::test {

struct writer_gate {
    std::promise<void> open;
    std::shared_future<void> opened = open.get_future().share();
    std::atomic<bool> running{false};
    std::atomic<bool> done{false};

    // Returns once the writer runs the gate's job (which waits until `open` is set).
    boost::asio::awaitable<void> block(database& db, boost::asio::io_context& io) {
        boost::asio::co_spawn(
            io,
            [&db, this]() -> boost::asio::awaitable<void> {
                // Its answer does not matter (an I/O fault meant for the group may meet it).
                co_await db.async_write(
                    [this](connection&) {
                        running = true;
                        opened.wait_for(std::chrono::seconds(30));
                    },
                    boost::asio::as_tuple(boost::asio::use_awaitable));
                done = true;
            },
            boost::asio::detached);
        co_await until(io, [this] { return running.load(); });
    }
};

} // namespace sqlite_hybrid::test
