// SPDX-License-Identifier: BSL-1.0
#include "http_session.hpp"

#include "app.hpp"
#include "routes.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <iterator>
#include <optional>
#include <string_view>

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace catalogue {

connection_tracker::connection_tracker(asio::any_io_executor ex) : changed_(std::move(ex)) {}

connection_tracker::handle connection_tracker::add(std::function<void()> cancel) {
    return connections_.insert(connections_.end(), connection{std::move(cancel), false});
}

void connection_tracker::remove(handle h) {
    connections_.erase(h);
    changed_.cancel();
}

asio::awaitable<void> connection_tracker::drain(std::chrono::milliseconds grace) {
    for (auto& c : connections_)
        if (c.idle)
            c.cancel();
    const auto deadline = std::chrono::steady_clock::now() + grace;
    bool cancelled_all = false;
    while (!connections_.empty()) {
        if (!cancelled_all && std::chrono::steady_clock::now() >= deadline) {
            for (auto& c : connections_)
                c.cancel();
            cancelled_all = true;
        }
        // Requests still waiting for the database end by its deadline.
        changed_.expires_at(cancelled_all ? std::chrono::steady_clock::time_point::max()
                                          : deadline);
        co_await changed_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

namespace {

constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t read_chunk = 4096;

// The answer to a request that could not be read, or nothing when there is nobody to answer
// (the client went away, a timeout, a stop).
std::optional<std::pair<http::status, const char*>> refusal(const beast::error_code& ec) {
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
        return std::pair(http::status::request_header_fields_too_large, "headers too large");
    if (ec == http::error::body_limit)
        return std::pair(http::status::payload_too_large, "body too large");
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message &&
        ec != http::error::short_read && ec != http::error::need_more)
        return std::pair(http::status::bad_request, "malformed request");
    return std::nullopt;
}

// Sends the refusal, then reads (and drops) what the client still sends for a moment before
// closing, so that it sees the answer rather than a reset.
asio::awaitable<void> refuse(beast::tcp_stream& stream, http::status status, const char* why) {
    auto res = error_response(status, why, 11);
    res.keep_alive(false);
    res.prepare_payload();
    stream.expires_after(std::chrono::seconds(5));
    auto [ec, written] = co_await http::async_write(stream, res, tuple);
    if (ec)
        co_return;
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    char sink[read_chunk];
    std::size_t drained = 0;
    stream.expires_after(std::chrono::seconds(1));
    while (drained < 1024 * 1024) {
        auto [read_error, n] = co_await stream.async_read_some(asio::buffer(sink), tuple);
        if (read_error)
            break;
        drained += n;
    }
}

void log_request(app& a, const request& req, const response& res) {
    const auto code = res.result_int();
    const auto level = code >= 500 ? spdlog::level::warn : spdlog::level::debug;
    if (!a.log.should_log(level)) // most requests: no formatting at all
        return;
    std::string_view body = code >= 500 ? std::string_view(res.body()) : std::string_view();
    while (!body.empty() && body.back() == '\n')
        body.remove_suffix(1);
    a.log.log(level, "{} {} -> {} {}", std::string_view(req.method_string()),
              std::string_view(req.target()), code, body);
}

} // namespace

asio::awaitable<void> serve_connection(tcp::socket socket, app& a, connection_tracker& tracker) {
    beast::tcp_stream stream(std::move(socket));
    struct untrack {
        connection_tracker& tracker;
        connection_tracker::handle h;
        ~untrack() { tracker.remove(h); }
    } tracked{tracker, tracker.add([&stream] { stream.cancel(); })};
    auto& state = *tracked.h;
    const auto& o = a.options;
    beast::flat_buffer buffer;

    for (;;) {
        if (buffer.size() == 0) {
            // Between requests: a stop closes the connection here, a slow client times out.
            if (a.stopping)
                break;
            state.idle = true;
            stream.expires_after(o.request_timeout);
            auto [ec, n] = co_await stream.async_read_some(buffer.prepare(read_chunk), tuple);
            state.idle = false;
            if (ec)
                break;
            buffer.commit(n);
        }

        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(o.max_header_bytes));
        parser.body_limit(o.max_body_bytes);
        stream.expires_after(o.request_timeout);
        auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, tuple);
        if (!ec && static_cast<std::size_t>(std::distance(
                       parser.get().begin(), parser.get().end())) > o.max_header_fields)
            ec = http::error::header_limit;
        if (!ec && !parser.is_done()) {
            if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
                http::response<http::empty_body> go_on{http::status::continue_, 11};
                std::tie(ec, n) = co_await http::async_write(stream, go_on, tuple);
            }
            if (!ec)
                std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, tuple);
        }
        if (ec) {
            if (auto r = refusal(ec)) {
                a.log.info("refused a request: {} ({})", r->second, ec.message());
                co_await refuse(stream, r->first, r->second);
            }
            break;
        }

        const auto req = parser.release();
        auto res = co_await handle_request(a, req);
        const bool keep_alive = req.keep_alive() && !a.stopping;
        res.keep_alive(keep_alive);
        res.prepare_payload();
        log_request(a, req, res);
        stream.expires_after(o.request_timeout);
        std::tie(ec, n) = co_await http::async_write(stream, res, tuple);
        if (ec || !keep_alive)
            break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

} // namespace catalogue
