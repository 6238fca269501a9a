// SPDX-License-Identifier: BSL-1.0
// The catalogue server's request parsing (examples/server): bytes as a client may send them go
// through Beast's parser with the server's limits, then through the target and body parsing
// the routes do. Nothing may crash, and what the parsers accept must be within the limits the
// routes rely on.
#include "fuzz_check.hpp"
#include "item_json.hpp"
#include "request_target.hpp"
#include "server_options.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <variant>

namespace http = boost::beast::http;

namespace {

// Feeds everything, as a socket would in pieces, until the parser is done or refuses.
bool parse(http::request_parser<http::string_body>& parser, const std::uint8_t* data,
           std::size_t size) {
    boost::beast::error_code ec;
    while (size > 0 && !parser.is_done()) {
        const auto used = parser.put(boost::asio::buffer(data, size), ec);
        if (ec == http::error::need_more)
            return false;
        if (ec)
            return false;
        if (used == 0)
            return false;
        data += used;
        size -= used;
    }
    if (!parser.is_done() && parser.need_eof()) {
        parser.put_eof(ec);
        if (ec)
            return false;
    }
    return parser.is_done();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const catalogue::server_options limits;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);
    parser.eager(true);
    if (!parse(parser, data, size))
        return 0;
    const auto& req = parser.get();
    check(req.body().size() <= limits.max_body_bytes, "a body over the limit was accepted");

    const auto target = catalogue::parse_target(req.target());
    for (const auto segment : target.segments)
        check(segment.find('/') == std::string_view::npos, "a path segment holds a '/'");
    if (!target.segments.empty())
        if (const auto id = catalogue::parse_number(target.segments.front(), 1))
            check(*id >= 1, "an id below its minimum was accepted");
    if (const auto limit = catalogue::query_number(target, "limit", 50, 1, 1000))
        check(*limit >= 1 && *limit <= 1000, "a limit outside [1, 1000] was accepted");

    const auto fields = catalogue::parse_item_fields(req.body());
    if (const auto* f = std::get_if<catalogue::item_fields>(&fields)) {
        check(!f->sku.empty() && f->sku.size() <= 64, "an sku of the wrong length was accepted");
        check(!f->name.empty() && f->name.size() <= 200, "a name of the wrong length was accepted");
        check(f->price_cents >= 0, "a negative price was accepted");
    } else {
        check(!std::get<std::string>(fields).empty(), "a refusal without a reason");
    }
    return 0;
}
