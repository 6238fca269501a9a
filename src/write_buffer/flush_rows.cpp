#include "flush_rows.hpp"

#include "row_codec.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>
#include <tuple>

namespace sqlite_hybrid::detail::wb {

namespace {

constexpr std::size_t rows_per_insert = 32;

std::string column_list(const shape& s) {
    std::string out;
    for (const auto& c : s.columns)
        out += (out.empty() ? "" : ", ") + quote_identifier(c);
    return out;
}

std::string where_key(const shape& key) {
    std::string out;
    for (const auto& c : key.columns)
        out += (out.empty() ? " WHERE " : " AND ") + quote_identifier(c) + " = ?";
    return out;
}

std::string upsert_sql(const std::string& table, const shape& columns, const shape& key,
                       std::size_t rows) {
    std::string placeholders = "(";
    for (std::size_t i = 0; i < columns.columns.size(); ++i)
        placeholders += i ? ", ?" : "?";
    placeholders += ")";
    std::string sql = "INSERT INTO " + quote_identifier(table) + " (" + column_list(columns) +
                      ") VALUES " + placeholders;
    for (std::size_t r = 1; r < rows; ++r)
        sql += ", " + placeholders;
    std::string set;
    for (const auto& c : columns.columns)
        if (std::find(key.columns.begin(), key.columns.end(), c) == key.columns.end())
            set += (set.empty() ? "" : ", ") + quote_identifier(c) + " = excluded." +
                   quote_identifier(c);
    sql += " ON CONFLICT (" + column_list(key) + ")";
    sql += set.empty() ? " DO NOTHING" : " DO UPDATE SET " + set;
    return sql;
}

std::string update_sql(const std::string& table, const shape& columns, const shape& key) {
    std::string set;
    for (const auto& c : columns.columns)
        set += (set.empty() ? "" : ", ") + quote_identifier(c) + " = ?";
    return "UPDATE " + quote_identifier(table) + " SET " + set + where_key(key);
}

std::string delete_sql(const std::string& table, const shape& key) {
    return "DELETE FROM " + quote_identifier(table) + where_key(key);
}

std::string_view key_values(const flushing_row& r) {
    return std::string_view(r.key).substr(sizeof(std::uint32_t));
}

// Prepares `sql`, binds each packed part in turn, runs it.
template <class... Packed> error_code run(connection& conn, const std::string& sql, Packed... parts) {
    auto stmt = conn.prepare(sql);
    if (!stmt)
        return stmt.error();
    int index = 1;
    ((index = index < 0 ? index : bind_packed(stmt.value().native_handle(), index, parts)), ...);
    if (index < 0)
        return make_sqlite_error(SQLITE_RANGE);
    auto r = stmt.value().execute();
    return r ? error_code() : r.error();
}

bool plain_upsert(const flushing_row& r) {
    return r.entry.kind == write_kind::upsert && !r.entry.replace && !r.entry.prior;
}

error_code write_one(connection& conn, const std::string& table, const flushing_row& r) {
    const auto& e = r.entry;
    if (e.replace)
        if (auto ec = run(conn, delete_sql(table, *e.key), key_values(r)))
            return ec;
    if (e.prior)
        if (auto ec = run(conn, update_sql(table, *e.prior->columns, *e.key),
                          std::string_view(e.prior->values), key_values(r)))
            return ec;
    switch (e.kind) {
    case write_kind::upsert:
        return run(conn, upsert_sql(table, *e.columns, *e.key, 1), std::string_view(e.values));
    case write_kind::update:
        return run(conn, update_sql(table, *e.columns, *e.key), std::string_view(e.values),
                   key_values(r));
    case write_kind::remove: return run(conn, delete_sql(table, *e.key), key_values(r));
    }
    return {};
}

// A multi-row INSERT for rows [begin, begin + n), which are plain upserts of the same shapes.
error_code write_many(connection& conn, const flushing_table& t, std::size_t begin, std::size_t n) {
    const auto& first = t.rows[begin].entry;
    auto stmt = conn.prepare(upsert_sql(t.name, *first.columns, *first.key, n));
    if (!stmt)
        return stmt.error();
    int index = 1;
    for (std::size_t i = begin; i < begin + n && index > 0; ++i)
        index = bind_packed(stmt.value().native_handle(), index, t.rows[i].entry.values);
    if (index < 0)
        return make_sqlite_error(SQLITE_RANGE);
    auto r = stmt.value().execute();
    return r ? error_code() : r.error();
}

} // namespace

void order_for_statements(flushing_table& table) {
    auto rank = [](const flushing_row& r) {
        return std::make_tuple(static_cast<int>(r.entry.kind), !plain_upsert(r),
                               r.entry.columns ? r.entry.columns->id : 0, r.entry.key->id);
    };
    std::stable_sort(table.rows.begin(), table.rows.end(),
                     [&](const flushing_row& a, const flushing_row& b) { return rank(a) < rank(b); });
}

result<std::size_t> write_rows(connection& conn, const flushing_table& t, std::size_t begin,
                               std::size_t end) {
    std::size_t i = begin;
    while (i < end) {
        // A run of plain upserts with the same columns and key: full multi-row INSERTs first,
        // the rest one by one. Any other row goes alone.
        std::size_t run_end = i;
        while (run_end < end && plain_upsert(t.rows[run_end]) &&
               t.rows[run_end].entry.columns == t.rows[i].entry.columns &&
               t.rows[run_end].entry.key == t.rows[i].entry.key)
            ++run_end;
        if (run_end == i)
            run_end = i + 1;
        else
            for (; run_end - i >= rows_per_insert; i += rows_per_insert)
                if (auto ec = write_many(conn, t, i, rows_per_insert))
                    return ec;
        for (; i < run_end; ++i)
            if (auto ec = write_one(conn, t.name, t.rows[i]))
                return ec;
    }
    return end - begin;
}

result<isolated_result> write_rows_isolated(connection& conn, const flushing_table& t,
                                            std::size_t begin, std::size_t end) {
    isolated_result out;
    for (std::size_t i = begin; i < end; ++i) {
        if (auto ec = run(conn, "SAVEPOINT buffered_row"))
            return ec;
        error_code ec = write_one(conn, t.name, t.rows[i]);
        if (!ec) {
            (void)run(conn, "RELEASE buffered_row");
            ++out.written;
            continue;
        }
        std::string message = conn.last_diagnostics().message;
        if (is_transient(ec) || !conn.in_transaction())
            return ec;
        (void)run(conn, "ROLLBACK TO buffered_row");
        (void)run(conn, "RELEASE buffered_row");
        out.failures.push_back({i, ec, std::move(message)});
    }
    return out;
}

bool is_transient(const error_code& ec) {
    if (is_lock_error(ec) || ec == condition::io_error || ec == condition::disk_full ||
        ec == condition::cannot_open || ec == condition::interrupted ||
        ec == condition::read_only)
        return true;
    if (ec.category() == library_category())
        return ec == errc::closed || ec == errc::database_busy;
    return ec == boost::asio::error::operation_aborted || primary_sqlite_code(ec) == SQLITE_NOMEM ||
           primary_sqlite_code(ec) == SQLITE_PROTOCOL;
}

} // namespace sqlite_hybrid::detail::wb
