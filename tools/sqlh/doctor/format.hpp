// SPDX-License-Identifier: BSL-1.0
// Values as the doctor prints them: sizes, switches and SQLite's setting names.
#pragma once

#include <cstdint>
#include <sqlite_hybrid/options.hpp>
#include <string>
#include <string_view>

namespace sqlh::doctor {

std::string format_bytes(std::int64_t bytes); // "4096 bytes", "64 MiB", "1.5 GiB"
std::string_view on_off(bool on);

// PRAGMA synchronous numbers (0..3) as names ("unknown" for others); the library's own settings
// print with sqlite_hybrid::to_string.
std::string_view synchronous_name(std::int64_t level);

} // namespace sqlh::doctor
