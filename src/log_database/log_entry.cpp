// SPDX-License-Identifier: BSL-1.0
// Level names and times as text, for log entries.
#include <sqlite_hybrid/log_entry.hpp>

#include <array>
#include <cctype>
#include <cstdio>

namespace sqlite_hybrid {
namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != b[i])
            return false;
    return true;
}

} // namespace

std::string_view log_level_name(log_level level) noexcept {
    static constexpr std::array<std::string_view, 6> names{"trace",   "debug", "info",
                                                           "warning", "error", "critical"};
    const auto i = static_cast<std::size_t>(level);
    return i < names.size() ? names[i] : std::string_view("unknown");
}

std::optional<log_level> parse_log_level(std::string_view text) noexcept {
    struct alias {
        std::string_view name;
        log_level level;
    };
    static constexpr alias aliases[] = {
        {"trace", log_level::trace},       {"debug", log_level::debug},
        {"info", log_level::info},         {"warn", log_level::warn},
        {"warning", log_level::warn},      {"err", log_level::error},
        {"error", log_level::error},       {"crit", log_level::critical},
        {"critical", log_level::critical},
    };
    for (const auto& a : aliases)
        if (equals_ignoring_case(text, a.name))
            return a.level;
    if (text.size() == 1 && text[0] >= '0' && text[0] <= '5')
        return static_cast<log_level>(text[0] - '0');
    return std::nullopt;
}

std::string format_log_time(log_time t) {
    using namespace std::chrono;
    const auto day = floor<days>(t);
    const year_month_day date{day};
    const hh_mm_ss<microseconds> clock{t - day};
    char text[40];
    std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ",
                  static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                  static_cast<unsigned>(date.day()), static_cast<int>(clock.hours().count()),
                  static_cast<int>(clock.minutes().count()),
                  static_cast<int>(clock.seconds().count()),
                  static_cast<long long>(clock.subseconds().count()));
    return text;
}

} // namespace sqlite_hybrid
