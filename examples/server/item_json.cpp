// SPDX-License-Identifier: BSL-1.0
#include "item_json.hpp"

#include <boost/json/parse.hpp>
#include <optional>

namespace catalogue {
namespace {

constexpr std::size_t max_sku_bytes = 64;
constexpr std::size_t max_name_bytes = 200;

std::optional<std::string> text_field(const boost::json::object& o, std::string_view key,
                                      std::size_t max, std::string& out) {
    const auto* v = o.if_contains(key);
    if (!v)
        return "missing field '" + std::string(key) + "'";
    const auto* s = v->if_string();
    if (!s)
        return "'" + std::string(key) + "' must be a string";
    if (s->empty() || s->size() > max)
        return "'" + std::string(key) + "' must have 1 to " + std::to_string(max) + " bytes";
    out.assign(s->data(), s->size());
    return std::nullopt;
}

std::optional<std::string> price_field(const boost::json::object& o, std::int64_t& out) {
    const auto* v = o.if_contains("price_cents");
    if (!v)
        return std::string("missing field 'price_cents'");
    if (v->is_int64())
        out = v->get_int64();
    else if (v->is_uint64())
        return std::string("'price_cents' is too large");
    else
        return std::string("'price_cents' must be an integer");
    if (out < 0)
        return std::string("'price_cents' must not be negative");
    return std::nullopt;
}

} // namespace

std::variant<item_fields, std::string> parse_item_fields(std::string_view body) {
    if (body.empty())
        return std::string("the body is empty: send a JSON object with sku, name, price_cents");
    boost::system::error_code ec;
    // Bounded by the server's body limit; the default depth limit (32) stops deep nesting.
    const auto value = boost::json::parse(body, ec);
    if (ec)
        return "malformed JSON: " + ec.message();
    const auto* object = value.if_object();
    if (!object)
        return std::string("the body must be a JSON object");
    item_fields f;
    if (auto error = text_field(*object, "sku", max_sku_bytes, f.sku))
        return *error;
    if (auto error = text_field(*object, "name", max_name_bytes, f.name))
        return *error;
    if (auto error = price_field(*object, f.price_cents))
        return *error;
    return f;
}

boost::json::value to_json(const item& i) {
    return boost::json::object{{"id", i.id},
                               {"sku", i.sku},
                               {"name", i.name},
                               {"price_cents", i.price_cents},
                               {"plays", i.plays}};
}

} // namespace catalogue
