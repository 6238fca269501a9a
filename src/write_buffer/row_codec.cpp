// SPDX-License-Identifier: BSL-1.0
#include "row_codec.hpp"

#include <bit>
#include <cstring>

namespace sqlite_hybrid::detail::wb {

namespace {

template <class T> void put(std::string& out, T v) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, &v, sizeof(T));
    out.append(bytes, sizeof(T));
}

template <class T> T take(std::string_view& in) {
    T v;
    std::memcpy(&v, in.data(), sizeof(T));
    in.remove_prefix(sizeof(T));
    return v;
}

void put_bytes(std::string& out, value_type type, std::string_view bytes) {
    out.push_back(static_cast<char>(type));
    put(out, static_cast<std::uint32_t>(bytes.size()));
    out.append(bytes);
}

} // namespace

void append_name(std::string& key, std::string_view name) {
    put(key, static_cast<std::uint32_t>(name.size()));
    key.append(name);
}

value packed_value::to_value() const {
    switch (type) {
    case value_type::integer: return value(integer);
    case value_type::real: return value(real);
    case value_type::text: return value(std::string(bytes));
    case value_type::blob: {
        auto* p = reinterpret_cast<const std::byte*>(bytes.data());
        return value(blob(p, p + bytes.size()));
    }
    case value_type::null: break;
    }
    return value();
}

void pack(std::string& out, const value& v) {
    switch (v.type()) {
    case value_type::null: out.push_back(static_cast<char>(value_type::null)); return;
    case value_type::integer:
        out.push_back(static_cast<char>(value_type::integer));
        put(out, v.as_int64());
        return;
    case value_type::real:
        out.push_back(static_cast<char>(value_type::real));
        put(out, v.as_double());
        return;
    case value_type::text: put_bytes(out, value_type::text, v.as_text()); return;
    case value_type::blob: {
        const auto& b = v.as_blob();
        put_bytes(out, value_type::blob,
                  std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
        return;
    }
    }
}

void pack(std::string& out, const packed_value& v) {
    switch (v.type) {
    case value_type::null: out.push_back(static_cast<char>(value_type::null)); return;
    case value_type::integer:
        out.push_back(static_cast<char>(value_type::integer));
        put(out, v.integer);
        return;
    case value_type::real:
        out.push_back(static_cast<char>(value_type::real));
        put(out, v.real);
        return;
    case value_type::text:
    case value_type::blob: put_bytes(out, v.type, v.bytes); return;
    }
}

std::vector<packed_value> unpack(std::string_view in) {
    std::vector<packed_value> out;
    while (!in.empty()) {
        packed_value v;
        v.type = static_cast<value_type>(in.front());
        in.remove_prefix(1);
        switch (v.type) {
        case value_type::integer: v.integer = take<std::int64_t>(in); break;
        case value_type::real: v.real = take<double>(in); break;
        case value_type::text:
        case value_type::blob: {
            const auto n = take<std::uint32_t>(in);
            v.bytes = in.substr(0, n);
            in.remove_prefix(n);
            break;
        }
        case value_type::null: break;
        }
        out.push_back(v);
    }
    return out;
}

std::uint64_t order_key(std::string_view in) {
    if (in.empty())
        return 0;
    constexpr std::uint64_t sign = std::uint64_t{1} << 63;
    const auto type = static_cast<value_type>(in.front());
    in.remove_prefix(1);
    switch (type) {
    case value_type::null: return 0;
    case value_type::integer: return static_cast<std::uint64_t>(take<std::int64_t>(in)) ^ sign;
    case value_type::real: {
        const auto bits = std::bit_cast<std::uint64_t>(take<double>(in));
        return bits & sign ? ~bits : bits | sign; // negative numbers reversed
    }
    case value_type::text:
    case value_type::blob: {
        const auto n = take<std::uint32_t>(in);
        std::uint64_t key = 0;
        for (std::size_t i = 0; i < 8; ++i)
            key = key << 8 | (i < n ? static_cast<unsigned char>(in[i]) : 0u);
        return key;
    }
    }
    return 0;
}

namespace {

// PostgreSQL statements keep their own copies of the values bound.
int bind_packed_values(statement& stmt, int index, std::string_view in) {
    while (!in.empty()) {
        const auto type = static_cast<value_type>(in.front());
        in.remove_prefix(1);
        value v;
        switch (type) {
        case value_type::null: break;
        case value_type::integer: v = take<std::int64_t>(in); break;
        case value_type::real: v = take<double>(in); break;
        case value_type::text:
        case value_type::blob: {
            const auto n = take<std::uint32_t>(in);
            if (type == value_type::text)
                v = std::string(in.substr(0, n));
            else
                v = blob(reinterpret_cast<const std::byte*>(in.data()),
                         reinterpret_cast<const std::byte*>(in.data()) + n);
            in.remove_prefix(n);
            break;
        }
        }
        if (!stmt.bind(index, v))
            return -1;
        ++index;
    }
    return index;
}

} // namespace

int bind_packed(statement& statement, int index, std::string_view in) {
    sqlite3_stmt* stmt = statement.native_handle();
    if (stmt == nullptr)
        return bind_packed_values(statement, index, in);
    while (!in.empty()) {
        const auto type = static_cast<value_type>(in.front());
        in.remove_prefix(1);
        int rc = SQLITE_OK;
        switch (type) {
        case value_type::null: rc = sqlite3_bind_null(stmt, index); break;
        case value_type::integer: rc = sqlite3_bind_int64(stmt, index, take<std::int64_t>(in)); break;
        case value_type::real: rc = sqlite3_bind_double(stmt, index, take<double>(in)); break;
        case value_type::text:
        case value_type::blob: {
            const auto n = take<std::uint32_t>(in);
            rc = type == value_type::text
                     ? sqlite3_bind_text64(stmt, index, in.data(), n, SQLITE_STATIC, SQLITE_UTF8)
                     : sqlite3_bind_blob64(stmt, index, in.data(), n, SQLITE_STATIC);
            if (type == value_type::blob && n == 0)
                rc = sqlite3_bind_zeroblob(stmt, index, 0); // an empty blob, not NULL
            in.remove_prefix(n);
            break;
        }
        }
        if (rc != SQLITE_OK)
            return -1;
        ++index;
    }
    return index;
}

} // namespace sqlite_hybrid::detail::wb
