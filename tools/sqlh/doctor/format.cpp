#include "doctor/format.hpp"

#include <array>
#include <cstdio>

namespace sqlh::doctor {

std::string format_bytes(std::int64_t bytes) {
    static constexpr std::array<const char*, 4> units = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024)
        return std::to_string(bytes) + " bytes";
    double v = static_cast<double>(bytes);
    std::size_t unit = 0;
    for (v /= 1024; v >= 1024 && unit + 1 < units.size(); v /= 1024)
        ++unit;
    char text[32];
    // Whole numbers print without decimals: "64 MiB", not "64.0 MiB".
    if (v == static_cast<double>(static_cast<std::int64_t>(v)))
        std::snprintf(text, sizeof text, "%lld %s", static_cast<long long>(v), units[unit]);
    else
        std::snprintf(text, sizeof text, "%.1f %s", v, units[unit]);
    return text;
}

std::string_view on_off(bool on) {
    return on ? "on" : "off";
}

std::string_view journal_mode_name(sqlite_hybrid::journal_mode mode) {
    using sqlite_hybrid::journal_mode;
    switch (mode) {
    case journal_mode::wal:
        return "wal";
    case journal_mode::delete_mode:
        return "delete";
    case journal_mode::truncate:
        return "truncate";
    case journal_mode::persist:
        return "persist";
    case journal_mode::memory:
        return "memory";
    case journal_mode::off:
        return "off";
    }
    return "wal";
}

std::string_view synchronous_name(std::int64_t level) {
    static constexpr std::array<std::string_view, 4> names = {"off", "normal", "full", "extra"};
    return level >= 0 && level < 4 ? names[static_cast<std::size_t>(level)] : "unknown";
}

std::string_view synchronous_name(sqlite_hybrid::synchronous_mode mode) {
    return synchronous_name(static_cast<std::int64_t>(mode));
}

} // namespace sqlh::doctor
