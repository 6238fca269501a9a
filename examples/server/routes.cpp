// SPDX-License-Identifier: BSL-1.0
#include "routes.hpp"

#include "app.hpp"
#include "catalogue.hpp"
#include "item_json.hpp"
#include "play_counter.hpp"
#include "request_target.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <optional>
#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/lock_metrics.hpp>
#include <sqlite_hybrid/log_database.hpp>
#include <sqlite_hybrid/prometheus.hpp>
#include <sqlite_hybrid/write_buffer.hpp>
#include <string>
#include <unistd.h>
#include <vector>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
namespace json = boost::json;

namespace catalogue {
namespace {

constexpr std::size_t default_items_limit = 50;
constexpr std::size_t default_logs_limit = 100;
constexpr std::size_t max_limit = 1000;

response json_response(http::status status, const json::value& body, unsigned version) {
    response res{status, version};
    res.set(http::field::content_type, "application/json");
    res.body() = json::serialize(body);
    res.body() += '\n';
    return res;
}

response busy_response(std::string_view message, unsigned version) {
    auto res = error_response(http::status::service_unavailable, message, version);
    res.set(http::field::retry_after, "1");
    return res;
}

response method_not_allowed(std::string_view allow, unsigned version) {
    auto res = error_response(http::status::method_not_allowed, "method not allowed", version);
    res.set(http::field::allow, allow);
    return res;
}

std::optional<response> refuse_non_json(const request& req) {
    const auto type = req[http::field::content_type];
    constexpr std::string_view expected = "application/json";
    if (type.empty() || (type.size() >= expected.size() &&
                         boost::beast::iequals(type.substr(0, expected.size()), expected)))
        return std::nullopt;
    return error_response(http::status::unsupported_media_type, "the body must be application/json",
                          req.version());
}

response item_answer(answer<item> a, http::status ok, unsigned version) {
    switch (a.status) {
    case outcome::ok: {
        auto res = json_response(ok, to_json(a.value), version);
        if (ok == http::status::created)
            res.set(http::field::location, "/items/" + std::to_string(a.value.id));
        return res;
    }
    case outcome::not_found:
        return error_response(http::status::not_found, "no such item", version);
    case outcome::conflict:
        return error_response(http::status::conflict, a.message, version);
    case outcome::busy:
        break;
    }
    return busy_response(a.message, version);
}

asio::awaitable<response> write_item(app& a, const request& req, std::optional<std::int64_t> id) {
    if (auto refused = refuse_non_json(req))
        co_return std::move(*refused);
    auto parsed = parse_item_fields(req.body());
    if (auto* why = std::get_if<std::string>(&parsed))
        co_return error_response(http::status::bad_request, *why, req.version());
    auto fields = std::get<item_fields>(std::move(parsed));
    if (id)
        co_return item_answer(co_await a.items.replace(*id, std::move(fields)), http::status::ok,
                              req.version());
    co_return item_answer(co_await a.items.create(std::move(fields)), http::status::created,
                          req.version());
}

asio::awaitable<response> list_items(app& a, const request& req, const target& t) {
    const auto limit = query_number(t, "limit", default_items_limit, 1, max_limit);
    const auto after = query_number(t, "after", 0, 0, INT64_MAX);
    if (!limit || !after)
        co_return error_response(http::status::bad_request,
                                 "limit must be 1 to 1000 and after a non-negative integer",
                                 req.version());
    auto found = co_await a.items.list(*after, static_cast<std::size_t>(*limit));
    if (found.status != outcome::ok)
        co_return busy_response(found.message, req.version());
    json::array items;
    for (const auto& i : found.value)
        items.push_back(to_json(i));
    json::value next = nullptr;
    if (found.value.size() == static_cast<std::size_t>(*limit))
        next = found.value.back().id;
    co_return json_response(http::status::ok, json::object{{"items", items}, {"next_after", next}},
                            req.version());
}

asio::awaitable<response> add_play(app& a, const request& req, std::int64_t id) {
    // Not `switch (co_await ...)`: GCC 12 miscompiles a co_await in a switch condition.
    const auto added = co_await a.plays.add(id);
    if (added == outcome::ok)
        co_return json_response(http::status::accepted, json::object{{"item", id}, {"plays", 1}},
                                req.version());
    if (added == outcome::not_found)
        co_return error_response(http::status::not_found, "no such item", req.version());
    co_return busy_response("the play buffer is full or stopping", req.version());
}

response metrics(app& a, unsigned version) {
    sh::prometheus_options o;
    o.labels = {{"worker", std::to_string(a.worker)}};
    std::string body;
    sh::append_prometheus(body, a.db.metrics(), o);
    sh::append_prometheus(body, sh::global_lock_metrics().snapshot(), o);
    sh::append_prometheus(body, a.plays.buffer_metrics(), o);
    sh::append_prometheus(body, a.logs.metrics(), o);
    response res{http::status::ok, version};
    res.set(http::field::content_type, sh::prometheus_content_type);
    res.body() = std::move(body);
    return res;
}

asio::awaitable<response> recent_logs(app& a, const request& req, const target& t) {
    sh::log_filter filter;
    if (auto it = t.query.find("level"); it != t.query.end()) {
        filter.min_level = sh::parse_log_level(it->second);
        if (!filter.min_level)
            co_return error_response(http::status::bad_request,
                                     "level must be trace, debug, info, warn, error or critical",
                                     req.version());
    }
    const auto limit = query_number(t, "limit", default_logs_limit, 1, max_limit);
    if (!limit)
        co_return error_response(http::status::bad_request, "limit must be 1 to 1000",
                                 req.version());
    filter.limit = static_cast<std::size_t>(*limit);
    // This worker's own latest entries are still buffered: write them first.
    (void)co_await a.logs.async_flush(asio::as_tuple(asio::use_awaitable));
    auto [ec, entries] =
        co_await a.logs.async_query_logs(std::move(filter), asio::as_tuple(asio::use_awaitable));
    if (ec)
        co_return busy_response("the log database cannot be read: " + ec.message(), req.version());
    json::array out;
    for (const auto& e : entries) {
        boost::system::error_code parse_error;
        auto extra = e.extra.empty() ? json::value() : json::parse(e.extra, parse_error);
        out.push_back(
            json::object{{"id", e.id},
                         {"time", sh::format_log_time(e.time)},
                         {"level", sh::log_level_name(e.level)},
                         {"logger", e.logger},
                         {"message", e.message},
                         {"extra", parse_error ? json::value() : extra},
                         {"source", e.source.empty() ? json::value() : json::value(e.source)}});
    }
    co_return json_response(http::status::ok, json::object{{"entries", out}}, req.version());
}

asio::awaitable<response> route(app& a, const request& req) {
    const auto method = req.method();
    const auto version = req.version();
    const auto t = parse_target(req.target());
    const auto& s = t.segments;
    if (s.size() == 1 && s[0] == "healthz") {
        if (method != http::verb::get)
            co_return method_not_allowed("GET", version);
        if (a.stopping)
            co_return busy_response("stopping", version);
        co_return json_response(http::status::ok,
                                json::object{{"status", "ok"},
                                             {"worker", a.worker},
                                             {"pid", static_cast<std::int64_t>(getpid())}},
                                version);
    }
    if (s.size() == 1 && s[0] == "metrics") {
        if (method != http::verb::get)
            co_return method_not_allowed("GET", version);
        co_return metrics(a, version);
    }
    if (s.size() == 1 && s[0] == "logs") {
        if (method != http::verb::get)
            co_return method_not_allowed("GET", version);
        co_return co_await recent_logs(a, req, t);
    }
    if (s.empty() || s[0] != "items" || s.size() > 3)
        co_return error_response(http::status::not_found, "no such resource", version);
    if (s.size() == 1) {
        if (method == http::verb::get)
            co_return co_await list_items(a, req, t);
        if (method == http::verb::post)
            co_return co_await write_item(a, req, std::nullopt);
        co_return method_not_allowed("GET, POST", version);
    }
    const auto id = parse_number(s[1], 1);
    if (!id)
        co_return error_response(http::status::bad_request, "an item id is a positive integer",
                                 version);
    if (s.size() == 2) {
        if (method == http::verb::get)
            co_return item_answer(co_await a.items.find(*id), http::status::ok, version);
        if (method == http::verb::put)
            co_return co_await write_item(a, req, id);
        co_return method_not_allowed("GET, PUT", version);
    }
    if (s[2] != "plays")
        co_return error_response(http::status::not_found, "no such resource", version);
    if (method != http::verb::post)
        co_return method_not_allowed("POST", version);
    co_return co_await add_play(a, req, *id);
}

} // namespace

response error_response(http::status status, std::string_view message, unsigned version) {
    return json_response(status, json::object{{"error", message}}, version);
}

asio::awaitable<response> handle_request(app& a, const request& req) {
    std::optional<response> res;
    try {
        res = co_await route(a, req);
    } catch (const std::exception& e) {
        a.log.error("{} {}: {}", std::string(req.method_string()), std::string(req.target()),
                    e.what());
    }
    if (!res)
        res = error_response(http::status::internal_server_error, "internal error", req.version());
    co_return std::move(*res);
}

} // namespace catalogue
