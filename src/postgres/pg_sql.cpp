// SPDX-License-Identifier: BSL-1.0
#include "pg_sql.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

namespace sqlite_hybrid::detail {

namespace {

bool is_word_char(char c) noexcept {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// The length of the literal, quoted identifier or comment starting at `i`, or 0.
std::size_t skip_quoted(std::string_view s, std::size_t i) noexcept {
    const char c = s[i];
    auto until = [&](std::string_view end, std::size_t from) {
        const auto at = s.find(end, from);
        return (at == std::string_view::npos ? s.size() : at + end.size()) - i;
    };
    if (c == '-' && i + 1 < s.size() && s[i + 1] == '-')
        return until("\n", i + 2);
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') { // comments nest in PostgreSQL
        int depth = 1;
        std::size_t j = i + 2;
        while (j < s.size() && depth > 0) {
            if (s.compare(j, 2, "/*") == 0) {
                ++depth;
                j += 2;
            } else if (s.compare(j, 2, "*/") == 0) {
                --depth;
                j += 2;
            } else {
                ++j;
            }
        }
        return j - i;
    }
    if (c == '\'' || c == '"') {
        // E'...' strings escape with backslashes; every kind doubles its quote.
        const bool backslashes = c == '\'' && i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') &&
                                 (i < 2 || !is_word_char(s[i - 2]));
        std::size_t j = i + 1;
        while (j < s.size()) {
            if (backslashes && s[j] == '\\') {
                j += 2;
                continue;
            }
            if (s[j] == c) {
                if (j + 1 < s.size() && s[j + 1] == c) {
                    j += 2;
                    continue;
                }
                return j + 1 - i;
            }
            ++j;
        }
        return s.size() - i;
    }
    if (c == '$' && (i == 0 || !is_word_char(s[i - 1]))) {
        // $tag$ ... $tag$ (dollar quoting); $1 is a parameter, not a tag.
        if (i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))
            return 0;
        std::size_t j = i + 1;
        while (j < s.size() && is_word_char(s[j]))
            ++j;
        if (j < s.size() && s[j] == '$') {
            const std::string_view tag = s.substr(i, j + 1 - i);
            return until(tag, j + 1);
        }
    }
    return 0;
}

bool has_numbered_parameters(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (auto n = skip_quoted(s, i)) {
            i += n - 1;
            continue;
        }
        if (s[i] == '$' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])) &&
            (i == 0 || !is_word_char(s[i - 1])))
            return true;
    }
    return false;
}

// The statements of a script: the text between top-level semicolons.
std::vector<std::string_view> statements_of(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (auto n = skip_quoted(s, i)) {
            i += n - 1;
        } else if (s[i] == ';') {
            out.push_back(s.substr(start, i - start));
            start = i + 1;
        }
    }
    out.push_back(s.substr(start));
    return out;
}

// The first `count` words of a statement, past blanks and comments: keywords and unquoted
// names upper-cased, a quoted name as it is written. Stops at anything else.
std::vector<std::string> leading_words(std::string_view s, std::size_t count) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < s.size() && words.size() < count) {
        const char c = s[i];
        if (std::isspace(static_cast<unsigned char>(c))) {
            ++i;
        } else if (c == '-' || c == '/') {
            const auto n = skip_quoted(s, i);
            if (n == 0)
                break;
            i += n;
        } else if (c == '"') {
            const auto n = skip_quoted(s, i);
            words.emplace_back(s.substr(i + 1, n >= 2 ? n - 2 : 0));
            i += n;
        } else if (is_word_char(c)) {
            std::size_t j = i;
            while (j < s.size() && is_word_char(s[j]))
                ++j;
            std::string word(s.substr(i, j - i));
            for (auto& ch : word)
                ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            words.push_back(std::move(word));
            i = j;
        } else {
            break;
        }
    }
    return words;
}

// Whether a statement holds nothing but blanks and comments.
bool blank(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (std::isspace(static_cast<unsigned char>(s[i])))
            continue;
        const auto n = (s[i] == '-' || s[i] == '/') ? skip_quoted(s, i) : 0;
        if (n == 0)
            return false;
        i += n - 1;
    }
    return true;
}

bool library_savepoint(std::string name) {
    for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name.starts_with("sqlite_hybrid");
}

// The i-th of a statement's leading words, or an empty one past the last.
std::string word_at(const std::vector<std::string>& w, std::size_t i) {
    return i < w.size() ? w[i] : std::string();
}

// Why a statement would leave state in the session, which outlives the job on a connection the
// library pools: the next job, on this connection or another, would see it or miss it.
std::optional<std::string> session_state_refusal(const std::vector<std::string>& w,
                                                 std::string_view statement) {
    constexpr auto where =
        "; a connection is shared by every job that runs on it, and each job may run on another "
        "one (set session settings in postgres_options::session_sql, which runs on every "
        "connection and reconnect)";
    auto word = [&](std::size_t i) { return word_at(w, i); };
    if (w[0] == "SET" || w[0] == "RESET")
        return w[0] +
               " changes the session (SET LOCAL, the transaction that the group's other "
               "jobs share)" +
               where;
    if (w[0] == "LISTEN" || w[0] == "UNLISTEN")
        return w[0] + " would keep notifications for the session, which no job receives" + where;
    if (w[0] == "CREATE") {
        std::size_t at = 1; // CREATE [OR REPLACE] [GLOBAL | LOCAL] TEMP[ORARY] ...
        while (word(at) == "OR" || word(at) == "REPLACE" || word(at) == "GLOBAL" ||
               word(at) == "LOCAL")
            ++at;
        if (word(at) == "TEMP" || word(at) == "TEMPORARY")
            return "a temporary table lives in one session and is not seen by the next job, "
                   "which may run on another connection (use a table of the schema)" +
                   std::string(where);
    }
    for (const auto& f : postgres_called_functions(statement))
        if (f == "set_config" || f == "pg_advisory_lock" || f == "pg_advisory_lock_shared" ||
            f == "pg_try_advisory_lock" || f == "pg_try_advisory_lock_shared")
            return f + "() changes the session: its setting or lock would outlive the job" +
                   (f == "set_config"
                        ? std::string(where)
                        : std::string(" (use pg_advisory_xact_lock, which ends with the "
                                      "transaction)"));
    return std::nullopt;
}

} // namespace

std::vector<std::string> postgres_called_functions(std::string_view sql) {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < sql.size(); ++i) {
        if (auto n = skip_quoted(sql, i)) {
            i += n - 1;
            continue;
        }
        if (!is_word_char(sql[i]))
            continue;
        std::size_t j = i;
        std::string word;
        while (j < sql.size() && is_word_char(sql[j]))
            word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(sql[j++]))));
        std::size_t k = j;
        while (k < sql.size() && std::isspace(static_cast<unsigned char>(sql[k])))
            ++k;
        if (k < sql.size() && sql[k] == '(' && !std::isdigit(static_cast<unsigned char>(word[0])) &&
            std::find(names.begin(), names.end(), word) == names.end())
            names.push_back(std::move(word));
        i = j - 1;
    }
    return names;
}

std::optional<std::string> postgres_refusal(std::string_view sql, bool own_savepoints) {
    for (const auto statement : statements_of(sql)) {
        const auto w = leading_words(statement, 5);
        if (w.empty())
            continue;
        auto word = [&](std::size_t i) { return word_at(w, i); };
        std::size_t at = 1; // past ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT], to the name
        if (w[0] == "ROLLBACK" && (word(1) == "WORK" || word(1) == "TRANSACTION"))
            ++at;
        const bool rollback_to = w[0] == "ROLLBACK" && word(at) == "TO";
        const bool savepoint = w[0] == "SAVEPOINT" || w[0] == "RELEASE" || rollback_to;
        if (savepoint) {
            at = w[0] == "SAVEPOINT" ? 1 : rollback_to ? at + 1 : 1;
            if (word(at) == "SAVEPOINT")
                ++at;
            if (own_savepoints && !library_savepoint(word(at)))
                continue;
        } else if (w[0] == "DEALLOCATE" || w[0] == "DISCARD") {
            return "prepared statements and the session belong to the library (" + w[0] +
                   " would drop the statements it keeps prepared)";
        } else if (auto why = session_state_refusal(w, statement)) {
            return why;
        } else if (!(w[0] == "BEGIN" || w[0] == "START" || w[0] == "COMMIT" || w[0] == "END" ||
                     w[0] == "ROLLBACK" || w[0] == "ABORT" ||
                     (w[0] == "PREPARE" && word(1) == "TRANSACTION"))) {
            continue;
        }
        return "transaction control (" + w[0] +
               ") belongs to the library: a write job already runs inside a transaction "
               "(async_write), a read job inside a snapshot (async_read)" +
               (savepoint ? std::string("; a write job of several statements may nest savepoints "
                                        "of its own, not named sqlite_hybrid...")
                          : std::string());
    }
    return std::nullopt;
}

std::size_t postgres_second_statement(std::string_view sql) {
    const auto statements = statements_of(sql);
    std::size_t at = 0, seen = 0;
    for (const auto statement : statements) {
        if (!blank(statement) && ++seen == 2)
            return at;
        at += statement.size() + 1; // and its semicolon
    }
    return std::string_view::npos;
}

std::string postgres_placeholders(std::string_view sql) {
    if (sql.find('?') == std::string_view::npos || has_numbered_parameters(sql))
        return std::string(sql);
    std::string out;
    out.reserve(sql.size() + 16);
    int next = 1;
    for (std::size_t i = 0; i < sql.size(); ++i) {
        if (auto n = skip_quoted(sql, i)) {
            out.append(sql.substr(i, n));
            i += n - 1;
            continue;
        }
        if (sql[i] != '?') {
            out += sql[i];
            continue;
        }
        // ?NNN keeps its number, as in SQLite; a bare ? takes the next one.
        std::size_t j = i + 1;
        while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j])))
            ++j;
        // PostgreSQL reads `$` after a letter as part of a name, and letters or `$` right after
        // $n as junk: a space keeps the parameter a token of its own.
        if (!out.empty() && (is_word_char(out.back()) || out.back() == '$'))
            out += ' ';
        if (j > i + 1) {
            // As SQLite numbers them: a bare ? after ?NNN takes NNN + 1.
            const std::string digits(sql.substr(i + 1, j - i - 1));
            out += '$' + digits;
            if (digits.size() < 9)
                next = std::max(next, std::stoi(digits) + 1);
        } else {
            out += '$' + std::to_string(next++);
        }
        if (j < sql.size() && (is_word_char(sql[j]) || sql[j] == '$'))
            out += ' ';
        i = j - 1;
    }
    return out;
}

bool postgres_reads_only(std::string_view sql) noexcept {
    std::size_t i = 0;
    for (;;) { // past blanks, comments and opening parentheses
        while (i < sql.size() && (std::isspace(static_cast<unsigned char>(sql[i])) || sql[i] == '('))
            ++i;
        if (i < sql.size() && (sql[i] == '-' || sql[i] == '/'))
            if (auto n = skip_quoted(sql, i)) {
                i += n;
                continue;
            }
        break;
    }
    std::size_t end = i;
    while (end < sql.size() && is_word_char(sql[end]))
        ++end;
    std::string word(sql.substr(i, end - i));
    for (auto& c : word)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (word == "EXPLAIN") {
        std::string rest(sql.substr(end, 64));
        for (auto& c : rest)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return rest.find("ANALYZE") == std::string::npos;
    }
    return word == "SELECT" || word == "VALUES" || word == "SHOW" || word == "TABLE" ||
           word == "WITH";
}

} // namespace sqlite_hybrid::detail
