// SPDX-License-Identifier: BSL-1.0
// A Beast HTTP/1.1 client for tests: one keep-alive connection, requests as coroutines, and a
// raw exchange for requests no well-behaved client would send.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <chrono>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>

namespace sqlite_hybrid::test {

struct http_reply {
    int status = 0;
    std::string body;
    std::string retry_after;
    std::string content_type;
};

class http_client {
public:
    http_client(boost::asio::any_io_executor ex, unsigned short port)
        : stream_(std::move(ex)), endpoint_(boost::asio::ip::make_address("127.0.0.1"), port) {}

    // Throws system_error when the connection fails; reconnects when the server closed it
    // after its last answer.
    boost::asio::awaitable<http_reply> request(boost::beast::http::verb method, std::string target,
                                               std::string body = {},
                                               std::string content_type = "application/json") {
        namespace http = boost::beast::http;
        using boost::asio::use_awaitable;
        if (!connected_) {
            stream_.expires_after(std::chrono::seconds(30));
            co_await stream_.async_connect(endpoint_, use_awaitable);
            connected_ = true;
        }
        http::request<http::string_body> req{method, target, 11};
        req.set(http::field::host, "127.0.0.1");
        if (!body.empty()) {
            req.set(http::field::content_type, content_type);
            req.body() = std::move(body);
        }
        req.prepare_payload();
        stream_.expires_after(std::chrono::seconds(30));
        co_await http::async_write(stream_, req, use_awaitable);
        http::response<http::string_body> res;
        co_await http::async_read(stream_, buffer_, res, use_awaitable);
        if (!res.keep_alive()) {
            boost::beast::error_code ignored;
            stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
            stream_.close();
            buffer_.clear();
            connected_ = false;
        }
        co_return http_reply{static_cast<int>(res.result_int()), res.body(),
                             std::string(res[http::field::retry_after]),
                             std::string(res[http::field::content_type])};
    }

private:
    boost::beast::tcp_stream stream_;
    boost::asio::ip::tcp::endpoint endpoint_;
    boost::beast::flat_buffer buffer_;
    bool connected_ = false;
};

struct raw_answer {
    std::string text;    // every byte the server sent
    bool closed = false; // the server closed the connection (else `limit` passed)
};

// Sends `bytes` on a new connection and reads until the server closes it or `limit` passes
// without data. Blocking.
inline raw_answer raw_exchange(unsigned short port, const std::string& bytes,
                               std::chrono::seconds limit = std::chrono::seconds(30)) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket s(io);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    timeval tv{static_cast<time_t>(limit.count()), 0};
    setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    boost::asio::write(s, boost::asio::buffer(bytes));
    raw_answer out;
    char chunk[4096];
    // recv itself, not Asio's read: Asio polls again when SO_RCVTIMEO expires.
    for (;;) {
        const auto n = recv(s.native_handle(), chunk, sizeof chunk, 0);
        if (n > 0) {
            out.text.append(chunk, static_cast<std::size_t>(n));
            continue;
        }
        out.closed = n == 0 || errno == ECONNRESET;
        return out;
    }
}

// The status code of a raw answer ("HTTP/1.1 400 Bad Request" -> 400), 0 when there is none.
inline int raw_status(const std::string& answer) {
    if (!answer.starts_with("HTTP/1.") || answer.size() < 12)
        return 0;
    return std::stoi(answer.substr(9, 3));
}

} // namespace sqlite_hybrid::test
