// SPDX-License-Identifier: BSL-1.0
// A dynamically typed SQLite value: what parameters are bound from and rows can be read into.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace sqlite_hybrid {

struct null_t {
    friend bool operator==(null_t, null_t) = default;
};
inline constexpr null_t null{};

using blob = std::vector<std::byte>;

enum class value_type { null, integer, real, text, blob };

// Owns its text and blob bytes, so a value built from a temporary never dangles.
class value {
public:
    using storage = std::variant<null_t, std::int64_t, double, std::string, blob>;

    value() = default;
    value(null_t) {}
    value(std::nullptr_t) {}
    value(bool b) : v_(std::int64_t{b ? 1 : 0}) {}
    // Integers are stored as int64 (as SQLite does): an unsigned value above INT64_MAX throws
    // system_error(errc::value_out_of_range) here, before anything is queued.
    template <class I>
        requires(std::is_integral_v<I> && !std::is_same_v<I, bool> && !std::is_same_v<I, char>)
    value(I i) : v_(std::int64_t{}) {
        if (!std::in_range<std::int64_t>(i))
            throw_out_of_range(static_cast<unsigned long long>(i));
        v_ = static_cast<std::int64_t>(i);
    }
    value(double d) : v_(d) {}
    value(float f) : v_(static_cast<double>(f)) {}
    value(const char* s) : v_(std::string(s)) {}
    value(std::string_view s) : v_(std::string(s)) {}
    value(std::string s) : v_(std::move(s)) {}
    value(blob b) : v_(std::move(b)) {}
    template <class T>
    value(const std::optional<T>& o) : value(o ? value(*o) : value()) {}

    value_type type() const noexcept { return static_cast<value_type>(v_.index()); }
    bool is_null() const noexcept { return type() == value_type::null; }

    // Typed access; the caller checks type() first (std::bad_variant_access otherwise).
    std::int64_t as_int64() const { return std::get<std::int64_t>(v_); }
    double as_double() const { return std::get<double>(v_); }
    const std::string& as_text() const { return std::get<std::string>(v_); }
    const blob& as_blob() const { return std::get<blob>(v_); }

    const storage& variant() const noexcept { return v_; }

    friend bool operator==(const value&, const value&) = default;

private:
    [[noreturn]] static void throw_out_of_range(unsigned long long v);

    storage v_;
};

using params = std::vector<value>;

// Parameters from a list of arguments: `db.async_execute(sql, args(1, "x"))`. Prefer it to a
// braced list inside a co_await expression, which GCC 12 rejects ("array used as initializer").
template <class... Args> params args(Args&&... values) {
    params out;
    out.reserve(sizeof...(Args));
    (out.emplace_back(std::forward<Args>(values)), ...);
    return out;
}

// Readable name of a value type, for messages.
std::string_view to_string(value_type t) noexcept;

} // namespace sqlite_hybrid
