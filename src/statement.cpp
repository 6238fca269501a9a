// SPDX-License-Identifier: BSL-1.0
#include "postgres/pg_cursor.hpp"
#include "statement_cache.hpp"

#include <sqlite_hybrid/statement.hpp>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>

namespace sqlite_hybrid {

namespace detail {
// The last column read failure on this thread, in words; statement::row() copies it into the
// connection's diagnostics (a connection runs on one thread at a time).
thread_local std::string last_column_error;

error_code column_error(const row_source& row, int col, errc e, value_type wanted) {
    static constexpr std::string_view types[] = {"", "integer", "real", "text", "blob", "null"};
    last_column_error = "column " + std::to_string(col) + " ('" + std::string(row.column_name(col)) +
                        "') holds " + std::string(types[row.type(col)]) + ", read as " +
                        std::string(to_string(wanted));
    return make_error_code(e);
}

error_code column_range_error(const row_source& row, int col, std::int64_t v, std::size_t bytes,
                              bool is_signed) {
    last_column_error = "column " + std::to_string(col) + " ('" + std::string(row.column_name(col)) +
                        "') holds " + std::to_string(v) + ", which does not fit " +
                        (is_signed ? "a signed " : "an unsigned ") + std::to_string(bytes * 8) +
                        "-bit integer";
    return make_error_code(errc::value_out_of_range);
}

error_code check_column_count(const row_source& row, int wanted) {
    const int have = row.column_count();
    if (have >= wanted)
        return {};
    last_column_error = "the statement returns " + std::to_string(have) + " columns, the row type needs " +
                        std::to_string(wanted);
    return make_error_code(errc::column_out_of_range);
}

result<value> column_reader<value>::read(const row_source& s, int col) {
    switch (s.type(col)) {
    case SQLITE_INTEGER: return value(s.int64(col));
    case SQLITE_FLOAT: return value(s.real(col));
    case SQLITE_TEXT: return column_reader<std::string>::read(s, col).value();
    case SQLITE_BLOB: return value(column_reader<blob>::read(s, col).value());
    default: return value();
    }
}
} // namespace detail

std::string_view to_string(value_type t) noexcept {
    switch (t) {
    case value_type::null: return "null";
    case value_type::integer: return "integer";
    case value_type::real: return "real";
    case value_type::text: return "text";
    case value_type::blob: return "blob";
    }
    return "?";
}

statement::statement(statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), diag_(other.diag_),
      home_(std::exchange(other.home_, nullptr)), pg_(std::exchange(other.pg_, nullptr)) {}

statement& statement::operator=(statement&& other) noexcept {
    if (this != &other) {
        this->~statement();
        new (this) statement(std::move(other));
    }
    return *this;
}

statement::~statement() {
    delete pg_;
    if (home_)
        home_->give_back();
    else if (stmt_)
        sqlite3_finalize(stmt_);
}

error_code statement::fail(int rc) {
    sqlite3* db = sqlite3_db_handle(stmt_);
    const int code = sqlite3_extended_errcode(db);
    if (diag_) {
        diag_->message = sqlite3_errmsg(db);
        diag_->error_offset = sqlite3_error_offset(db);
        diag_->sql = sql();
    }
    return make_sqlite_error(code != SQLITE_OK ? code : rc);
}

void statement::note_read_error() {
    if (diag_) {
        diag_->message = detail::last_column_error;
        diag_->error_offset = -1;
        diag_->sql = sql();
    }
}

result<void> statement::check_index(int index) {
    if (index >= 1 && static_cast<std::size_t>(index) <= pg_->params.size())
        return outcome::success();
    if (diag_) {
        diag_->message = "parameter index " + std::to_string(index) + " out of range (the "
                         "statement has " + std::to_string(pg_->params.size()) + ")";
        diag_->sql = sql();
    }
    return make_sqlite_error(SQLITE_RANGE);
}

void value::throw_out_of_range(unsigned long long v) {
    throw system_error(make_error_code(errc::value_out_of_range),
                       std::to_string(v) + " does not fit a signed 64-bit integer, the widest "
                                           "integer SQLite stores");
}

result<void> statement::bind(int index, const value& v) {
    if (pg_) {
        BOOST_OUTCOME_TRY(check_index(index));
        reset(); // the next step runs with this value
        pg_->params[static_cast<std::size_t>(index - 1)] = v;
        return outcome::success();
    }
    int rc = SQLITE_OK;
    switch (v.type()) {
    case value_type::null: rc = sqlite3_bind_null(stmt_, index); break;
    case value_type::integer: rc = sqlite3_bind_int64(stmt_, index, v.as_int64()); break;
    case value_type::real: rc = sqlite3_bind_double(stmt_, index, v.as_double()); break;
    case value_type::text: {
        const auto& s = v.as_text();
        rc = sqlite3_bind_text64(stmt_, index, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
    }
    case value_type::blob: {
        const auto& b = v.as_blob();
        rc = b.empty() ? sqlite3_bind_zeroblob(stmt_, index, 0) // a null pointer would bind NULL
                       : sqlite3_bind_blob64(stmt_, index, b.data(), b.size(), SQLITE_TRANSIENT);
        break;
    }
    }
    if (rc != SQLITE_OK)
        return fail(rc);
    return outcome::success();
}

result<void> statement::bind(std::string_view name, const value& v) {
    const std::string key(name);
    int index = 0;
    if (pg_) { // PostgreSQL's parameters are $1, $2, ...
        if (key.size() > 1 && key[0] == '$')
            index = std::atoi(key.c_str() + 1);
        if (index < 1 || static_cast<std::size_t>(index) > pg_->params.size())
            index = 0;
    } else {
        index = sqlite3_bind_parameter_index(stmt_, key.c_str());
    }
    if (index == 0) {
        if (diag_) {
            diag_->message = "the statement has no parameter named " + key;
            diag_->sql = sql();
        }
        return make_sqlite_error(SQLITE_RANGE);
    }
    return bind(index, v);
}

result<void> statement::bind_all(std::span<const value> values) {
    const int wanted = parameter_count();
    if (static_cast<std::size_t>(wanted) != values.size()) {
        if (diag_) {
            diag_->message = "the statement has " + std::to_string(wanted) + " parameters, " +
                             std::to_string(values.size()) + " values were given";
            diag_->error_offset = -1;
            diag_->sql = sql();
        }
        return make_error_code(errc::parameter_count);
    }
    if (pg_) {
        reset();
        std::copy(values.begin(), values.end(), pg_->params.begin());
        return outcome::success();
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
        // $1, $2 ... are named parameters to SQLite, numbered in order of first use: bind by
        // the number in the name, so that SQL written for PostgreSQL binds the same values.
        int index = static_cast<int>(i + 1);
        if (const char* name = sqlite3_bind_parameter_name(stmt_, index); name && name[0] == '$') {
            const int n = std::atoi(name + 1);
            if (n >= 1 && static_cast<std::size_t>(n) <= values.size()) {
                BOOST_OUTCOME_TRY(bind(index, values[static_cast<std::size_t>(n - 1)]));
                continue;
            }
        }
        BOOST_OUTCOME_TRY(bind(index, values[i]));
    }
    return outcome::success();
}

void statement::clear_bindings() noexcept {
    if (pg_)
        std::fill(pg_->params.begin(), pg_->params.end(), value());
    else
        sqlite3_clear_bindings(stmt_);
}

error_code statement::run_on_server() {
    auto rows = pg_->session->run(*pg_->prepared, pg_->params);
    if (!rows)
        return rows.error();
    pg_->rows = std::move(rows).value();
    pg_->row = -1;
    return {};
}

result<bool> statement::step() {
    if (pg_) {
        // As sqlite3_step: after the last row, the next step runs the statement again.
        if (!pg_->rows || pg_->row >= PQntuples(pg_->rows.get()))
            if (auto ec = run_on_server())
                return ec;
        return ++pg_->row < PQntuples(pg_->rows.get());
    }
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    auto ec = fail(rc);
    sqlite3_reset(stmt_);
    return ec;
}

result<execute_result> statement::execute() {
    if (pg_) {
        if (auto ec = run_on_server())
            return ec;
        const char* changed = PQcmdTuples(pg_->rows.get());
        execute_result r{changed && *changed ? std::atoll(changed) : 0, 0};
        reset();
        return r;
    }
    for (;;) {
        BOOST_OUTCOME_TRY(bool has_row, step());
        if (!has_row)
            break;
    }
    sqlite3* db = sqlite3_db_handle(stmt_);
    execute_result r{sqlite3_changes64(db), sqlite3_last_insert_rowid(db)};
    sqlite3_reset(stmt_);
    return r;
}

void statement::reset() noexcept {
    if (pg_) {
        pg_->rows.reset();
        pg_->row = -1;
    } else {
        sqlite3_reset(stmt_);
    }
}
int statement::parameter_count() const noexcept {
    return pg_ ? pg_->prepared->parameters : sqlite3_bind_parameter_count(stmt_);
}
int statement::column_count() const noexcept {
    return pg_ ? row_source(pg_).column_count() : sqlite3_column_count(stmt_);
}
std::string_view statement::column_name(int col) const noexcept {
    return pg_ ? row_source(pg_).column_name(col) : row_source(stmt_).column_name(col);
}
bool statement::read_only() const noexcept {
    return pg_ ? pg_->prepared->read_only : sqlite3_stmt_readonly(stmt_) != 0;
}
std::string_view statement::sql() const noexcept {
    if (pg_)
        return pg_->prepared->sql;
    const char* s = sqlite3_sql(stmt_);
    return s ? s : "";
}

} // namespace sqlite_hybrid
