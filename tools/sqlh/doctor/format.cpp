// SPDX-License-Identifier: BSL-1.0
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

std::string_view synchronous_name(std::int64_t level) {
    return level >= 0 && level <= static_cast<std::int64_t>(sqlite_hybrid::synchronous_mode::extra)
               ? sqlite_hybrid::to_string(static_cast<sqlite_hybrid::synchronous_mode>(level))
               : "unknown";
}

} // namespace sqlh::doctor
