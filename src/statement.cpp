#include "statement_cache.hpp"

#include <sqlite_hybrid/statement.hpp>

#include <string>
#include <utility>

namespace sqlite_hybrid {

namespace detail {
// The last column read failure on this thread, in words; statement::row() copies it into the
// connection's diagnostics (a connection runs on one thread at a time).
thread_local std::string last_column_error;

error_code column_error(sqlite3_stmt* stmt, int col, errc e, value_type wanted) {
    const char* name = sqlite3_column_name(stmt, col);
    static constexpr std::string_view types[] = {"", "integer", "real", "text", "blob", "null"};
    const int actual = sqlite3_column_type(stmt, col);
    last_column_error = "column " + std::to_string(col) + " ('" + (name ? name : "?") +
                        "') holds " + std::string(types[actual]) + ", read as " +
                        std::string(to_string(wanted));
    return make_error_code(e);
}

error_code check_column_count(sqlite3_stmt* stmt, int wanted) {
    const int have = sqlite3_column_count(stmt);
    if (have >= wanted)
        return {};
    last_column_error = "the statement returns " + std::to_string(have) + " columns, the row type needs " +
                        std::to_string(wanted);
    return make_error_code(errc::column_out_of_range);
}

result<value> column_reader<value>::read(sqlite3_stmt* s, int col) {
    switch (sqlite3_column_type(s, col)) {
    case SQLITE_INTEGER: return value(sqlite3_column_int64(s, col));
    case SQLITE_FLOAT: return value(sqlite3_column_double(s, col));
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
      home_(std::exchange(other.home_, nullptr)) {}

statement& statement::operator=(statement&& other) noexcept {
    if (this != &other) {
        this->~statement();
        new (this) statement(std::move(other));
    }
    return *this;
}

statement::~statement() {
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

result<void> statement::bind(int index, const value& v) {
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
    const int index = sqlite3_bind_parameter_index(stmt_, key.c_str());
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
    const int wanted = sqlite3_bind_parameter_count(stmt_);
    if (static_cast<std::size_t>(wanted) != values.size()) {
        if (diag_) {
            diag_->message = "the statement has " + std::to_string(wanted) + " parameters, " +
                             std::to_string(values.size()) + " values were given";
            diag_->error_offset = -1;
            diag_->sql = sql();
        }
        return make_error_code(errc::parameter_count);
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
        BOOST_OUTCOME_TRY(bind(static_cast<int>(i + 1), values[i]));
    }
    return outcome::success();
}

void statement::clear_bindings() noexcept { sqlite3_clear_bindings(stmt_); }

result<bool> statement::step() {
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

void statement::reset() noexcept { sqlite3_reset(stmt_); }
int statement::parameter_count() const noexcept { return sqlite3_bind_parameter_count(stmt_); }
int statement::column_count() const noexcept { return sqlite3_column_count(stmt_); }
std::string_view statement::column_name(int col) const noexcept {
    const char* n = sqlite3_column_name(stmt_, col);
    return n ? n : "";
}
bool statement::read_only() const noexcept { return sqlite3_stmt_readonly(stmt_) != 0; }
std::string_view statement::sql() const noexcept {
    const char* s = sqlite3_sql(stmt_);
    return s ? s : "";
}

} // namespace sqlite_hybrid
