// SPDX-License-Identifier: BSL-1.0
// The text forms of a log filter's times: "10m" back from now, or a UTC date and time.
#include <sqlite_hybrid/log_filter.hpp>

#include <charconv>
#include <cstdint>
#include <limits>

namespace sqlite_hybrid {
namespace {

using std::chrono::microseconds;

// Reads exactly `width` digits (any count when width is 0) from the front of `text`.
std::optional<std::int64_t> take_number(std::string_view& text, std::size_t width = 0) noexcept {
    std::size_t n = 0;
    while (n < text.size() && text[n] >= '0' && text[n] <= '9' && (width == 0 || n < width))
        ++n;
    if (n == 0 || (width != 0 && n != width) || n > 15)
        return std::nullopt;
    std::int64_t value = 0;
    std::from_chars(text.data(), text.data() + n, value);
    text.remove_prefix(n);
    return value;
}

bool take(std::string_view& text, char c) noexcept {
    if (text.empty() || text.front() != c)
        return false;
    text.remove_prefix(1);
    return true;
}

std::optional<microseconds> unit_length(std::string_view& text) noexcept {
    struct unit {
        std::string_view suffix;
        microseconds length;
    };
    // "ms" before "m": the longest suffix that matches wins.
    static constexpr unit units[] = {
        {"ms", std::chrono::milliseconds(1)}, {"s", std::chrono::seconds(1)},
        {"m", std::chrono::minutes(1)},       {"h", std::chrono::hours(1)},
        {"d", std::chrono::days(1)},          {"w", std::chrono::weeks(1)},
    };
    for (const auto& u : units) {
        if (text.starts_with(u.suffix)) {
            text.remove_prefix(u.suffix.size());
            return u.length;
        }
    }
    return std::nullopt;
}

// The fraction of a second after the point, as microseconds ("25" is 250000).
std::optional<microseconds> take_fraction(std::string_view& text) noexcept {
    std::int64_t us = 0;
    std::size_t digits = 0;
    while (!text.empty() && text.front() >= '0' && text.front() <= '9') {
        if (digits < 6)
            us = us * 10 + (text.front() - '0');
        ++digits;
        text.remove_prefix(1);
    }
    if (digits == 0)
        return std::nullopt;
    for (std::size_t i = digits; i < 6; ++i)
        us *= 10;
    return microseconds(us);
}

std::optional<log_time> parse_utc(std::string_view text) noexcept {
    using namespace std::chrono;
    const auto y = take_number(text, 4);
    if (!y || !take(text, '-'))
        return std::nullopt;
    const auto mo = take_number(text, 2);
    if (!mo || !take(text, '-'))
        return std::nullopt;
    const auto d = take_number(text, 2);
    if (!d)
        return std::nullopt;
    const year_month_day date{year(static_cast<int>(*y)), month(static_cast<unsigned>(*mo)),
                              day(static_cast<unsigned>(*d))};
    if (!date.ok())
        return std::nullopt;
    log_time t = sys_days(date);
    if (take(text, 'T') || take(text, ' ')) {
        const auto h = take_number(text, 2);
        if (!h || *h > 23 || !take(text, ':'))
            return std::nullopt;
        const auto mi = take_number(text, 2);
        if (!mi || *mi > 59)
            return std::nullopt;
        t += hours(*h) + minutes(*mi);
        if (take(text, ':')) {
            const auto s = take_number(text, 2);
            if (!s || *s > 60)
                return std::nullopt;
            t += seconds(*s);
            if (take(text, '.')) {
                const auto fraction = take_fraction(text);
                if (!fraction)
                    return std::nullopt;
                t += *fraction;
            }
        }
    }
    (void)take(text, 'Z');
    if (!text.empty())
        return std::nullopt;
    return t;
}

} // namespace

std::optional<microseconds> parse_log_duration(std::string_view text) noexcept {
    if (text.empty())
        return std::nullopt;
    microseconds total{0};
    while (!text.empty()) {
        const auto n = take_number(text);
        if (!n)
            return std::nullopt;
        const auto unit = unit_length(text);
        if (!unit)
            return std::nullopt;
        // Far beyond any log's age, and a time point that far back would overflow.
        constexpr auto limit = std::numeric_limits<std::int64_t>::max() / 2;
        if (*n > (limit - total.count()) / unit->count())
            return std::nullopt;
        total += *n * *unit;
    }
    if (total <= microseconds(0))
        return std::nullopt;
    return total;
}

std::optional<log_time> parse_log_time(std::string_view text, log_time now) noexcept {
    if (const auto ago = parse_log_duration(text)) {
        // Further back than the absolute form can name means "from the beginning": clamped to
        // 0000-01-01, so that the time still prints as a time that parses back.
        const log_time earliest = std::chrono::sys_days(std::chrono::year(0) / 1 / 1);
        return now - earliest <= *ago ? earliest : now - *ago;
    }
    return parse_utc(text);
}

} // namespace sqlite_hybrid
