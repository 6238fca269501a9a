// SPDX-License-Identifier: BSL-1.0
// Reading columns into C++ types, and whole rows into tuples, scalars or described structs.
//
// A struct becomes a row type by listing its members in column order:
//   template <> struct sqlite_hybrid::row_traits<item> {
//       static constexpr auto members = std::make_tuple(&item::id, &item::name);
//   };
#pragma once

#include <sqlite_hybrid/result.hpp>
#include <sqlite_hybrid/value.hpp>

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace sqlite_hybrid {

template <class T> struct row_traits; // specialise with `members` for user structs

namespace detail {
struct pg_cursor;
}

// The row being read: the current row of an SQLite statement or of a PostgreSQL result.
// Column types are SQLite's fundamental ones (SQLITE_INTEGER, ...); PostgreSQL's map onto
// them (integers and booleans, floating point and numeric, bytea, everything else as text).
class row_source {
public:
    explicit row_source(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
    explicit row_source(const detail::pg_cursor* cursor) noexcept : pg_(cursor) {}

    int type(int col) const noexcept {
        return pg_ ? pg_type(col) : sqlite3_column_type(stmt_, col);
    }
    std::int64_t int64(int col) const noexcept {
        return pg_ ? pg_int64(col) : sqlite3_column_int64(stmt_, col);
    }
    double real(int col) const noexcept {
        return pg_ ? pg_real(col) : sqlite3_column_double(stmt_, col);
    }
    std::string_view text(int col) const noexcept {
        if (pg_)
            return pg_text(col);
        const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
        return {t ? t : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
    }
    std::span<const std::byte> bytes(int col) const noexcept {
        if (pg_)
            return pg_bytes(col);
        const auto* b = static_cast<const std::byte*>(sqlite3_column_blob(stmt_, col));
        return {b, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
    }
    int column_count() const noexcept;
    std::string_view column_name(int col) const noexcept;

private:
    int pg_type(int col) const noexcept;
    std::int64_t pg_int64(int col) const noexcept;
    double pg_real(int col) const noexcept;
    std::string_view pg_text(int col) const noexcept;
    std::span<const std::byte> pg_bytes(int col) const noexcept;

    sqlite3_stmt* stmt_ = nullptr;
    const detail::pg_cursor* pg_ = nullptr;
};

namespace detail {

// Records the failing column for the diagnostics, then returns the code.
error_code column_error(const row_source& row, int col, errc e, value_type wanted);
// An integer that the type it is read into cannot hold: value_out_of_range, naming the column.
error_code column_range_error(const row_source& row, int col, std::int64_t v, std::size_t bytes,
                              bool is_signed);

template <class T> struct column_reader;

template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
struct column_reader<I> {
    static result<I> read(const row_source& s, int col) {
        int type = s.type(col);
        if (type == SQLITE_INTEGER) {
            const std::int64_t v = s.int64(col);
            if (!std::in_range<I>(v)) // nothing narrows silently
                return column_range_error(s, col, v, sizeof(I), std::is_signed_v<I>);
            return static_cast<I>(v);
        }
        return column_error(s, col, type == SQLITE_NULL ? errc::null_value : errc::type_mismatch,
                            value_type::integer);
    }
};

template <> struct column_reader<bool> {
    static result<bool> read(const row_source& s, int col) {
        BOOST_OUTCOME_TRY(auto i, column_reader<std::int64_t>::read(s, col));
        return i != 0;
    }
};

template <class F>
    requires std::is_floating_point_v<F>
struct column_reader<F> {
    static result<F> read(const row_source& s, int col) {
        int type = s.type(col);
        if (type == SQLITE_FLOAT || type == SQLITE_INTEGER) // integers widen without loss of kind
            return static_cast<F>(s.real(col));
        return column_error(s, col, type == SQLITE_NULL ? errc::null_value : errc::type_mismatch,
                            value_type::real);
    }
};

template <> struct column_reader<std::string> {
    static result<std::string> read(const row_source& s, int col) {
        int type = s.type(col);
        if (type != SQLITE_TEXT)
            return column_error(s, col,
                                type == SQLITE_NULL ? errc::null_value : errc::type_mismatch,
                                value_type::text);
        return std::string(s.text(col));
    }
};

template <> struct column_reader<blob> {
    static result<blob> read(const row_source& s, int col) {
        int type = s.type(col);
        if (type != SQLITE_BLOB && type != SQLITE_TEXT)
            return column_error(s, col,
                                type == SQLITE_NULL ? errc::null_value : errc::type_mismatch,
                                value_type::blob);
        const auto bytes = s.bytes(col);
        return blob(bytes.begin(), bytes.end());
    }
};

template <class T> struct column_reader<std::optional<T>> {
    static result<std::optional<T>> read(const row_source& s, int col) {
        if (s.type(col) == SQLITE_NULL)
            return std::optional<T>();
        BOOST_OUTCOME_TRY(auto v, column_reader<T>::read(s, col));
        return std::optional<T>(std::move(v));
    }
};

template <> struct column_reader<value> {
    static result<value> read(const row_source& s, int col);
};

template <class T>
concept readable_column = requires(const row_source& s) { column_reader<T>::read(s, 0); };

template <class T> struct is_tuple : std::false_type {};
template <class... Ts> struct is_tuple<std::tuple<Ts...>> : std::true_type {};

template <class T>
concept described_row = requires { row_traits<T>::members; };

template <class T> struct member_type;
template <class C, class M> struct member_type<M C::*> {
    using type = M;
};

error_code check_column_count(const row_source& row, int wanted);

template <class Tuple, std::size_t... I>
result<Tuple> read_tuple(const row_source& s, std::index_sequence<I...>) {
    Tuple out;
    error_code ec;
    auto one = [&](auto& slot, int col) {
        if (ec)
            return;
        auto r = column_reader<std::decay_t<decltype(slot)>>::read(s, col);
        if (r)
            slot = std::move(r).value();
        else
            ec = r.error();
    };
    (one(std::get<I>(out), static_cast<int>(I)), ...);
    if (ec)
        return ec;
    return out;
}

template <class T, class Members, std::size_t... I>
result<T> read_described(const row_source& s, const Members& members, std::index_sequence<I...>) {
    T out{};
    error_code ec;
    auto one = [&](auto member, int col) {
        if (ec)
            return;
        using M = typename member_type<decltype(member)>::type;
        auto r = column_reader<M>::read(s, col);
        if (r)
            out.*member = std::move(r).value();
        else
            ec = r.error();
    };
    (one(std::get<I>(members), static_cast<int>(I)), ...);
    if (ec)
        return ec;
    return out;
}

} // namespace detail

// Reads the current row into Row: a tuple, a readable scalar, or a described struct.
template <class Row> result<Row> read_row(const row_source& stmt) {
    if constexpr (detail::is_tuple<Row>::value) {
        constexpr auto n = std::tuple_size_v<Row>;
        if (auto ec = detail::check_column_count(stmt, static_cast<int>(n)))
            return ec;
        return detail::read_tuple<Row>(stmt, std::make_index_sequence<n>{});
    } else if constexpr (detail::described_row<Row>) {
        constexpr auto& members = row_traits<Row>::members;
        constexpr auto n = std::tuple_size_v<std::decay_t<decltype(members)>>;
        if (auto ec = detail::check_column_count(stmt, static_cast<int>(n)))
            return ec;
        return detail::read_described<Row>(stmt, members, std::make_index_sequence<n>{});
    } else {
        static_assert(detail::readable_column<Row>,
                      "Row must be a std::tuple, a column type, or have row_traits<Row>::members");
        if (auto ec = detail::check_column_count(stmt, 1))
            return ec;
        return detail::column_reader<Row>::read(stmt, 0);
    }
}
template <class Row> result<Row> read_row(sqlite3_stmt* stmt) { return read_row<Row>(row_source(stmt)); }

} // namespace sqlite_hybrid
