// SPDX-License-Identifier: BSL-1.0
#include "postgres/pg_cursor.hpp"

#include <sqlite_hybrid/row.hpp>

#include <charconv>

namespace sqlite_hybrid {

namespace {

// PostgreSQL type OIDs (pg_type.dat) that read as something other than text.
constexpr Oid bool_oid = 16, bytea_oid = 17, int8_oid = 20, int2_oid = 21, int4_oid = 23,
              oid_oid = 26, float4_oid = 700, float8_oid = 701, numeric_oid = 1700;

int hex_digit(char c) noexcept {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0;
}

} // namespace

int row_source::column_count() const noexcept {
    if (!pg_)
        return sqlite3_column_count(stmt_);
    return pg_->rows ? PQnfields(pg_->rows.get()) : pg_->prepared->columns;
}

std::string_view row_source::column_name(int col) const noexcept {
    const char* n = pg_ ? (pg_->rows ? PQfname(pg_->rows.get(), col) : nullptr)
                        : sqlite3_column_name(stmt_, col);
    return n ? n : "";
}

int row_source::pg_type(int col) const noexcept {
    PGresult* r = pg_->rows.get();
    if (PQgetisnull(r, pg_->row, col))
        return SQLITE_NULL;
    switch (PQftype(r, col)) {
    case bool_oid:
    case int2_oid:
    case int4_oid:
    case int8_oid:
    case oid_oid: return SQLITE_INTEGER;
    case float4_oid:
    case float8_oid:
    case numeric_oid: {
        // A numeric beyond a double's range reads as its digits (text), never as 0.
        const std::string_view t = pg_text(col);
        double v = 0;
        const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        return ec == std::errc() && end == t.data() + t.size() ? SQLITE_FLOAT : SQLITE_TEXT;
    }
    case bytea_oid: return SQLITE_BLOB;
    default: return SQLITE_TEXT;
    }
}

std::int64_t row_source::pg_int64(int col) const noexcept {
    const std::string_view t = pg_text(col);
    if (PQftype(pg_->rows.get(), col) == bool_oid)
        return t == "t" ? 1 : 0;
    std::int64_t v = 0;
    std::from_chars(t.data(), t.data() + t.size(), v);
    return v;
}

double row_source::pg_real(int col) const noexcept {
    const std::string_view t = pg_text(col);
    double v = 0;
    std::from_chars(t.data(), t.data() + t.size(), v);
    return v;
}

std::string_view row_source::pg_text(int col) const noexcept {
    PGresult* r = pg_->rows.get();
    return {PQgetvalue(r, pg_->row, col), static_cast<std::size_t>(PQgetlength(r, pg_->row, col))};
}

std::span<const std::byte> row_source::pg_bytes(int col) const noexcept {
    std::string_view t = pg_text(col);
    if (PQftype(pg_->rows.get(), col) == bytea_oid && t.starts_with("\\x")) {
        // bytea_output = hex: "\x" then two digits a byte.
        auto& out = pg_->decoded;
        out.resize((t.size() - 2) / 2);
        for (std::size_t i = 0; i < out.size(); ++i)
            out[i] = static_cast<char>(hex_digit(t[2 + 2 * i]) << 4 | hex_digit(t[3 + 2 * i]));
        t = out;
    }
    return {reinterpret_cast<const std::byte*>(t.data()), t.size()};
}

} // namespace sqlite_hybrid
