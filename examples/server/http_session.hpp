// SPDX-License-Identifier: BSL-1.0
// One HTTP/1.1 connection: requests read with bounded headers and body and a timeout, answered
// in order, kept alive until the client, a timeout or a stop closes it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <list>

namespace catalogue {

struct app;

// The open connections of a worker, for a graceful stop.
class connection_tracker {
public:
    struct connection {
        std::function<void()> cancel; // cancels the connection's pending reads and writes
        bool idle = false;            // waiting for the first byte of a request
    };
    using handle = std::list<connection>::iterator;

    explicit connection_tracker(boost::asio::any_io_executor ex);

    handle add(std::function<void()> cancel);
    void remove(handle h);
    std::size_t size() const noexcept { return connections_.size(); }

    // Closes the connections that wait for a request; the others finish the request they are
    // serving. After `grace`, whatever is still being read or written is cancelled too. Completes
    // when every connection has ended.
    boost::asio::awaitable<void> drain(std::chrono::milliseconds grace);

private:
    std::list<connection> connections_;
    boost::asio::steady_timer changed_;
};

// Serves `socket` until it closes. Handles every failure itself.
boost::asio::awaitable<void> serve_connection(boost::asio::ip::tcp::socket socket, app& a,
                                              connection_tracker& tracker);

} // namespace catalogue
