#include <sqlite_hybrid/detail/job.hpp>
#include <sqlite_hybrid/error.hpp>

#include <sqlite3.h>

#include <exception>
#include <string>

namespace sqlite_hybrid {
namespace {

class sqlite_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "sqlite"; }
    std::string message(int code) const override {
        std::string text = sqlite3_errstr(code);
        if ((code & 0xff) != code) // an extended code: say which one, the text is the primary's
            text += " (extended code " + std::to_string(code) + ")";
        return text;
    }
    bool failed(int code) const noexcept override {
        return code != SQLITE_OK && code != SQLITE_ROW && code != SQLITE_DONE;
    }
};

class library_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "sqlite_hybrid"; }
    std::string message(int code) const override {
        switch (static_cast<errc>(code)) {
        case errc::closed: return "the database is closed";
        case errc::database_busy: return "the database stayed locked past every retry";
        case errc::buffer_full: return "the buffer is full";
        case errc::invalid_identifier: return "unknown or invalid table or column name";
        case errc::type_mismatch: return "column value has another type than requested";
        case errc::null_value: return "NULL read into a type that cannot hold it";
        case errc::column_out_of_range: return "the statement has fewer columns than requested";
        case errc::parameter_count: return "wrong number of parameters for the statement";
        case errc::multiple_statements: return "more than one statement where one is expected";
        case errc::job_exception: return "the job threw an exception";
        case errc::wal_unavailable: return "WAL journal mode could not be enabled";
        case errc::migration_failed: return "a schema migration step failed";
        case errc::not_read_only: return "a statement that writes was sent to a read-only connection";
        case errc::invalid_key: return "a key column value is missing or NULL";
        case errc::path_refused: return "this file may not be used for this purpose";
        }
        return "unknown sqlite_hybrid error";
    }
};

bool sqlite_code_matches(int code, condition c) noexcept {
    const int primary = code & 0xff;
    switch (c) {
    case condition::lock_error: return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
    case condition::busy: return primary == SQLITE_BUSY;
    case condition::locked: return primary == SQLITE_LOCKED;
    case condition::constraint: return primary == SQLITE_CONSTRAINT;
    case condition::unique_violation: return code == SQLITE_CONSTRAINT_UNIQUE;
    case condition::primary_key_violation: return code == SQLITE_CONSTRAINT_PRIMARYKEY;
    case condition::foreign_key_violation: return code == SQLITE_CONSTRAINT_FOREIGNKEY;
    case condition::not_null_violation: return code == SQLITE_CONSTRAINT_NOTNULL;
    case condition::check_violation: return code == SQLITE_CONSTRAINT_CHECK;
    case condition::io_error: return primary == SQLITE_IOERR;
    case condition::disk_full: return primary == SQLITE_FULL;
    case condition::corrupt: return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
    case condition::read_only: return primary == SQLITE_READONLY;
    case condition::cannot_open: return primary == SQLITE_CANTOPEN;
    case condition::interrupted: return primary == SQLITE_INTERRUPT;
    case condition::syntax_error: return code == SQLITE_ERROR;
    case condition::misuse: return primary == SQLITE_MISUSE || primary == SQLITE_RANGE;
    }
    return false;
}

bool library_code_matches(errc e, condition c) noexcept {
    switch (c) {
    case condition::lock_error:
    case condition::busy: return e == errc::database_busy;
    case condition::read_only: return e == errc::not_read_only;
    case condition::misuse:
        return e == errc::parameter_count || e == errc::column_out_of_range ||
               e == errc::multiple_statements;
    default: return false;
    }
}

class condition_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "sqlite_hybrid.condition"; }
    std::string message(int c) const override {
        switch (static_cast<condition>(c)) {
        case condition::lock_error: return "lock error (busy or locked)";
        case condition::busy: return "database is busy";
        case condition::locked: return "table is locked";
        case condition::constraint: return "constraint violation";
        case condition::unique_violation: return "unique constraint violation";
        case condition::primary_key_violation: return "primary key violation";
        case condition::foreign_key_violation: return "foreign key violation";
        case condition::not_null_violation: return "not null violation";
        case condition::check_violation: return "check constraint violation";
        case condition::io_error: return "I/O error";
        case condition::disk_full: return "disk full";
        case condition::corrupt: return "database corrupt or not a database";
        case condition::read_only: return "read-only";
        case condition::cannot_open: return "cannot open";
        case condition::interrupted: return "interrupted";
        case condition::syntax_error: return "SQL error";
        case condition::misuse: return "misuse";
        }
        return "unknown condition";
    }
    bool equivalent(const boost::system::error_code& ec, int c) const noexcept override {
        if (ec.category() == sqlite_category())
            return sqlite_code_matches(ec.value(), static_cast<condition>(c));
        if (ec.category() == library_category())
            return library_code_matches(static_cast<errc>(ec.value()), static_cast<condition>(c));
        return false;
    }
};

} // namespace

const boost::system::error_category& sqlite_category() noexcept {
    static const sqlite_category_impl instance;
    return instance;
}
const boost::system::error_category& library_category() noexcept {
    static const library_category_impl instance;
    return instance;
}
const boost::system::error_category& condition_category() noexcept {
    static const condition_category_impl instance;
    return instance;
}

error_code make_sqlite_error(int code) noexcept {
    if (code == SQLITE_OK || code == SQLITE_ROW || code == SQLITE_DONE)
        return {};
    return {code, sqlite_category()};
}
error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), library_category()}; }
error_condition make_error_condition(condition c) noexcept {
    return {static_cast<int>(c), condition_category()};
}

int primary_sqlite_code(const error_code& ec) noexcept {
    return ec.category() == sqlite_category() ? (ec.value() & 0xff) : 0;
}

bool is_lock_error(const error_code& ec) noexcept {
    return ec.category() == sqlite_category() &&
           sqlite_code_matches(ec.value(), condition::lock_error);
}

namespace detail {

error_code error_from_current_exception(diagnostics& diag) noexcept {
    try {
        throw;
    } catch (const boost::system::system_error& e) {
        return e.code(); // the connection's diagnostics say more than what() would
    } catch (const std::exception& e) {
        diag.message = e.what();
        return make_error_code(errc::job_exception);
    } catch (...) {
        diag.message = "unknown exception";
        return make_error_code(errc::job_exception);
    }
}

} // namespace detail
} // namespace sqlite_hybrid
