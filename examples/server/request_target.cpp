// SPDX-License-Identifier: BSL-1.0
#include "request_target.hpp"

namespace catalogue {
namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 &&
                   hex_digit(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

} // namespace

std::optional<std::int64_t> parse_number(std::string_view s, std::int64_t min) {
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string_view::npos)
        return std::nullopt;
    const auto n = std::stoll(std::string(s));
    return n >= min ? std::optional(n) : std::nullopt;
}

target parse_target(std::string_view t) {
    target out;
    const auto mark = t.find('?');
    auto path = t.substr(0, mark);
    while (!path.empty()) {
        path.remove_prefix(1); // the '/'
        const auto slash = path.find('/');
        out.segments.push_back(path.substr(0, slash));
        path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
    }
    auto query = mark == std::string_view::npos ? std::string_view() : t.substr(mark + 1);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        out.query[percent_decode(pair.substr(0, eq))] =
            eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
    return out;
}

std::optional<std::int64_t> query_number(const target& t, std::string_view key,
                                         std::int64_t fallback, std::int64_t min,
                                         std::int64_t max) {
    auto it = t.query.find(key);
    if (it == t.query.end())
        return fallback;
    auto n = parse_number(it->second, min);
    return n && *n <= max ? n : std::nullopt;
}

} // namespace catalogue
