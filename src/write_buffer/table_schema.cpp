// SPDX-License-Identifier: BSL-1.0
#include "table_schema.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
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

std::string name_key(std::string_view name, bool exact) {
    return exact ? std::string(name) : fold_case(name);
}

const std::string* table_info::canonical_column(std::string_view name) const {
    auto it = columns.find(key(name));
    if (it == columns.end() && exact_names) // as PostgreSQL reads an unquoted name
        it = columns.find(fold_case(name));
    return it == columns.end() ? nullptr : &it->second;
}

bool table_info::is_unique_key(const std::vector<std::string>& folded_sorted) const {
    return std::find(unique_keys.begin(), unique_keys.end(), folded_sorted) != unique_keys.end();
}

const table_info* schema::find(std::string_view table) const {
    auto it = tables.find(key(table));
    if (it == tables.end() && exact_names) // as PostgreSQL reads an unquoted name
        it = tables.find(fold_case(table));
    return it == tables.end() ? nullptr : &it->second;
}

const table_info* schema::find_other_case(std::string_view table) const {
    for (const auto& [key, t] : tables)
        if (fold_case(t.name) == fold_case(table))
            return &t;
    return nullptr;
}

affinity affinity_of(std::string_view declared_type) {
    const std::string t = fold_case(declared_type);
    const auto has = [&](std::string_view part) { return t.find(part) != std::string::npos; };
    if (has("int"))
        return affinity::integer;
    if (has("char") || has("clob") || has("text"))
        return affinity::text;
    if (t.empty() || has("blob"))
        return affinity::blob;
    if (has("real") || has("floa") || has("doub"))
        return affinity::real;
    return affinity::numeric;
}

namespace {

// A text that SQLite reads as a number: optional spaces around a decimal literal.
std::optional<value> number_in(const std::string& text) {
    const char* begin = text.c_str();
    char* end = nullptr;
    errno = 0;
    const long long i = std::strtoll(begin, &end, 10);
    auto only_spaces_after = [](const char* p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            ++p;
        return *p == '\0';
    };
    if (end != begin && errno == 0 && only_spaces_after(end))
        return value(static_cast<std::int64_t>(i));
    const double d = std::strtod(begin, &end);
    if (end != begin && only_spaces_after(end) && std::isfinite(d) &&
        text.find_first_of("xXnN") == std::string::npos) // no hex, inf or nan
        return value(d);
    return std::nullopt;
}

// A REAL that an INTEGER or NUMERIC column stores as an integer: exact and in range.
value integral_if_exact(double d) {
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
        static_cast<double>(static_cast<std::int64_t>(d)) == d)
        return value(static_cast<std::int64_t>(d));
    return value(d);
}

} // namespace

value normalise_key(const value& v, affinity a) {
    switch (a) {
    case affinity::integer:
    case affinity::numeric:
        if (v.type() == value_type::text)
            if (auto n = number_in(v.as_text()))
                return n->type() == value_type::real ? integral_if_exact(n->as_double()) : *n;
        if (v.type() == value_type::real)
            return integral_if_exact(v.as_double());
        return v;
    case affinity::real:
        if (v.type() == value_type::integer)
            return value(static_cast<double>(v.as_int64()));
        if (v.type() == value_type::text)
            if (auto n = number_in(v.as_text()))
                return n->type() == value_type::integer ? value(static_cast<double>(n->as_int64()))
                                                        : *n;
        return v;
    case affinity::text:
        // Integers only: a REAL's text is SQLite's own rendering, which is not reproduced here.
        if (v.type() == value_type::integer)
            return value(std::to_string(v.as_int64()));
        return v;
    case affinity::blob: return v;
    }
    return v;
}

namespace {

// Records that `child` references `parent` (folded names, both in the schema).
void add_reference(schema& s, const std::string& child, const std::string& parent, bool acts) {
    auto& parents = s.tables.at(child).parents;
    if (std::find(parents.begin(), parents.end(), parent) == parents.end())
        parents.push_back(parent);
    auto& referenced = s.tables.at(parent);
    referenced.referenced = true;
    referenced.delete_acts = referenced.delete_acts || acts;
}

// The tables the connection's search_path shows, from pg_catalog: columns by attnum, and the
// column sets of unique indexes (the primary key's too) that ON CONFLICT can name.
result<schema> load_postgres_schema(connection& conn) {
    schema out;
    out.version = 0;
    out.foreign_keys = true; // PostgreSQL always enforces them
    out.exact_names = true;  // the buffer quotes every name: "Mixed" is not mixed
    std::map<std::int64_t, std::string> folded_by_oid;
    BOOST_OUTCOME_TRY(auto tables,
                      conn.query<std::tuple<std::int64_t, std::string>>(
                          "SELECT c.oid::bigint, c.relname FROM pg_class c"
                          " JOIN pg_namespace n ON n.oid = c.relnamespace"
                          " WHERE c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid)"
                          " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"));
    for (const auto& [oid, name] : tables) {
        table_info t;
        t.name = name;
        t.exact_names = true;
        BOOST_OUTCOME_TRY(auto cols, conn.query<std::tuple<int, std::string>>(
                                         "SELECT attnum::int, attname::text FROM pg_attribute"
                                         " WHERE attrelid = $1::bigint::oid AND attnum > 0"
                                         " AND NOT attisdropped ORDER BY attnum",
                                         oid));
        std::map<int, std::string> by_number;
        for (const auto& [number, column] : cols) {
            const auto folded = t.key(column);
            t.columns.emplace(folded, column);
            t.columns_in_order.push_back(column);
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
        folded_by_oid.emplace(oid, name);
        out.tables.emplace(name, std::move(t));
    }
    // confdeltype: a = NO ACTION, r = RESTRICT; c, n, d change the referencing rows.
    BOOST_OUTCOME_TRY(auto references, conn.query<std::tuple<std::int64_t, std::int64_t, std::string>>(
                                           "SELECT conrelid::bigint, confrelid::bigint,"
                                           " confdeltype::text FROM pg_constraint"
                                           " WHERE contype = 'f'"));
    for (const auto& [child, parent, on_delete] : references) {
        const auto c = folded_by_oid.find(child), p = folded_by_oid.find(parent);
        if (c != folded_by_oid.end() && p != folded_by_oid.end())
            add_reference(out, c->second, p->second, on_delete != "a" && on_delete != "r");
    }
    link_foreign_keys(out);
    return out;
}

} // namespace

result<schema> load_schema(connection& conn) {
    if (conn.engine() == backend::postgresql)
        return load_postgres_schema(conn);
    schema out;
    BOOST_OUTCOME_TRY(auto version, conn.query_one<std::int64_t>("PRAGMA schema_version"));
    out.version = version.value_or(0);
    BOOST_OUTCOME_TRY(auto enforced, conn.query_one<int>("PRAGMA foreign_keys"));
    out.foreign_keys = enforced.value_or(0) != 0;
    std::vector<std::tuple<std::string, std::string, bool>> references; // child, parent, acts
    BOOST_OUTCOME_TRY(auto names,
                      conn.query<std::string>("SELECT name FROM sqlite_schema WHERE type = 'table'"
                                              " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"));
    for (const auto& name : names) {
        table_info t;
        t.name = name;
        // table_info: cid, name, type, notnull, dflt_value, pk
        BOOST_OUTCOME_TRY(auto cols, conn.query<std::tuple<int, std::string, std::string, int>>(
                                         "SELECT cid, name, type, pk FROM pragma_table_info(?)",
                                         name));
        std::vector<std::pair<int, std::string>> primary_key;
        for (const auto& [cid, column, type, pk] : cols) {
            const auto folded = fold_case(column);
            t.columns.emplace(folded, column);
            t.columns_in_order.push_back(column);
            t.column_order.emplace(folded, cid);
            t.affinities.emplace(folded, affinity_of(type));
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
        BOOST_OUTCOME_TRY(auto parents,
                          conn.query<std::tuple<std::string, std::string>>(
                              "SELECT \"table\", on_delete FROM pragma_foreign_key_list(?)", name));
        for (const auto& [parent, on_delete] : parents)
            references.emplace_back(fold_case(name), fold_case(parent),
                                    on_delete != "NO ACTION" && on_delete != "RESTRICT");
        out.tables.emplace(fold_case(name), std::move(t));
    }
    for (const auto& [child, parent, acts] : references)
        if (out.tables.count(parent)) // a reference to a missing table fails every write anyway
            add_reference(out, child, parent, acts);
    link_foreign_keys(out);
    return out;
}

namespace {

// The shortest chain of references from `from` back to `to`, as "to -> from -> ... -> to",
// or "" when there is none.
std::string chain_back(const schema& s, const std::string& from, const std::string& to) {
    std::map<std::string, std::string> came_from{{from, ""}};
    std::vector<std::string> frontier{from};
    while (!frontier.empty()) {
        std::vector<std::string> next;
        for (const auto& name : frontier) {
            if (name == to) {
                std::vector<std::string> back; // to, ..., from
                for (std::string at = to; !at.empty(); at = came_from.at(at))
                    back.push_back(at);
                std::string chain = s.tables.at(to).name;
                for (auto it = back.rbegin(); it != back.rend(); ++it)
                    chain += " -> " + s.tables.at(*it).name;
                return chain;
            }
            for (const auto& p : s.tables.at(name).parents)
                if (came_from.emplace(p, name).second)
                    next.push_back(p);
        }
        frontier.swap(next);
    }
    return {};
}

int depth_of(schema& s, const std::string& name, std::map<std::string, int>& memo) {
    if (auto it = memo.find(name); it != memo.end())
        return it->second;
    memo[name] = 0; // a table met again on its own chain is on a cycle: it adds nothing
    int depth = 0;
    for (const auto& p : s.tables.at(name).parents)
        if (p != name)
            depth = std::max(depth, 1 + depth_of(s, p, memo));
    s.tables.at(name).depth = depth;
    return memo[name] = depth;
}

} // namespace

void link_foreign_keys(schema& s) {
    std::map<std::string, int> memo;
    for (auto& [name, t] : s.tables) {
        depth_of(s, name, memo);
        for (const auto& p : t.parents)
            if (t.cycle.empty())
                t.cycle = chain_back(s, p, name);
    }
}

} // namespace sqlite_hybrid::detail::wb
