// SPDX-License-Identifier: BSL-1.0
// Reading SQL text for PostgreSQL without a parser: literals, quoted names, comments and
// dollar-quoted bodies are skipped, the rest is looked at word by word.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sqlite_hybrid::detail {

// SQL text for PostgreSQL: `?` placeholders (outside literals, identifiers and comments)
// become $1, $2, ...; text that already uses $n is returned unchanged.
std::string postgres_placeholders(std::string_view sql);
// Whether a statement only reads, from its first keyword (SELECT, VALUES, SHOW, TABLE,
// EXPLAIN without ANALYZE, WITH). A reader that finds otherwise sends it to the writer.
bool postgres_reads_only(std::string_view sql) noexcept;
// Where the second statement of `sql` starts (past the first one's semicolon), or npos when
// there is only one: blanks and comments after a semicolon are not a statement.
std::size_t postgres_second_statement(std::string_view sql);
// The names (lower case, without schema) a statement calls as functions: `name (` outside
// literals, quoted names and comments. SQL keywords before a parenthesis (IN, VALUES) are
// among them; a quoted function name is not.
std::vector<std::string> postgres_called_functions(std::string_view sql);
// Why `sql` is refused inside a job (every statement of a script is looked at), or nothing:
// transaction control (see pg_statement_guard.hpp), DEALLOCATE and DISCARD, and what would
// leave state in the pooled session: SET, RESET, LISTEN, UNLISTEN, CREATE TEMP, set_config()
// and the session-level advisory locks.
std::optional<std::string> postgres_refusal(std::string_view sql, bool own_savepoints);

} // namespace sqlite_hybrid::detail
