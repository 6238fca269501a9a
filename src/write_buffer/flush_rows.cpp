// SPDX-License-Identifier: BSL-1.0
#include "flush_rows.hpp"

#include "row_codec.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <utility>

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

// Sets `set_columns` (but the key's) from the row that conflicted.
std::string upsert_sql(const std::string& table, const shape& columns, const shape& key,
                       std::size_t rows, const std::vector<std::string>& set_columns) {
    std::string placeholders = "(";
    for (std::size_t i = 0; i < columns.columns.size(); ++i)
        placeholders += i ? ", ?" : "?";
    placeholders += ")";
    std::string sql = "INSERT INTO " + quote_identifier(table) + " (" + column_list(columns) +
                      ") VALUES " + placeholders;
    for (std::size_t r = 1; r < rows; ++r)
        sql += ", " + placeholders;
    std::string set;
    for (const auto& c : set_columns)
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

// Binds each packed part in turn to the statement's parameters, runs it.
template <class... Packed> error_code run(statement& stmt, Packed... parts) {
    int index = 1;
    ((index = index < 0 ? index : bind_packed(stmt, index, parts)), ...);
    if (index < 0)
        return make_sqlite_error(SQLITE_RANGE);
    auto r = stmt.execute();
    return r ? error_code() : r.error();
}

template <class... Packed>
error_code run(connection& conn, const std::string& sql, Packed... parts) {
    auto stmt = conn.prepare(sql);
    if (!stmt)
        return stmt.error();
    return run(stmt.value(), parts...);
}

bool plain_upsert(const pending_row& r) {
    return r.kind == write_kind::upsert && !r.replace && r.prior == no_prior;
}

// A row's place in the order a flush writes rows in.
struct rank {
    std::uint64_t group, order;
    std::uint32_t index;
};

// The statements a row is written by, in one integer: kind, plain or not, then the shapes'
// ids. Ids past 30 bits may share a group, which only splits runs: write_rows checks each
// row's shapes.
std::uint64_t group(const pending_row& r) {
    constexpr std::uint64_t bits = 0x3fff'ffff;
    return std::uint64_t(r.kind) << 62 | std::uint64_t(!plain_upsert(r)) << 61 |
           ((r.columns ? r.columns->id : 0) & bits) << 30 | (r.key->id & bits);
}

error_code write_one(connection& conn, statement_texts& sql, const flushing_table& t,
                     const pending_row& r) {
    if (r.replace && t.whole_row)
        return run(conn, sql.replace(t.name, *r.columns, *r.key, *t.whole_row, t.schema_generation),
                   t.values(r));
    if (r.replace)
        if (auto ec = run(conn, sql.remove(t.name, *r.key), t.key_values(r)))
            return ec;
    if (const auto* prior = t.prior(r))
        if (auto ec = run(conn, sql.update(t.name, *prior->columns, *r.key),
                          std::string_view(prior->values), t.key_values(r)))
            return ec;
    switch (r.kind) {
    case write_kind::upsert:
        return run(conn, sql.upsert(t.name, *r.columns, *r.key, 1), t.values(r));
    case write_kind::update:
        return run(conn, sql.update(t.name, *r.columns, *r.key), t.values(r), t.key_values(r));
    case write_kind::remove: return run(conn, sql.remove(t.name, *r.key), t.key_values(r));
    }
    return {};
}

// Rows [begin, end), plain upserts of the same shapes: multi-row INSERTs of rows_per_insert
// rows, then the rest one by one, each statement prepared once for the run.
error_code write_run(connection& conn, statement_texts& sql, const flushing_table& t,
                     std::size_t begin, std::size_t end) {
    const auto& first = t.at(begin);
    if (end - begin >= rows_per_insert) {
        auto many = conn.prepare(sql.upsert(t.name, *first.columns, *first.key, rows_per_insert));
        if (!many)
            return many.error();
        for (; end - begin >= rows_per_insert; begin += rows_per_insert) {
            int index = 1;
            for (std::size_t i = begin; i < begin + rows_per_insert && index > 0; ++i)
                index = bind_packed(many.value(), index, t.values(t.at(i)));
            if (index < 0)
                return make_sqlite_error(SQLITE_RANGE);
            if (auto r = many.value().execute(); !r)
                return r.error();
        }
    }
    if (begin == end)
        return {};
    auto one = conn.prepare(sql.upsert(t.name, *first.columns, *first.key, 1));
    if (!one)
        return one.error();
    for (; begin < end; ++begin)
        if (auto ec = run(one.value(), t.values(t.at(begin))))
            return ec;
    return {};
}

// Keys are ordered by 16-bit buckets of the range they span: a chunk needs a narrow range of
// keys, not an exact order. Two byte-wide counting passes do it, well under a millisecond for
// 100,000 rows against several for a comparison sort (the flusher runs on the application's
// executor: this time is time its other handlers wait).
class key_buckets {
public:
    template <class Range, class Get> key_buckets(const Range& rows, Get order) {
        for (const auto& r : rows) {
            min_ = std::min(min_, order(r));
            max_ = std::max(max_, order(r));
        }
        shift_ = min_ > max_ ? 0 : std::max(0, static_cast<int>(std::bit_width(max_ - min_)) - 16);
    }
    std::uint64_t operator()(std::uint64_t order) const { return (order - min_) >> shift_; }

private:
    std::uint64_t min_ = ~std::uint64_t{0}, max_ = 0;
    int shift_ = 0;
};

// Turns counts into the first position of each value.
void to_positions(std::array<std::size_t, 256>& count) {
    std::size_t at = 0;
    for (auto& c : count)
        at += std::exchange(c, at);
}

// One statement group: the sequence by key bucket, through (bucket << 32 | row) items.
void order_by_key(flushing_table& t) {
    const key_buckets bucket(t.orders, [](std::uint64_t o) { return o; });
    std::array<std::size_t, 256> low{}, high{};
    for (auto o : t.orders) {
        ++low[bucket(o) & 0xff];
        ++high[bucket(o) >> 8];
    }
    to_positions(low);
    to_positions(high);
    std::vector<std::uint64_t> by_low(t.orders.size());
    for (std::size_t i = 0; i < t.orders.size(); ++i)
        by_low[low[bucket(t.orders[i]) & 0xff]++] = bucket(t.orders[i]) << 32 | i;
    t.sequence.resize(t.orders.size());
    for (auto item : by_low)
        t.sequence[high[item >> 40]++] = static_cast<std::uint32_t>(item);
}

// Several groups: by group, then key bucket, one counting pass per byte that differs.
void order_by_group(flushing_table& t, bool by_key) {
    std::vector<rank> ranks;
    ranks.reserve(t.rows.size());
    for (std::size_t i = 0; i < t.rows.size(); ++i)
        ranks.push_back(
            {group(t.rows[i]), by_key ? t.orders[i] : 0, static_cast<std::uint32_t>(i)});
    const key_buckets bucket(ranks, [](const rank& r) { return r.order; });
    std::uint64_t any = 0, all = ~std::uint64_t{0};
    for (auto& r : ranks) {
        r.order = bucket(r.order);
        any |= r.group;
        all &= r.group;
    }
    std::vector<std::pair<bool, int>> digits{{false, 0}, {false, 8}}; // (of the group, shift)
    for (int at = 0; at < 64; at += 8)
        if (((any ^ all) >> at) & 0xff)
            digits.emplace_back(true, at);
    std::vector<rank> scratch(ranks.size());
    for (const auto& [of_group, at] : digits) {
        auto digit = [of_group = of_group, at = at](const rank& r) {
            return static_cast<std::size_t>(((of_group ? r.group : r.order) >> at) & 0xff);
        };
        std::array<std::size_t, 256> count{};
        for (const auto& r : ranks)
            ++count[digit(r)];
        to_positions(count);
        for (const auto& r : ranks)
            scratch[count[digit(r)]++] = r;
        ranks.swap(scratch);
    }
    t.sequence.clear();
    t.sequence.reserve(ranks.size());
    for (const auto& r : ranks)
        t.sequence.push_back(r.index);
}

} // namespace

const std::string& statement_texts::upsert(const std::string& table, const shape& columns,
                                           const shape& key, std::size_t rows) {
    auto& text = texts_[{0, columns.id, key.id, rows}];
    if (text.empty())
        text = upsert_sql(table, columns, key, rows, columns.columns);
    return text;
}

const std::string& statement_texts::replace(const std::string& table, const shape& columns,
                                            const shape& key,
                                            const std::vector<std::string>& whole_row,
                                            std::uint64_t schema_generation) {
    auto& text = texts_[{3, columns.id, key.id, schema_generation}];
    if (text.empty())
        text = upsert_sql(table, columns, key, 1, whole_row);
    return text;
}

const std::string& statement_texts::update(const std::string& table, const shape& columns,
                                           const shape& key) {
    auto& text = texts_[{1, columns.id, key.id, 0}];
    if (text.empty())
        text = update_sql(table, columns, key);
    return text;
}

const std::string& statement_texts::remove(const std::string& table, const shape& key) {
    auto& text = texts_[{2, 0, key.id, 0}];
    if (text.empty())
        text = delete_sql(table, key);
    return text;
}

void order_for_statements(flushing_table& table, bool by_key) {
    if (!table.one_group)
        order_by_group(table, by_key);
    else if (by_key)
        order_by_key(table);
}

result<std::size_t> write_rows(connection& conn, statement_texts& sql, const flushing_table& t,
                               std::size_t begin, std::size_t end) {
    std::size_t i = begin;
    while (i < end) {
        // A run of plain upserts with the same columns and key goes together; any other row
        // goes alone.
        std::size_t run_end = i;
        while (run_end < end && plain_upsert(t.at(run_end)) &&
               t.at(run_end).columns == t.at(i).columns && t.at(run_end).key == t.at(i).key)
            ++run_end;
        if (run_end > i) {
            if (auto ec = write_run(conn, sql, t, i, run_end))
                return ec;
            i = run_end;
        } else {
            if (auto ec = write_one(conn, sql, t, t.at(i)))
                return ec;
            ++i;
        }
    }
    return end - begin;
}

result<isolated_result> write_rows_isolated(connection& conn, statement_texts& sql,
                                            const flushing_table& t, std::size_t begin,
                                            std::size_t end) {
    isolated_result out;
    for (std::size_t i = begin; i < end; ++i) {
        if (auto ec = run(conn, "SAVEPOINT buffered_row"))
            return ec;
        error_code ec = write_one(conn, sql, t, t.at(i));
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
