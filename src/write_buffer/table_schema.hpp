// SPDX-License-Identifier: BSL-1.0
// The live schema as the write buffer checks it: which tables and columns exist, and which
// column sets are unique keys. Names are matched as SQLite matches them (ASCII case-insensitive)
// and always written back in their canonical spelling, quoted.
#pragma once

#include <sqlite_hybrid/connection.hpp>
#include <sqlite_hybrid/result.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sqlite_hybrid::detail::wb {

std::string fold_case(std::string_view name);
// How a name is looked up: SQLite matches names without ASCII case; PostgreSQL exactly (as a
// quoted identifier), else as it reads an unquoted one (lower case): "KV" finds kv, "mixed"
// does not find "Mixed".
std::string name_key(std::string_view name, bool exact);
std::string quote_identifier(std::string_view name);

// SQLite's type affinity of a column, from its declared type (sqlite.org/datatype3.html).
enum class affinity : char { integer, numeric, real, text, blob };
affinity affinity_of(std::string_view declared_type);

// A key value as the column stores it (INTEGER: 1, 1.0 and "1" are the integer 1; TEXT: 2 is
// "2"), so that writes of one row given in other types coalesce as one key.
value normalise_key(const value& v, affinity a);

struct table_info {
    std::string name;                           // canonical spelling
    bool exact_names = false;                   // PostgreSQL: keys below are names as written
    std::map<std::string, std::string> columns; // key(name) -> canonical name
    std::map<std::string, int> column_order;    // key(name) -> position in the table
    std::map<std::string, affinity> affinities; // key(name) -> affinity (SQLite; blob: none)
    std::vector<std::vector<std::string>> unique_keys; // key(name)s, sorted
    std::vector<std::string> columns_in_order;  // canonical names, by position

    // Foreign keys, as far as the order of a flush needs them.
    std::vector<std::string> parents; // keys of the tables this one references
    bool referenced = false;          // another table (or this one) references this one
    bool delete_acts = false;         // a reference to it deletes or changes rows ON DELETE
    int depth = 0;                    // 0: references nothing; else 1 + its deepest parent's
    std::string cycle;                // "a -> b -> a" when it is on a cycle of references

    std::string key(std::string_view name) const { return name_key(name, exact_names); }
    const std::string* canonical_column(std::string_view name) const;
    // Whether these folded, sorted columns are the primary key or a unique index.
    bool is_unique_key(const std::vector<std::string>& folded_sorted) const;
};

struct schema {
    std::map<std::string, table_info> tables; // key(table name) -> info
    bool exact_names = false;                 // PostgreSQL
    std::int64_t version = -1;                // PRAGMA schema_version when loaded
    bool foreign_keys = false;                // references are enforced (PRAGMA foreign_keys)
    std::uint64_t generation = 0;             // tells loaded schemas apart (statement texts)

    std::string key(std::string_view name) const { return name_key(name, exact_names); }
    const table_info* find(std::string_view table) const;
    // A table whose name differs from `table` only in case (for a hint), or null.
    const table_info* find_other_case(std::string_view table) const;
};

// Reads the schema through a connection (on a database strand).
result<schema> load_schema(connection& conn);

// Works out each table's depth in the references and the cycles among them, from `parents`.
void link_foreign_keys(schema& s);

} // namespace sqlite_hybrid::detail::wb
