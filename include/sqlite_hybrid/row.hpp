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

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace sqlite_hybrid {

template <class T> struct row_traits; // specialise with `members` for user structs

namespace detail {

// Records the failing column for the diagnostics, then returns the code.
error_code column_error(sqlite3_stmt* stmt, int col, errc e, value_type wanted);

template <class T> struct column_reader;

template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
struct column_reader<I> {
    static result<I> read(sqlite3_stmt* s, int col) {
        int type = sqlite3_column_type(s, col);
        if (type == SQLITE_INTEGER)
            return static_cast<I>(sqlite3_column_int64(s, col));
        return column_error(s, col, type == SQLITE_NULL ? errc::null_value : errc::type_mismatch,
                            value_type::integer);
    }
};

template <> struct column_reader<bool> {
    static result<bool> read(sqlite3_stmt* s, int col) {
        BOOST_OUTCOME_TRY(auto i, column_reader<std::int64_t>::read(s, col));
        return i != 0;
    }
};

template <class F>
    requires std::is_floating_point_v<F>
struct column_reader<F> {
    static result<F> read(sqlite3_stmt* s, int col) {
        int type = sqlite3_column_type(s, col);
        if (type == SQLITE_FLOAT || type == SQLITE_INTEGER) // integers widen without loss of kind
            return static_cast<F>(sqlite3_column_double(s, col));
        return column_error(s, col, type == SQLITE_NULL ? errc::null_value : errc::type_mismatch,
                            value_type::real);
    }
};

template <> struct column_reader<std::string> {
    static result<std::string> read(sqlite3_stmt* s, int col) {
        int type = sqlite3_column_type(s, col);
        if (type != SQLITE_TEXT)
            return column_error(s, col,
                                type == SQLITE_NULL ? errc::null_value : errc::type_mismatch,
                                value_type::text);
        auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
        return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(s, col)));
    }
};

template <> struct column_reader<blob> {
    static result<blob> read(sqlite3_stmt* s, int col) {
        int type = sqlite3_column_type(s, col);
        if (type != SQLITE_BLOB && type != SQLITE_TEXT)
            return column_error(s, col,
                                type == SQLITE_NULL ? errc::null_value : errc::type_mismatch,
                                value_type::blob);
        auto* data = static_cast<const std::byte*>(sqlite3_column_blob(s, col));
        return blob(data, data + sqlite3_column_bytes(s, col));
    }
};

template <class T> struct column_reader<std::optional<T>> {
    static result<std::optional<T>> read(sqlite3_stmt* s, int col) {
        if (sqlite3_column_type(s, col) == SQLITE_NULL)
            return std::optional<T>();
        BOOST_OUTCOME_TRY(auto v, column_reader<T>::read(s, col));
        return std::optional<T>(std::move(v));
    }
};

template <> struct column_reader<value> {
    static result<value> read(sqlite3_stmt* s, int col);
};

template <class T>
concept readable_column = requires(sqlite3_stmt* s) { column_reader<T>::read(s, 0); };

template <class T> struct is_tuple : std::false_type {};
template <class... Ts> struct is_tuple<std::tuple<Ts...>> : std::true_type {};

template <class T>
concept described_row = requires { row_traits<T>::members; };

template <class T> struct member_type;
template <class C, class M> struct member_type<M C::*> {
    using type = M;
};

error_code check_column_count(sqlite3_stmt* stmt, int wanted);

template <class Tuple, std::size_t... I>
result<Tuple> read_tuple(sqlite3_stmt* s, std::index_sequence<I...>) {
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
result<T> read_described(sqlite3_stmt* s, const Members& members, std::index_sequence<I...>) {
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

// Reads the current row of `stmt` into Row: a tuple, a readable scalar, or a described struct.
template <class Row> result<Row> read_row(sqlite3_stmt* stmt) {
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

} // namespace sqlite_hybrid
