// Values as the doctor prints them: sizes, switches and SQLite's setting names.
#pragma once

#include <cstdint>
#include <sqlite_hybrid/options.hpp>
#include <string>
#include <string_view>

namespace sqlh::doctor {

std::string format_bytes(std::int64_t bytes); // "4096 bytes", "64 MiB", "1.5 GiB"
std::string_view on_off(bool on);

// As PRAGMA journal_mode answers them (lower case).
std::string_view journal_mode_name(sqlite_hybrid::journal_mode mode);
// PRAGMA synchronous numbers (0..3) and the library's setting, as names.
std::string_view synchronous_name(std::int64_t level);
std::string_view synchronous_name(sqlite_hybrid::synchronous_mode mode);

} // namespace sqlh::doctor
