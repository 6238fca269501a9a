// Reading SQL text for PostgreSQL without a parser: literals, quoted names, comments and
// dollar-quoted bodies are skipped, the rest is looked at word by word.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

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
// Why `sql` is refused inside a job (every statement of a script is looked at), or nothing:
// transaction control (see pg_statement_guard.hpp), DEALLOCATE and DISCARD.
std::optional<std::string> postgres_refusal(std::string_view sql, bool own_savepoints);

} // namespace sqlite_hybrid::detail
