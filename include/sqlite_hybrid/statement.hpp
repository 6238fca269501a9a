// SPDX-License-Identifier: BSL-1.0
// A prepared statement: typed binding (by index, by name, variadic) and stepping through rows.
#pragma once

#include <sqlite_hybrid/diagnostics.hpp>
#include <sqlite_hybrid/result.hpp>
#include <sqlite_hybrid/row.hpp>
#include <sqlite_hybrid/value.hpp>

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sqlite_hybrid {

namespace detail {
struct cache_entry;
struct pg_cursor;
}

struct execute_result {
    std::int64_t changes = 0;           // rows changed by the statement (sqlite3_changes64)
    std::int64_t last_insert_rowid = 0; // rowid of the last INSERT (SQLite; PostgreSQL: 0,
                                        // use RETURNING)
};

// Move-only. A statement taken from a connection's cache returns there when destroyed.
// Text and blobs are bound with SQLITE_TRANSIENT (copied), so temporaries never dangle.
class statement {
public:
    statement() = default;
    // `home` is the cache entry the statement returns to; null: finalised when destroyed.
    statement(sqlite3_stmt* stmt, diagnostics* diag, detail::cache_entry* home) noexcept
        : stmt_(stmt), diag_(diag), home_(home) {}
    // A statement on PostgreSQL; it takes ownership of `cursor`.
    statement(detail::pg_cursor* cursor, diagnostics* diag) noexcept : diag_(diag), pg_(cursor) {}
    statement(statement&& other) noexcept;
    statement& operator=(statement&& other) noexcept;
    ~statement();

    result<void> bind(int index, const value& v);    // 1-based, as in SQLite
    result<void> bind(std::string_view name, const value& v); // ":name", "@name", "$name"
    result<void> bind_all(std::span<const value> values); // exactly the statement's parameters
    template <class... Args> result<void> bind_values(const Args&... args) {
        const value values[] = {value(args)...};
        return bind_all(std::span<const value>(values, sizeof...(Args)));
    }
    result<void> bind_values() { return bind_all({}); }
    void clear_bindings() noexcept;

    // Steps once: true when a row is ready, false when the statement is done.
    result<bool> step();
    // Runs to completion, discarding rows.
    result<execute_result> execute();
    void reset() noexcept;

    template <class Row> result<Row> row() {
        auto r = pg_ ? read_row<Row>(row_source(pg_)) : read_row<Row>(row_source(stmt_));
        if (!r)
            note_read_error();
        return r;
    }
    // Steps through every remaining row.
    template <class Row> result<std::vector<Row>> rows() {
        std::vector<Row> out;
        for (;;) {
            BOOST_OUTCOME_TRY(bool has_row, step());
            if (!has_row)
                return out;
            BOOST_OUTCOME_TRY(auto r, row<Row>());
            out.push_back(std::move(r));
        }
    }

    int parameter_count() const noexcept;
    int column_count() const noexcept;
    std::string_view column_name(int col) const noexcept;
    bool read_only() const noexcept;
    std::string_view sql() const noexcept;
    sqlite3_stmt* native_handle() const noexcept { return stmt_; } // null on PostgreSQL
    explicit operator bool() const noexcept { return stmt_ != nullptr || pg_ != nullptr; }

private:
    error_code fail(int rc);
    void note_read_error();
    result<void> check_index(int index);
    error_code run_on_server();

    sqlite3_stmt* stmt_ = nullptr;
    diagnostics* diag_ = nullptr;
    detail::cache_entry* home_ = nullptr;
    detail::pg_cursor* pg_ = nullptr; // owned
};

} // namespace sqlite_hybrid
