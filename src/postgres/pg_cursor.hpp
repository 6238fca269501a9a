// SPDX-License-Identifier: BSL-1.0
// A statement's state on PostgreSQL: its prepared statement, the values bound to it, and
// the rows of its last run with the row being read.
#pragma once

#include "pg_session.hpp"

#include <vector>

namespace sqlite_hybrid::detail {

struct pg_cursor {
    pg_cursor(pg_session& s, pg_prepared& p)
        : session(&s), prepared(&p), params(static_cast<std::size_t>(p.parameters)) {
        session->statement_opened(p);
    }
    pg_cursor(const pg_cursor&) = delete;
    pg_cursor& operator=(const pg_cursor&) = delete;
    ~pg_cursor() { session->statement_closed(*prepared); }

    pg_session* session;
    pg_prepared* prepared;
    std::vector<value> params;
    pg_result rows;
    int row = -1;
    mutable std::string decoded; // the last bytea column read, unescaped
};

} // namespace sqlite_hybrid::detail
