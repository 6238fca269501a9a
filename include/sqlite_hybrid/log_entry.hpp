// SPDX-License-Identifier: BSL-1.0
// One application log record as the log database stores it, the structured key/values a caller
// attaches to it (stored as a JSON object), and the names of levels and times as text.
#pragma once

#include <sqlite_hybrid/logger.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace sqlite_hybrid {

// Log timestamps: UTC, microseconds since the Unix epoch (what the `ts` column holds).
using log_time = std::chrono::sys_time<std::chrono::microseconds>;

inline log_time log_now() noexcept {
    return std::chrono::time_point_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now());
}

struct log_entry {
    std::int64_t id = 0; // the row id once written; 0 before
    log_time time{};
    log_level level = log_level::info;
    std::string logger;
    std::string message;
    std::string extra;        // a JSON object's text; empty: none (stored as NULL)
    std::uint64_t thread = 0; // the logging thread's OS id
    std::string source;       // "file:line function"; empty: unknown (stored as NULL)
};

// One key/value of an entry's `extra`. It only refers to its key and text: it is encoded to
// JSON during the log() call it is passed to, so temporaries are fine there, and only there.
class log_field {
public:
    using scalar =
        std::variant<std::nullptr_t, bool, std::int64_t, std::uint64_t, double, std::string_view>;

    log_field(std::string_view key, std::nullptr_t) : key_(key), value_(nullptr) {}
    log_field(std::string_view key, bool b) : key_(key), value_(b) {}
    template <class I>
        requires(std::is_integral_v<I> && !std::is_same_v<I, bool> && !std::is_same_v<I, char>)
    log_field(std::string_view key, I i) : key_(key), value_(widen(i)) {}
    log_field(std::string_view key, double d) : key_(key), value_(d) {}
    log_field(std::string_view key, std::string_view text) : key_(key), value_(text) {}
    log_field(std::string_view key, const char* text) : key_(key), value_(std::string_view(text)) {}
    log_field(std::string_view key, const std::string& text)
        : key_(key), value_(std::string_view(text)) {}

    std::string_view key() const noexcept { return key_; }
    const scalar& value() const noexcept { return value_; }

private:
    template <class I> static scalar widen(I i) {
        if constexpr (std::is_signed_v<I>)
            return static_cast<std::int64_t>(i);
        else
            return static_cast<std::uint64_t>(i);
    }

    std::string_view key_;
    scalar value_;
};

// The JSON object text of `fields` ("" when there are none): keys and strings escaped, invalid
// UTF-8 replaced by U+FFFD, non-finite doubles as null. A repeated key is kept as given.
std::string encode_log_fields(std::span<const log_field> fields);
// `text` as a JSON string, quotes included, escaped the same way: for tools that print entries
// as JSON (a message may hold invalid UTF-8, which JSON text may not).
std::string encode_log_json_string(std::string_view text);

// spdlog's names: "trace", "debug", "info", "warning", "error", "critical".
std::string_view log_level_name(log_level level) noexcept;
// Also accepts "warn", "err", "crit", any case, and the numbers 0-5.
std::optional<log_level> parse_log_level(std::string_view text) noexcept;

// "2024-05-01T12:00:00.000123Z"
std::string format_log_time(log_time t);

} // namespace sqlite_hybrid
