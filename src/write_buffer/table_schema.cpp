#include "table_schema.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>

namespace sqlite_hybrid::detail::wb {

std::string fold_case(std::string_view name) {
    std::string out(name);
    for (auto& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string quote_identifier(std::string_view name) {
    std::string out = "\"";
    for (char c : name) {
        if (c == '"')
            out += '"';
        out += c;
    }
    return out + '"';
}

const std::string* table_info::canonical_column(std::string_view name) const {
    auto it = columns.find(fold_case(name));
    return it == columns.end() ? nullptr : &it->second;
}

bool table_info::is_unique_key(const std::vector<std::string>& folded_sorted) const {
    return std::find(unique_keys.begin(), unique_keys.end(), folded_sorted) != unique_keys.end();
}

const table_info* schema::find(std::string_view table) const {
    auto it = tables.find(fold_case(table));
    return it == tables.end() ? nullptr : &it->second;
}

namespace {

// The tables the connection's search_path shows, from pg_catalog: columns by attnum, and the
// column sets of unique indexes (the primary key's too) that ON CONFLICT can name.
result<schema> load_postgres_schema(connection& conn) {
    schema out;
    out.version = 0;
    BOOST_OUTCOME_TRY(auto tables,
                      conn.query<std::tuple<std::int64_t, std::string>>(
                          "SELECT c.oid::bigint, c.relname FROM pg_class c"
                          " JOIN pg_namespace n ON n.oid = c.relnamespace"
                          " WHERE c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid)"
                          " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"));
    for (const auto& [oid, name] : tables) {
        table_info t;
        t.name = name;
        BOOST_OUTCOME_TRY(auto cols, conn.query<std::tuple<int, std::string>>(
                                         "SELECT attnum::int, attname::text FROM pg_attribute"
                                         " WHERE attrelid = $1::bigint::oid AND attnum > 0"
                                         " AND NOT attisdropped",
                                         oid));
        std::map<int, std::string> by_number;
        for (const auto& [number, column] : cols) {
            const auto folded = fold_case(column);
            t.columns.emplace(folded, column);
            t.column_order.emplace(folded, number);
            by_number.emplace(number, folded);
        }
        // Indexes ON CONFLICT can name: unique, immediate, not partial, no expressions; their
        // key columns are the first indnkeyatts (the rest are INCLUDE columns).
        BOOST_OUTCOME_TRY(auto indexes, conn.query<std::tuple<std::string, int>>(
                                            "SELECT indkey::text, indnkeyatts::int FROM pg_index"
                                            " WHERE indrelid = $1::bigint::oid AND indisunique"
                                            " AND indimmediate AND indpred IS NULL"
                                            " AND indexprs IS NULL",
                                            oid));
        for (const auto& [numbers, key_columns] : indexes) { // "1 3": column numbers
            std::vector<std::string> key;
            std::istringstream in(numbers);
            for (int n = 0, i = 0; i < key_columns && in >> n; ++i)
                if (auto it = by_number.find(n); it != by_number.end())
                    key.push_back(it->second);
            std::sort(key.begin(), key.end());
            t.unique_keys.push_back(std::move(key));
        }
        out.tables.emplace(fold_case(name), std::move(t));
    }
    return out;
}

} // namespace

result<schema> load_schema(connection& conn) {
    if (conn.engine() == backend::postgresql)
        return load_postgres_schema(conn);
    schema out;
    BOOST_OUTCOME_TRY(auto version, conn.query_one<std::int64_t>("PRAGMA schema_version"));
    out.version = version.value_or(0);
    BOOST_OUTCOME_TRY(auto names,
                      conn.query<std::string>("SELECT name FROM sqlite_schema WHERE type = 'table'"
                                              " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"));
    for (const auto& name : names) {
        table_info t;
        t.name = name;
        // table_info: cid, name, type, notnull, dflt_value, pk
        BOOST_OUTCOME_TRY(auto cols, conn.query<std::tuple<int, std::string, int>>(
                                         "SELECT cid, name, pk FROM pragma_table_info(?)", name));
        std::vector<std::pair<int, std::string>> primary_key;
        for (const auto& [cid, column, pk] : cols) {
            const auto folded = fold_case(column);
            t.columns.emplace(folded, column);
            t.column_order.emplace(folded, cid);
            if (pk > 0)
                primary_key.emplace_back(pk, folded);
        }
        if (!primary_key.empty()) {
            std::vector<std::string> key;
            for (auto& [order, column] : primary_key)
                key.push_back(column);
            std::sort(key.begin(), key.end());
            t.unique_keys.push_back(std::move(key));
        }
        // A partial unique index cannot be an upsert's conflict target (ON CONFLICT would need
        // its WHERE clause too): only whole unique indexes are keys.
        BOOST_OUTCOME_TRY(auto indexes,
                          conn.query<std::tuple<std::string, int, int>>(
                              "SELECT name, \"unique\", partial FROM pragma_index_list(?)", name));
        for (const auto& [index, unique, partial] : indexes) {
            if (!unique || partial)
                continue;
            BOOST_OUTCOME_TRY(auto index_columns,
                              conn.query<std::optional<std::string>>(
                                  "SELECT name FROM pragma_index_info(?)", index));
            std::vector<std::string> key;
            for (const auto& c : index_columns)
                if (c)
                    key.push_back(fold_case(*c)); // expression indexes have no name: skipped
            if (key.size() != index_columns.size())
                continue;
            std::sort(key.begin(), key.end());
            t.unique_keys.push_back(std::move(key));
        }
        out.tables.emplace(fold_case(name), std::move(t));
    }
    return out;
}

} // namespace sqlite_hybrid::detail::wb
