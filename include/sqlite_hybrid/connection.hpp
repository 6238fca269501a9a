// SPDX-License-Identifier: BSL-1.0
// A synchronous connection to SQLite (one thread at a time: it is opened SQLITE_OPEN_NOMUTEX)
// or to PostgreSQL (libpq), with one API for both. The database runs each connection on its
// own strand; job functions receive it by reference.
#pragma once

#include <sqlite_hybrid/database_url.hpp>
#include <sqlite_hybrid/diagnostics.hpp>
#include <sqlite_hybrid/options.hpp>
#include <sqlite_hybrid/result.hpp>
#include <sqlite_hybrid/statement.hpp>

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sqlite_hybrid {

enum class open_mode { read_write_create, read_write, read_only };

namespace detail {
struct connection_state;
}

class connection {
public:
    // Opens `path` (a file name or a URL, see database_url.hpp) and applies `options` in
    // their documented order; see settings(). A PostgreSQL connection opened read_only runs
    // every transaction READ ONLY; read_write_create and read_write are the same there.
    static result<connection> open(const std::string& path, open_mode mode,
                                   const connection_options& options, diagnostics* diag = nullptr);

    connection(connection&&) noexcept;
    connection& operator=(connection&&) noexcept;
    ~connection();

    // A statement from the LRU cache (prepared on a miss). One statement per call: trailing
    // SQL after the first statement is an error (errc::multiple_statements).
    result<statement> prepare(std::string_view sql);

    template <class... Args>
    result<execute_result> execute(std::string_view sql, const Args&... args) {
        BOOST_OUTCOME_TRY(auto stmt, prepare(sql));
        BOOST_OUTCOME_TRY(bind_arguments(stmt, args...));
        return stmt.execute();
    }

    template <class Row, class... Args>
    result<std::vector<Row>> query(std::string_view sql, const Args&... args) {
        BOOST_OUTCOME_TRY(auto stmt, prepare(sql));
        BOOST_OUTCOME_TRY(bind_arguments(stmt, args...));
        return stmt.template rows<Row>();
    }

    // The first row, or nullopt when there is none.
    template <class Row, class... Args>
    result<std::optional<Row>> query_one(std::string_view sql, const Args&... args) {
        BOOST_OUTCOME_TRY(auto stmt, prepare(sql));
        BOOST_OUTCOME_TRY(bind_arguments(stmt, args...));
        BOOST_OUTCOME_TRY(bool has_row, stmt.step());
        if (!has_row)
            return std::optional<Row>();
        BOOST_OUTCOME_TRY(auto r, stmt.template row<Row>());
        return std::optional<Row>(std::move(r));
    }

    // Runs a script of several statements with no parameters (sqlite3_exec; on PostgreSQL
    // the simple query protocol).
    result<void> execute_script(std::string_view sql);

    backend engine() const noexcept;
    bool in_transaction() const noexcept;   // !sqlite3_get_autocommit
    // PostgreSQL: a statement failed and the transaction only accepts ROLLBACK now.
    bool transaction_failed() const noexcept;
    // PostgreSQL: connects again when the server dropped the connection (no more often than
    // the reconnect backoff allows). SQLite: nothing to do.
    result<void> check_connection();
    bool read_only() const noexcept;
    const applied_settings& settings() const noexcept;
    const diagnostics& last_diagnostics() const noexcept;
    diagnostics& last_diagnostics() noexcept;
    const std::string& path() const noexcept;
    std::int64_t last_insert_rowid() const noexcept; // PostgreSQL: 0 (use RETURNING)
    sqlite3* native_handle() const noexcept;         // PostgreSQL: null

    // Safe from any thread: makes the running statement fail with SQLITE_INTERRUPT.
    void interrupt() noexcept;

    // Waiting for other connections' locks (the fair busy handler): each wait ends after
    // busy_timeout, or earlier at `limit` or `deadline` when set. PostgreSQL waits for locks
    // on the server (see its lock_timeout setting): nothing to limit or count here.
    struct lock_waits {
        std::uint64_t count = 0; // polls that found the lock still held
        std::chrono::steady_clock::duration time{0};
    };
    void limit_lock_wait(std::optional<std::chrono::steady_clock::duration> limit,
                         std::optional<std::chrono::steady_clock::time_point> deadline) noexcept;
    // The waits since the last call, then starts counting again.
    lock_waits take_lock_waits() noexcept;

    // Releases every cached statement (before schema changes that other code depends on).
    void clear_statement_cache() noexcept;

private:
    explicit connection(std::unique_ptr<detail::connection_state> state) noexcept;
    static result<void> apply_pragmas(connection& c, const connection_options& o, bool read_only);
    static result<connection> open_postgres(const std::string& url, open_mode mode,
                                            const connection_options& options,
                                            diagnostics* diag);

    template <class... Args>
    static result<void> bind_arguments(statement& stmt, const Args&... args) {
        if constexpr (sizeof...(Args) == 1 &&
                      (std::is_convertible_v<const Args&, std::span<const value>> && ...))
            return stmt.bind_all(args...);
        else
            return stmt.bind_values(args...);
    }

    std::unique_ptr<detail::connection_state> state_;
};

} // namespace sqlite_hybrid
