// SPDX-License-Identifier: BSL-1.0
// The catalogue's HTTP endpoints (docs/server.md lists them with their answers).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string_view>

namespace catalogue {

struct app;

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

// The answer to one parsed request. Never throws: an unexpected failure is logged and answered
// with 500.
boost::asio::awaitable<response> handle_request(app& a, const request& req);

// {"error": message} with this status.
response error_response(http::status status, std::string_view message, unsigned version);

} // namespace catalogue
