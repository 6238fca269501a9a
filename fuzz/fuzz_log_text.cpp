// SPDX-License-Identifier: BSL-1.0
// The text forms of the log viewer's filters (--since, --until, --level) and the JSON strings
// it prints: arbitrary input must parse or be refused, never crash, and what parses must come
// back the same through its printed form.
#include "fuzz_check.hpp"
#include <sqlite_hybrid/log_entry.hpp>
#include <sqlite_hybrid/log_filter.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace sh = sqlite_hybrid;

namespace {

// Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80         ? 1
                        : (c >> 5) == 6  ? 2
                        : (c >> 4) == 14 ? 3
                        : (c >> 3) == 30 ? 4
                                         : 0;
        if (n == 0 || i + n > s.size())
            return false;
        std::uint32_t cp = n == 1 ? c : c & (0x7F >> n);
        for (std::size_t k = 1; k < n; ++k) {
            const auto d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (d & 0x3F);
        }
        const std::uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto now = sh::log_time(std::chrono::microseconds(1'700'000'000'000'000));

    if (auto d = sh::parse_log_duration(text))
        check(d->count() > 0);

    if (auto t = sh::parse_log_time(text, now)) {
        const auto printed = sh::format_log_time(*t);
        auto again = sh::parse_log_time(printed, now);
        check(again && *again == *t);
    }

    if (auto level = sh::parse_log_level(text)) {
        auto again = sh::parse_log_level(sh::log_level_name(*level));
        check(again && *again == *level);
    }

    // A JSON string: quoted, valid UTF-8, no raw control characters.
    const auto json = sh::encode_log_json_string(text);
    check(json.size() >= 2 && json.front() == '"' && json.back() == '"');
    check(valid_utf8(json));
    for (const char c : json)
        check(static_cast<unsigned char>(c) >= 0x20);
    return 0;
}
