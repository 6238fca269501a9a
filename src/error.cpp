// SPDX-License-Identifier: BSL-1.0
#include <sqlite_hybrid/detail/job.hpp>
#include <sqlite_hybrid/error.hpp>
#include <sqlite_hybrid/with_diagnostics.hpp>

#include <sqlite3.h>

#include <algorithm>
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
        case errc::statement_refused: return "the library refuses this statement here";
        case errc::value_out_of_range: return "the value does not fit the type";
        case errc::rows_dead_lettered:
            return "some rows could never be written and became dead letters";
        case errc::foreign_key_cycle:
            return "the table is on a cycle of foreign keys: buffered writes cannot be ordered";
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
    case condition::unique_violation:
        return code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY;
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
    case condition::connection_lost: return false;
    }
    return false;
}

// SQLSTATEs are five characters of [0-9A-Z]: read as a base-36 number they fit an int.
constexpr int sqlstate_base = 36;

int encode_sqlstate(std::string_view s) noexcept {
    if (s.size() != 5)
        return 0;
    int v = 0;
    for (char c : s) {
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'Z' ? c - 'A' + 10 : -1;
        if (d < 0)
            return 0;
        v = v * sqlstate_base + d;
    }
    return v;
}

std::string decode_sqlstate(int v) {
    std::string s(5, '0');
    for (int i = 4; i >= 0; --i, v /= sqlstate_base) {
        const int d = v % sqlstate_base;
        s[static_cast<std::size_t>(i)] = static_cast<char>(d < 10 ? '0' + d : 'A' + d - 10);
    }
    return s;
}

std::string_view sqlstate_name(std::string_view s) noexcept {
    struct known {
        std::string_view state, name;
    };
    static constexpr known names[] = {
        {"23505", "unique_violation"},        {"23503", "foreign_key_violation"},
        {"23502", "not_null_violation"},      {"23514", "check_violation"},
        {"40001", "serialization_failure"},   {"40P01", "deadlock_detected"},
        {"55P03", "lock_not_available"},      {"42601", "syntax_error"},
        {"42P01", "undefined_table"},         {"42703", "undefined_column"},
        {"25006", "read_only_sql_transaction"}, {"25P02", "in_failed_sql_transaction"},
        {"57014", "query_canceled"},          {"57P01", "admin_shutdown"},
        {"08001", "sqlclient_unable_to_establish_sqlconnection"},
        {"08006", "connection_failure"},      {"28P01", "invalid_password"},
        {"3D000", "invalid_catalog_name"},    {"53100", "disk_full"},
        {"42P07", "duplicate_table"},         {"22P02", "invalid_text_representation"},
    };
    for (const auto& k : names)
        if (k.state == s)
            return k.name;
    return {};
}

bool postgres_code_matches(const std::string& s, condition c) noexcept {
    const std::string_view cls = std::string_view(s).substr(0, 2);
    switch (c) {
    case condition::lock_error: return s == "40001" || s == "40P01" || s == "55P03";
    case condition::busy: return s == "55P03";
    case condition::constraint: return cls == "23";
    case condition::unique_violation: return s == "23505";
    case condition::foreign_key_violation: return s == "23503";
    case condition::not_null_violation: return s == "23502";
    case condition::check_violation: return s == "23514";
    case condition::io_error: return cls == "58";
    case condition::disk_full: return s == "53100";
    case condition::corrupt: return s == "XX001" || s == "XX002";
    case condition::read_only: return s == "25006";
    case condition::cannot_open: return s == "08001" || cls == "28" || s == "3D000";
    case condition::interrupted: return s == "57014";
    case condition::syntax_error: return cls == "42";
    case condition::misuse: return s == "08P01" || s == "42P02";
    case condition::connection_lost:
        return (cls == "08" && s != "08001" && s != "08P01") || s == "57P01" || s == "57P02" ||
               s == "57P03";
    default: return false;
    }
}

class postgres_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "postgresql"; }
    std::string message(int code) const override {
        const std::string state = decode_sqlstate(code);
        std::string text = "SQLSTATE " + state;
        if (auto n = sqlstate_name(state); !n.empty())
            text += " (" + std::string(n) + ")";
        return text;
    }
};

bool library_code_matches(errc e, condition c) noexcept {
    switch (c) {
    case condition::lock_error:
    case condition::busy: return e == errc::database_busy;
    case condition::read_only: return e == errc::not_read_only;
    case condition::misuse:
        return e == errc::parameter_count || e == errc::column_out_of_range ||
               e == errc::multiple_statements || e == errc::statement_refused;
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
        case condition::connection_lost: return "connection to the server lost";
        }
        return "unknown condition";
    }
    bool equivalent(const boost::system::error_code& ec, int c) const noexcept override {
        if (ec.category() == sqlite_category())
            return sqlite_code_matches(ec.value(), static_cast<condition>(c));
        if (ec.category() == postgres_category())
            return postgres_code_matches(decode_sqlstate(ec.value()), static_cast<condition>(c));
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
const boost::system::error_category& postgres_category() noexcept {
    static const postgres_category_impl instance;
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
error_code make_postgres_error(std::string_view sqlstate) noexcept {
    if (sqlstate == "00000")
        return {};
    const int v = encode_sqlstate(sqlstate);
    return {v != 0 ? v : encode_sqlstate("XX000"), postgres_category()}; // XX000: internal_error
}
std::string postgres_sqlstate(const error_code& ec) {
    return ec.category() == postgres_category() ? decode_sqlstate(ec.value()) : std::string();
}
error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), library_category()}; }
error_condition make_error_condition(condition c) noexcept {
    return {static_cast<int>(c), condition_category()};
}

int primary_sqlite_code(const error_code& ec) noexcept {
    return ec.category() == sqlite_category() ? (ec.value() & 0xff) : 0;
}

bool is_lock_error(const error_code& ec) noexcept {
    if (ec.category() == postgres_category())
        return postgres_code_matches(decode_sqlstate(ec.value()), condition::lock_error);
    return ec.category() == sqlite_category() &&
           sqlite_code_matches(ec.value(), condition::lock_error);
}

boost::system::system_error error_with_diagnostics::with_text(error_code ec, const diagnostics& d) {
    std::string text = d.message == ec.message() ? std::string() : d.message;
    if (!d.sql.empty()) {
        constexpr std::size_t shown = 80; // the start says which statement; the offset, where
        std::size_t cut = std::min(d.sql.size(), shown);
        while (cut < d.sql.size() && cut > 0 && (static_cast<unsigned char>(d.sql[cut]) & 0xC0) == 0x80)
            --cut; // not inside a UTF-8 sequence
        text += text.empty() ? "(" : " (";
        if (d.error_offset >= 0)
            text += "at offset " + std::to_string(d.error_offset) + " ";
        text += "in '" + d.sql.substr(0, cut) + (cut < d.sql.size() ? "...')" : "')");
    }
    return text.empty() ? system_error(ec) : system_error(ec, text);
}

namespace detail {

error_code error_from_current_exception(diagnostics& diag) noexcept {
    try {
        throw;
    } catch (const error_with_diagnostics& e) { // rethrown by the job: it knows more
        try {
            diag = e.get_diagnostics();
        } catch (...) { // out of memory: the code alone
        }
        return e.code();
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
