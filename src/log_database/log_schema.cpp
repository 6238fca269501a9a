#include "log_schema.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <tuple>
#include <utility>

namespace sqlite_hybrid::detail {
namespace {

// Rows per INSERT statement: one statement for many rows costs far less per row than a
// statement per row (1.8x the rows per second at 64 rows on the development machine, 1.1x more
// at 256), as far as the connection's limit on parameters allows.
constexpr std::size_t max_rows_per_statement = 256;
constexpr int columns = 7;

std::size_t rows_per_statement(connection& conn) {
    const int limit = sqlite3_limit(conn.native_handle(), SQLITE_LIMIT_VARIABLE_NUMBER, -1);
    return std::clamp<std::size_t>(static_cast<std::size_t>(std::max(limit, columns)) / columns, 1,
                                   max_rows_per_statement);
}

std::string insert_sql(std::size_t rows) {
    std::string sql = "INSERT INTO logs(ts, level, logger, message, extra, thread, source) VALUES";
    for (std::size_t r = 0; r < rows; ++r)
        sql += r == 0 ? "(?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?)";
    return sql;
}

// Text bound without a copy: the entries outlive the statement's use of them.
int bind_text(sqlite3_stmt* stmt, int index, const std::string& text, bool empty_is_null) {
    if (empty_is_null && text.empty())
        return sqlite3_bind_null(stmt, index);
    return sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()),
                             SQLITE_STATIC);
}

int bind_entry(sqlite3_stmt* s, int first, const log_entry& e) {
    int rc = sqlite3_bind_int64(s, first, e.time.time_since_epoch().count());
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(s, first + 1, static_cast<int>(e.level));
    if (rc == SQLITE_OK)
        rc = bind_text(s, first + 2, e.logger, false);
    if (rc == SQLITE_OK)
        rc = bind_text(s, first + 3, e.message, false);
    if (rc == SQLITE_OK)
        rc = bind_text(s, first + 4, e.extra, true);
    if (rc == SQLITE_OK)
        rc = e.thread == 0 ? sqlite3_bind_null(s, first + 5) // unknown
                           : sqlite3_bind_int64(s, first + 5, static_cast<sqlite3_int64>(e.thread));
    if (rc == SQLITE_OK)
        rc = bind_text(s, first + 6, e.source, true);
    return rc;
}

error_code fail(connection& conn, int rc) {
    conn.last_diagnostics().message = sqlite3_errmsg(conn.native_handle());
    return make_sqlite_error(rc);
}

// Inserts entries [first, first + count) with `stmt`, which has `count` rows of parameters.
result<void> insert_rows(connection& conn, statement& stmt, const log_entry* first,
                         std::size_t count) {
    sqlite3_stmt* s = stmt.native_handle();
    int rc = SQLITE_OK;
    for (std::size_t r = 0; r < count && rc == SQLITE_OK; ++r)
        rc = bind_entry(s, static_cast<int>(r) * columns + 1, first[r]);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return fail(conn, rc);
    return outcome::success();
}

} // namespace

const std::vector<std::string>& log_schema_migrations() {
    static const std::vector<std::string> steps{
        R"sql(
CREATE TABLE logs(
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,     -- UTC, microseconds since the Unix epoch
    level INTEGER NOT NULL,  -- 0 trace, 1 debug, 2 info, 3 warning, 4 error, 5 critical
    logger TEXT NOT NULL,
    message TEXT NOT NULL,
    extra TEXT,              -- a JSON object of key/values, NULL when none
    thread INTEGER,          -- the logging thread's OS id
    source TEXT              -- "file:line function", NULL when unknown
);
CREATE INDEX logs_ts ON logs(ts);
CREATE INDEX logs_level_ts ON logs(level, ts);
CREATE INDEX logs_logger_ts ON logs(logger, ts);
-- For people reading the file with the sqlite3 shell.
CREATE VIEW logs_text AS
SELECT id,
       strftime('%Y-%m-%dT%H:%M:%f', ts / 1000000.0, 'unixepoch') || 'Z' AS time,
       CASE level WHEN 0 THEN 'trace' WHEN 1 THEN 'debug' WHEN 2 THEN 'info'
                  WHEN 3 THEN 'warning' WHEN 4 THEN 'error' ELSE 'critical' END AS level,
       logger, message, extra, thread, source
FROM logs;
)sql",
        // The planner never picks (level, ts) for "level >= ? ORDER BY ts" (it walks logs_ts
        // and filters), while every insert paid for it: about a quarter of the insert time.
        "DROP INDEX IF EXISTS logs_level_ts;",
    };
    return steps;
}

void create_log_file(const std::string& path) noexcept {
    // Larger pages than SQLite's 4 KiB: appends to the table and its three indexes split
    // fewer pages (about 1.2x the rows per second here).
    constexpr const char* settings =
        "PRAGMA page_size=16384; PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL";
    sqlite3* db = nullptr;
    const int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 1000);
        sqlite3_stmt* count = nullptr;
        if (sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &count, nullptr) == SQLITE_OK &&
            sqlite3_step(count) == SQLITE_ROW && sqlite3_column_int64(count, 0) == 0) {
            sqlite3_finalize(std::exchange(count, nullptr));
            sqlite3_exec(db, settings, nullptr, nullptr, nullptr);
        }
        sqlite3_finalize(count);
    }
    sqlite3_close_v2(db);
}

result<void> prepare_log_file(connection& conn, const log_database_options& options) {
    BOOST_OUTCOME_TRY(auto vacuum_mode, conn.query_one<std::int64_t>("PRAGMA auto_vacuum"));
    constexpr std::int64_t incremental = 2;
    if (vacuum_mode.value_or(0) != incremental) {
        BOOST_OUTCOME_TRY(conn.execute_script("PRAGMA auto_vacuum=INCREMENTAL; VACUUM;"));
    }
    if (options.max_file_bytes > 0) {
        BOOST_OUTCOME_TRY(auto page_size, conn.query_one<std::int64_t>("PRAGMA page_size"));
        const std::int64_t pages = options.max_file_bytes / page_size.value_or(4096);
        BOOST_OUTCOME_TRY(
            conn.execute_script("PRAGMA max_page_count=" + std::to_string(pages > 1 ? pages : 1)));
    }
    // Nothing to do once the file is as asked; building the index on a large file takes a while,
    // once.
    BOOST_OUTCOME_TRY(conn.execute_script(
        options.index_by_logger ? "CREATE INDEX IF NOT EXISTS logs_logger_ts ON logs(logger, ts)"
                                : "DROP INDEX IF EXISTS logs_logger_ts"));
    return outcome::success();
}

bool log_file_moved(connection& conn) noexcept {
    int moved = 0; // SQLITE_NOTFOUND leaves it 0: an in-memory database never moves
    sqlite3_file_control(conn.native_handle(), "main", SQLITE_FCNTL_HAS_MOVED, &moved);
    return moved != 0;
}

result<bool> empty_wal(connection& conn) {
    BOOST_OUTCOME_TRY(auto outcome,
                      conn.query_one<std::tuple<std::int64_t, std::int64_t, std::int64_t>>(
                          "PRAGMA wal_checkpoint(TRUNCATE)"));
    return !outcome || std::get<0>(*outcome) == 0; // the first column is 1 when it was blocked
}

result<void> insert_log_entries(connection& conn, const std::vector<log_entry>& entries) {
    const std::size_t rows = rows_per_statement(conn);
    static const std::string one = insert_sql(1);
    // No pointers into the entries stay behind in the cached statements.
    auto forget = [](statement& stmt) { sqlite3_clear_bindings(stmt.native_handle()); };
    std::size_t i = 0;
    if (entries.size() >= rows && rows > 1) {
        BOOST_OUTCOME_TRY(auto stmt, conn.prepare(insert_sql(rows)));
        for (; i + rows <= entries.size(); i += rows) {
            if (auto r = insert_rows(conn, stmt, &entries[i], rows); !r) {
                forget(stmt);
                return r;
            }
        }
        forget(stmt);
    }
    if (i < entries.size()) {
        BOOST_OUTCOME_TRY(auto stmt, conn.prepare(one));
        for (; i < entries.size(); ++i) {
            if (auto r = insert_rows(conn, stmt, &entries[i], 1); !r) {
                forget(stmt);
                return r;
            }
        }
        forget(stmt);
    }
    return outcome::success();
}

result<std::int64_t> delete_log_entries_before(connection& conn, log_time cutoff,
                                               std::size_t chunk) {
    BOOST_OUTCOME_TRY(auto r, conn.execute("DELETE FROM logs WHERE id IN "
                                           "(SELECT id FROM logs WHERE ts < ? LIMIT ?)",
                                           cutoff.time_since_epoch().count(),
                                           static_cast<std::int64_t>(chunk)));
    return r.changes;
}

result<vacuum_step> release_free_pages(connection& conn, std::int64_t pages) {
    BOOST_OUTCOME_TRY(auto before, conn.query_one<std::int64_t>("PRAGMA freelist_count"));
    if (before.value_or(0) > 0) {
        BOOST_OUTCOME_TRY(
            conn.execute_script("PRAGMA incremental_vacuum(" + std::to_string(pages) + ")"));
    }
    BOOST_OUTCOME_TRY(auto after, conn.query_one<std::int64_t>("PRAGMA freelist_count"));
    return vacuum_step{before.value_or(0) - after.value_or(0), after.value_or(0)};
}

} // namespace sqlite_hybrid::detail
