// SPDX-License-Identifier: BSL-1.0
// Transaction control belongs to the library on PostgreSQL too. PostgreSQL has no authorizer:
// while a caller's job runs, the statements it prepares or runs as a script are classified by
// their first words (outside literals and comments) before they reach the server. BEGIN,
// START TRANSACTION, COMMIT, END, ROLLBACK, ABORT and PREPARE TRANSACTION are refused;
// SAVEPOINT, RELEASE and ROLLBACK TO only in a write job of several statements (nested in the
// savepoint the library gives it), and never with the library's own name (sqlite_hybrid...).
// DEALLOCATE and DISCARD are refused too: the prepared statements are the library's.
#pragma once

#include "pg_sql.hpp"

namespace sqlite_hybrid {
class connection;
}

namespace sqlite_hybrid::detail {

// Set by the database around a caller's job on a PostgreSQL connection: a job runs on one
// thread from its start to its end, so the guard is this thread's, for that connection only.
class postgres_statement_guard {
public:
    postgres_statement_guard(const connection& conn, bool own_savepoints) noexcept
        : previous_(active_) {
        active_ = {&conn, own_savepoints};
    }
    ~postgres_statement_guard() { active_ = previous_; }
    postgres_statement_guard(const postgres_statement_guard&) = delete;
    postgres_statement_guard& operator=(const postgres_statement_guard&) = delete;

    // Why `sql` may not run on `conn` now, or nothing.
    static std::optional<std::string> refusal(const connection& conn, std::string_view sql) {
        if (active_.conn != &conn)
            return std::nullopt;
        return postgres_refusal(sql, active_.own_savepoints);
    }
    // Inside a job on `conn`: whether it may nest savepoints of its own; nothing outside one.
    static std::optional<bool> in_job(const connection& conn) noexcept {
        if (active_.conn != &conn)
            return std::nullopt;
        return active_.own_savepoints;
    }

private:
    struct state {
        const connection* conn;
        bool own_savepoints;
    };
    static inline thread_local state active_{nullptr, false};
    state previous_;
};

} // namespace sqlite_hybrid::detail
