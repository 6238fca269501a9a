#include "logs/log_file_check.hpp"

#include "parse_options.hpp"

#include <sqlite3.h>

#include <filesystem>
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

    sqlite3_stmt* raw_stmt = nullptr;
    int result = sqlite3_prepare_v2(db.get(), "SELECT name FROM pragma_table_info('logs')", -1,
                                    &raw_stmt, nullptr);
    std::unique_ptr<sqlite3_stmt, finalize> stmt(raw_stmt);
    std::set<std::string, std::less<>> columns;
    while (result == SQLITE_OK || result == SQLITE_ROW) {
        result = sqlite3_step(stmt.get());
        if (result == SQLITE_ROW)
            columns.emplace(reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0)));
    }
    if (result == SQLITE_NOTADB)
        return usage(path, "is not a SQLite database, so not a log database");
    if (result != SQLITE_DONE)
        return {1, "cannot read '" + path + "': " + sqlite3_errmsg(db.get())};
    for (const char* column :
         {"id", "ts", "level", "logger", "message", "extra", "thread", "source"})
        if (!columns.contains(std::string_view(column)))
            return usage(path, "is not a log database (it has no logs table with the columns "
                               "a log database writes)");
    return {};
}

} // namespace sqlh::logs
