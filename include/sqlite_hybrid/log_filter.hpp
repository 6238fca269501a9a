// SPDX-License-Identifier: BSL-1.0
// Which log entries a query or a follow returns, and the parsing of the text forms a command
// line gives them ("--since 10m", "--level warn").
#pragma once

#include <sqlite_hybrid/log_entry.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sqlite_hybrid {

enum class log_order { newest_first, oldest_first };

struct log_filter {
    std::optional<log_level> min_level; // this level and above
    std::optional<std::string> logger;  // exact logger name
    std::optional<log_time> since;      // time >= since
    std::optional<log_time> until;      // time < until
    std::optional<std::string> text;    // a substring of the message, case-sensitive, literal
    std::int64_t after_id = 0;          // only entries with a larger id (where a follow resumes)
    std::size_t limit = 1000;           // 0: no limit
    log_order order = log_order::newest_first; // by time, then id; a follow is always oldest first
};

// "500ms", "90s", "10m", "2h", "7d", "1h30m": a positive length of time; nullopt when malformed.
std::optional<std::chrono::microseconds> parse_log_duration(std::string_view text) noexcept;

// A point in time for --since/--until: a duration back from `now` ("10m"), or a UTC date and time
// "2024-05-01", "2024-05-01T12:00", "2024-05-01 12:00:05.25" (a trailing "Z" is allowed). A
// duration reaching back before 0000-01-01 gives 0000-01-01.
std::optional<log_time> parse_log_time(std::string_view text, log_time now = log_now()) noexcept;

} // namespace sqlite_hybrid
