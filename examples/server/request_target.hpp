// SPDX-License-Identifier: BSL-1.0
// The parts of a request target the routes read: path segments and decoded query parameters.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace catalogue {

struct target {
    std::vector<std::string_view> segments; // "/items/7/plays" -> items, 7, plays
    std::map<std::string, std::string, std::less<>> query;
};

// Segments point into `t`, which must outlive the result. Query names and values are
// percent-decoded ('+' is a space); a malformed escape is kept as it is.
target parse_target(std::string_view t);

// A decimal number of at most 18 digits, no sign, at least `min`; nullopt otherwise.
std::optional<std::int64_t> parse_number(std::string_view s, std::int64_t min);

// A query parameter's number in [min, max], `fallback` when absent; nullopt when malformed.
std::optional<std::int64_t> query_number(const target& t, std::string_view key,
                                         std::int64_t fallback, std::int64_t min,
                                         std::int64_t max);

} // namespace catalogue
