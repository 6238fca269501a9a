// SPDX-License-Identifier: BSL-1.0
#include <sqlite_hybrid/database_url.hpp>

#include "database_url_secrets.hpp"

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

namespace sqlite_hybrid {

database_url parse_database_url(std::string_view url) {
    if (url.starts_with("postgresql://") || url.starts_with("postgres://"))
        return {backend::postgresql, std::string(url)};
    if (url.starts_with("postgresql:"))
        return {backend::postgresql, std::string(url.substr(11))};
    if (url.starts_with("sqlite://")) // sqlite:///abs/path has an empty authority
        return {backend::sqlite, std::string(url.substr(9))};
    if (url.starts_with("sqlite:"))
        return {backend::sqlite, std::string(url.substr(7))};
    return {backend::sqlite, std::string(url)};
}

namespace {

int hex_value(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

// %XX decoded; a broken escape is kept as it is.
std::string percent_decoded(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
            hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Where the secrets of a PostgreSQL connection string are: [begin, end) ranges of `url`.
std::vector<std::pair<std::size_t, std::size_t>> secret_ranges(std::string_view url) {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    if (const auto scheme = url.find("://"); scheme != std::string_view::npos) {
        // user:password@host. The password may hold an unencoded '@', '/' or '?' that libpq
        // reads in its own way: everything up to the last '@' before the query goes (the last
        // '@' at all when the query mark is inside the password), never less.
        const std::size_t start = scheme + 3;
        const auto query = url.find('?', start);
        auto at = url.rfind('@', query == std::string_view::npos ? url.size() : query);
        if (at == std::string_view::npos || at < start)
            at = url.rfind('@');
        if (at != std::string_view::npos && at >= start) {
            const auto colon = url.find(':', start);
            if (colon != std::string_view::npos && colon < at)
                out.emplace_back(colon + 1, at);
        }
        // ?password=...&sslpassword=...: keys decoded and compared without case.
        for (std::size_t from = url.find('?', at == std::string_view::npos ? start : at);
             from != std::string_view::npos && from < url.size();) {
            const auto pair_end = std::min(url.find('&', from + 1), url.size());
            const auto pair = url.substr(from + 1, pair_end - from - 1);
            if (const auto eq = pair.find('='); eq != std::string_view::npos &&
                                                lower(percent_decoded(pair.substr(0, eq))).find(
                                                    "password") != std::string::npos)
                out.emplace_back(from + 1 + eq + 1, pair_end);
            from = pair_end < url.size() ? pair_end : std::string_view::npos;
        }
        return out;
    }
    // key = value settings: a value is quoted ('a b', with \' inside) or ends at a blank.
    const std::string folded = lower(url);
    for (std::size_t at = folded.find("password"); at != std::string::npos;
         at = folded.find("password", at + 1)) {
        std::size_t begin = at + 8;
        while (begin < url.size() && url[begin] == ' ')
            ++begin;
        if (begin >= url.size() || url[begin] != '=')
            continue;
        ++begin;
        while (begin < url.size() && url[begin] == ' ')
            ++begin;
        std::size_t end = begin;
        if (end < url.size() && url[end] == '\'') {
            for (++end; end < url.size() && url[end] != '\''; ++end)
                if (url[end] == '\\')
                    ++end;
            end = std::min(end + 1, url.size());
        } else {
            while (end < url.size() && !std::isspace(static_cast<unsigned char>(url[end])))
                ++end;
        }
        out.emplace_back(begin, end);
    }
    return out;
}

} // namespace

std::string redact_database_url(std::string_view url) {
    std::string out(url);
    if (parse_database_url(url).engine != backend::postgresql)
        return out;
    auto ranges = secret_ranges(url);
    // From the last, so that earlier positions stay where they were.
    std::sort(ranges.begin(), ranges.end());
    for (auto it = ranges.rbegin(); it != ranges.rend(); ++it)
        out.replace(it->first, it->second - it->first, "***");
    return out;
}

namespace detail {

std::string without_secrets(std::string text, std::string_view url) {
    if (parse_database_url(url).engine != backend::postgresql)
        return text;
    std::vector<std::string> secrets;
    for (const auto& [begin, end] : secret_ranges(url)) {
        std::string raw(url.substr(begin, end - begin));
        if (raw.size() >= 2 && raw.front() == '\'' && raw.back() == '\'')
            raw = raw.substr(1, raw.size() - 2);
        secrets.push_back(percent_decoded(raw));
        secrets.push_back(std::move(raw));
    }
    // Longest first: a secret that holds another is replaced whole.
    std::sort(secrets.begin(), secrets.end(),
              [](const auto& a, const auto& b) { return a.size() > b.size(); });
    for (const auto& secret : secrets) {
        if (secret.empty())
            continue;
        for (auto at = text.find(secret); at != std::string::npos;
             at = text.find(secret, at + 3))
            text.replace(at, secret.size(), "***");
    }
    return text;
}

} // namespace detail

} // namespace sqlite_hybrid
