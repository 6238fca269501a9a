// SPDX-License-Identifier: BSL-1.0
// The JSON text of a log entry's key/values. Written by hand: the core library does not depend
// on a JSON library, and a flat object of scalars is all it needs.
#include <sqlite_hybrid/log_entry.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>

namespace sqlite_hybrid {
namespace {

// Length of the valid UTF-8 sequence at the start of `s`, or 0 when it is not one.
std::size_t utf8_sequence_length(std::string_view s) noexcept {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char lead = byte(0);
    std::size_t length = 0;
    char32_t code = 0;
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
        code = lead & 0x1f;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        code = lead & 0x0f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        code = lead & 0x07;
    } else {
        return 0;
    }
    if (s.size() < length)
        return 0;
    for (std::size_t i = 1; i < length; ++i) {
        if ((byte(i) & 0xc0) != 0x80)
            return 0;
        code = (code << 6) | (byte(i) & 0x3f);
    }
    const bool overlong = (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
    const bool surrogate = code >= 0xd800 && code <= 0xdfff;
    return overlong || surrogate || code > 0x10ffff ? 0 : length;
}

void append_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    while (!s.empty()) {
        const auto c = static_cast<unsigned char>(s.front());
        if (c >= 0x80) {
            if (const auto n = utf8_sequence_length(s)) {
                out.append(s.substr(0, n));
                s.remove_prefix(n);
            } else {
                out += "\\ufffd"; // JSON text must be valid UTF-8
                s.remove_prefix(1);
            }
            continue;
        }
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 0xf];
            } else {
                out += static_cast<char>(c);
            }
        }
        s.remove_prefix(1);
    }
    out += '"';
}

template <class Number> void append_number(std::string& out, Number n) {
    char digits[32];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
    out.append(digits, ec == std::errc() ? end : digits);
}

void append_value(std::string& out, const log_field::scalar& v) {
    struct visitor {
        std::string& out;
        void operator()(std::nullptr_t) const { out += "null"; }
        void operator()(bool b) const { out += b ? "true" : "false"; }
        void operator()(std::int64_t i) const { append_number(out, i); }
        void operator()(std::uint64_t u) const { append_number(out, u); }
        void operator()(double d) const {
            if (std::isfinite(d))
                append_number(out, d); // shortest text that reads back the same double
            else
                out += "null"; // JSON has no NaN or infinity
        }
        void operator()(std::string_view s) const { append_string(out, s); }
    };
    std::visit(visitor{out}, v);
}

} // namespace

std::string encode_log_fields(std::span<const log_field> fields) {
    std::string out;
    if (fields.empty())
        return out;
    out += '{';
    for (const auto& f : fields) {
        if (out.size() > 1)
            out += ',';
        append_string(out, f.key());
        out += ':';
        append_value(out, f.value());
    }
    out += '}';
    return out;
}

std::string encode_log_json_string(std::string_view text) {
    std::string out;
    append_string(out, text);
    return out;
}

} // namespace sqlite_hybrid
