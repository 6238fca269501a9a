// SPDX-License-Identifier: BSL-1.0
// Writing pending rows on the writer connection: statements built from the checked, quoted
// names of each (table, column set), values always bound. Runs of upserts with the same
// columns go in multi-row INSERTs.
#pragma once

#include "pending_store.hpp"

#include <sqlite_hybrid/connection.hpp>

#include <map>
#include <tuple>

namespace sqlite_hybrid::detail::wb {

struct row_failure {
    std::size_t index;
    error_code error;
    std::string message;
};

struct isolated_result {
    std::size_t written = 0;
    std::vector<row_failure> failures; // rows that can never be written, as they are
};

// The SQL text of each statement a flush runs, built once per (kind, columns, key, rows).
// Shapes are interned per table, so they name the table too. Used on the writer only.
class statement_texts {
public:
    const std::string& upsert(const std::string& table, const shape& columns, const shape& key,
                              std::size_t rows);
    // An upsert that sets every column of `whole_row` that is not in the key: columns the row
    // does not give take their defaults, as after a delete and an insert.
    const std::string& replace(const std::string& table, const shape& columns, const shape& key,
                               const std::vector<std::string>& whole_row,
                               std::uint64_t schema_generation);
    const std::string& update(const std::string& table, const shape& columns, const shape& key);
    const std::string& remove(const std::string& table, const shape& key);

private:
    using text_key = std::tuple<int, std::uint32_t, std::uint32_t, std::size_t>;
    std::map<text_key, std::string> texts_;
};

// Orders a table's rows so that rows with the same statements are neighbours, and, `by_key`,
// within them by key, so that each chunk of a flush that takes several touches few pages.
void order_for_statements(flushing_table& table, bool by_key);

// Rows [begin, end) of `table`: the first failure stops and is returned (the caller's
// transaction rolls back whatever ran).
result<std::size_t> write_rows(connection& conn, statement_texts& sql, const flushing_table& table,
                               std::size_t begin, std::size_t end);

// The same, each row inside its own savepoint: a row that fails for a reason of its own is
// reported and the others are written. An error that is not the row's (the lock, I/O, a full
// disk) is returned as a whole.
result<isolated_result> write_rows_isolated(connection& conn, statement_texts& sql,
                                            const flushing_table& table, std::size_t begin,
                                            std::size_t end);

// Whether a flush that failed with `ec` may succeed later with the same rows.
bool is_transient(const error_code& ec);

} // namespace sqlite_hybrid::detail::wb
