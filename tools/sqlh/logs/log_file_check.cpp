// SPDX-License-Identifier: BSL-1.0
#include "logs/log_file_check.hpp"

#include "parse_options.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <set>
#include <string_view>

namespace sqlh::logs {
namespace {

namespace fs = std::filesystem;

struct close_db {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

log_file_problem usage(const std::string& path, std::string_view what) {
    return {exit_usage, "'" + path + "' " + std::string(what)};
}

// The names of `table`'s columns (none when there is no such table); SQLITE_DONE when read.
int table_columns(sqlite3* db, const char* table, std::set<std::string, std::less<>>& columns) {
    sqlite3_stmt* raw_stmt = nullptr;
    int result =
        sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?)", -1, &raw_stmt, nullptr);
    std::unique_ptr<sqlite3_stmt, finalize> stmt(raw_stmt);
    if (result == SQLITE_OK)
        result = sqlite3_bind_text(stmt.get(), 1, table, -1, SQLITE_STATIC);
    columns.clear();
    while (result == SQLITE_OK || result == SQLITE_ROW) {
        result = sqlite3_step(stmt.get());
        if (result == SQLITE_ROW)
            columns.emplace(reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0)));
    }
    return result;
}

} // namespace

log_file_problem check_log_file(const std::string& path) {
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (status.type() == fs::file_type::not_found)
        return usage(path, "does not exist");
    if (ec)
        return {1, "cannot look at '" + path + "': " + ec.message()};
    if (status.type() == fs::file_type::directory)
        return usage(path, "is a directory, not a log database");
    if (status.type() != fs::file_type::regular)
        return usage(path, "is not a regular file");

    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
    std::unique_ptr<sqlite3, close_db> db(raw);
    if (rc != SQLITE_OK)
        return {1, "cannot open '" + path + "': " + sqlite3_errstr(rc)};
    sqlite3_busy_timeout(db.get(), 2000); // a writer may be checkpointing

    // The batch layout, or the first layout (one `logs` row per entry) of a file that no log
    // database has converted yet: both are read.
    std::set<std::string, std::less<>> columns;
    int result = table_columns(db.get(), "log_batches", columns);
    const bool batches = result == SQLITE_DONE && !columns.empty();
    if (result == SQLITE_DONE && !batches)
        result = table_columns(db.get(), "logs", columns);
    if (result == SQLITE_NOTADB)
        return usage(path, "is not a SQLite database, so not a log database");
    if (result != SQLITE_DONE)
        return {1, "cannot read '" + path + "': " + sqlite3_errmsg(db.get())};
    const auto has_all = [&](std::initializer_list<const char*> names) {
        return std::all_of(names.begin(), names.end(), [&](const char* name) {
            return columns.contains(std::string_view(name));
        });
    };
    if (batches ? !has_all({"id", "first_ts", "last_ts", "levels", "count", "entries"})
                : !has_all({"id", "ts", "level", "logger", "message", "extra", "thread", "source"}))
        return usage(path, "is not a log database (it has no log_batches table, nor a logs "
                           "table, with the columns a log database writes)");
    return {};
}

} // namespace sqlh::logs
