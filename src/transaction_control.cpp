// SPDX-License-Identifier: BSL-1.0
#include "transaction_control.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace sqlite_hybrid::detail {

namespace {

constexpr std::array<const char*, 7> statement_sql = {
    "BEGIN IMMEDIATE", "BEGIN", "COMMIT", "ROLLBACK",
    "SAVEPOINT sqlite_hybrid_job", "RELEASE sqlite_hybrid_job",
    "ROLLBACK TO sqlite_hybrid_job",
};

// PRAGMAs whose value belongs to one connection (or, for journal_mode and locking_mode, needs a
// maintenance job): set through a routed statement they would reach one connection of several.
constexpr std::string_view per_connection_pragmas[] = {
    "analysis_limit", "automatic_index", "busy_timeout", "cache_size", "cache_spill",
    "case_sensitive_like", "cell_size_check", "checkpoint_fullfsync", "count_changes",
    "defer_foreign_keys", "empty_result_callbacks", "foreign_keys", "full_column_names",
    "fullfsync", "hard_heap_limit", "ignore_check_constraints", "journal_mode",
    "journal_size_limit", "legacy_alter_table", "locking_mode", "mmap_size", "query_only",
    "read_uncommitted", "recursive_triggers", "reverse_unordered_selects", "secure_delete",
    "short_column_names", "soft_heap_limit", "synchronous", "temp_store",
    "temp_store_directory", "threads", "trusted_schema", "wal_autocheckpoint",
    "writable_schema",
};

bool sets_connection_value(const char* name, const char* value) {
    if (!name || !value)
        return false; // reading a value, or a pragma of a table (table_info(t) has an argument)
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return std::find(std::begin(per_connection_pragmas), std::end(per_connection_pragmas),
                     lower) != std::end(per_connection_pragmas);
}

} // namespace

transaction_control::transaction_control(connection& conn) : conn_(conn) {
    sqlite3_set_authorizer(conn.native_handle(), &authorize, this);
    sqlite3_commit_hook(conn.native_handle(), &on_commit, this);
}

transaction_control::~transaction_control() {
    for (auto* s : statements_)
        sqlite3_finalize(s);
    sqlite3_set_authorizer(conn_.native_handle(), nullptr, nullptr);
    sqlite3_commit_hook(conn_.native_handle(), nullptr, nullptr);
}

error_code transaction_control::run(transaction_statement which) {
    sqlite3* db = conn_.native_handle();
    auto& stmt = statements_[static_cast<std::size_t>(which)];
    const char* sql = statement_sql[static_cast<std::size_t>(which)];
    scope own(*this, mode::library);
    int rc = SQLITE_OK;
    if (!stmt)
        rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);
        if (rc == SQLITE_DONE)
            return {};
    }
    auto& diag = conn_.last_diagnostics();
    diag.message = sqlite3_errmsg(db);
    diag.error_offset = -1;
    diag.sql = sql;
    const int code = sqlite3_extended_errcode(db);
    return make_sqlite_error(code != SQLITE_OK ? code : rc);
}

std::string transaction_control::take_refusal() { return std::exchange(refusal_, {}); }

int transaction_control::authorize(void* self, int action, const char* arg1, const char* arg2,
                                   const char*, const char*) {
    auto& c = *static_cast<transaction_control*>(self);
    if (c.mode_ != mode::job && c.mode_ != mode::write_job)
        return SQLITE_OK;
    switch (action) {
    case SQLITE_SAVEPOINT:
        // Nested in the job's own savepoint, the job's savepoints cannot end the group's
        // transaction; the library's own name stays the library's.
        if (c.mode_ == mode::write_job && !std::string_view(arg2 ? arg2 : "").starts_with("sqlite_hybrid"))
            return SQLITE_OK;
        [[fallthrough]];
    case SQLITE_TRANSACTION:
        c.refusal_ = std::string("transaction control (") + (arg1 ? arg1 : "") +
                     (action == SQLITE_SAVEPOINT ? " SAVEPOINT" : "") +
                     ") belongs to the library: a write job already runs inside a transaction "
                     "(async_write), a read job inside a snapshot (async_read)";
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        if (!sets_connection_value(arg1, arg2))
            return SQLITE_OK;
        c.refusal_ = std::string("PRAGMA ") + arg1 +
                     " sets a value of one connection of several: set it for every connection "
                     "through database_options (connection options or on_connect)";
        return SQLITE_DENY;
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        c.refusal_ = "ATTACH and DETACH change one connection of several: attach on every "
                     "connection through database_options::on_connect";
        return SQLITE_DENY;
    default: return SQLITE_OK;
    }
}

int transaction_control::on_commit(void* self) {
    auto& c = *static_cast<transaction_control*>(self);
    if (c.mode_ != mode::job && c.mode_ != mode::write_job)
        return 0;
    c.refusal_ = "a statement would have committed on its own: the job's transaction was rolled "
                 "back under it (OR ROLLBACK, RAISE(ROLLBACK)) and the job went on writing";
    return 1; // the commit becomes a rollback
}

} // namespace sqlite_hybrid::detail
