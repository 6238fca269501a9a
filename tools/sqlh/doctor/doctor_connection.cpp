// SPDX-License-Identifier: BSL-1.0
#include "doctor/doctor_connection.hpp"

namespace sqlh::doctor {

doctor_connection::doctor_connection(const std::string& path, access mode) {
    // No SQLITE_OPEN_CREATE: a missing file fails here instead of being created.
    const int flags = SQLITE_OPEN_EXRESCODE |
                      (mode == access::read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close(db_);
        db_ = nullptr;
        throw inspection_error("cannot open the file: " + message);
    }
    sqlite3_extended_result_codes(db_, 1);
    // A lock held elsewhere is what the doctor reports, never something to wait for.
    sqlite3_busy_timeout(db_, 0);
}

doctor_connection::~doctor_connection() {
    sqlite3_close(db_);
}

int doctor_connection::exec(const char* sql) noexcept {
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? rc : sqlite3_extended_errcode(db_);
}

int doctor_connection::step_first(const char* sql, statement_ptr& stmt) noexcept {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr) != SQLITE_OK)
        return sqlite3_extended_errcode(db_);
    stmt.reset(raw);
    const int rc = sqlite3_step(raw);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? rc : sqlite3_extended_errcode(db_);
}

int doctor_connection::probe(const char* sql) noexcept {
    statement_ptr stmt;
    const int rc = step_first(sql, stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

std::int64_t doctor_connection::integer(const char* sql) {
    statement_ptr stmt;
    const int rc = step_first(sql, stmt);
    if (rc == SQLITE_ROW)
        return sqlite3_column_int64(stmt.get(), 0);
    if (rc != SQLITE_DONE)
        fail(rc);
    return 0;
}

std::string doctor_connection::text(const char* sql) {
    statement_ptr stmt;
    const int rc = step_first(sql, stmt);
    if (rc == SQLITE_ROW) {
        const auto* t = sqlite3_column_text(stmt.get(), 0);
        return t ? reinterpret_cast<const char*>(t) : "";
    }
    if (rc != SQLITE_DONE)
        fail(rc);
    return "";
}

void doctor_connection::fail(int rc) const {
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        throw inspection_error(
            "the database is locked exclusively right now (" + std::string(sqlite3_errmsg(db_)) +
            "): another connection is committing in rollback-journal mode, ran BEGIN EXCLUSIVE, "
            "uses locking_mode=EXCLUSIVE or is recovering the WAL. Run the doctor again; if it "
            "persists, `fuser FILE` lists the processes that have the file open");
    throw inspection_error(sqlite3_errmsg(db_));
}

} // namespace sqlh::doctor
