// SPDX-License-Identifier: BSL-1.0
#include "log_schema.hpp"

#include "log_batch_codec.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <span>
#include <tuple>
#include <utility>

namespace sqlite_hybrid::detail {
namespace {

error_code fail(connection& conn, int rc) {
    conn.last_diagnostics().message = sqlite3_errmsg(conn.native_handle());
    return make_sqlite_error(rc);
}

// Text and BLOBs bound without a copy: they outlive the statement's use of them, and the
// bindings are cleared before the statement goes back to the cache.
result<void> run_bound(connection& conn, statement& stmt) {
    sqlite3_stmt* s = stmt.native_handle();
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE)
        return fail(conn, rc);
    return outcome::success();
}

result<void> insert_loggers(connection& conn, std::int64_t batch,
                            const std::vector<std::string_view>& loggers) {
    BOOST_OUTCOME_TRY(auto stmt,
                      conn.prepare("INSERT INTO log_batch_loggers(batch, logger) VALUES(?, ?)"));
    sqlite3_stmt* s = stmt.native_handle();
    for (auto name : loggers) {
        sqlite3_bind_int64(s, 1, batch);
        sqlite3_bind_text(s, 2, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
        BOOST_OUTCOME_TRY(run_bound(conn, stmt));
    }
    return outcome::success();
}

// Writes a batch's row and its loggers: a new batch (`batch` 0), or `batch` again.
result<void> write_batch_row(connection& conn, std::int64_t batch, const std::string& blob,
                             const log_batch_summary& summary) {
    BOOST_OUTCOME_TRY(auto stmt,
                      conn.prepare("INSERT OR REPLACE INTO log_batches(id, first_ts, last_ts, "
                                   "levels, count, entries) VALUES(?, ?, ?, ?, ?, ?)"));
    sqlite3_stmt* s = stmt.native_handle();
    if (batch > 0)
        sqlite3_bind_int64(s, 1, batch);
    sqlite3_bind_int64(s, 2, summary.first_ts);
    sqlite3_bind_int64(s, 3, summary.last_ts);
    sqlite3_bind_int(s, 4, summary.levels);
    sqlite3_bind_int64(s, 5, static_cast<sqlite3_int64>(summary.count));
    sqlite3_bind_blob64(s, 6, blob.data(), blob.size(), SQLITE_STATIC);
    BOOST_OUTCOME_TRY(run_bound(conn, stmt));
    if (batch > 0) {
        BOOST_OUTCOME_TRY(conn.execute("DELETE FROM log_batch_loggers WHERE batch = ?", batch));
    } else {
        batch = conn.last_insert_rowid();
    }
    return insert_loggers(conn, batch, summary.loggers);
}

// A new row of log_batches for entries that fit in one (at most max_log_batch_entries).
result<void> insert_batch(connection& conn, std::span<const log_entry> entries) {
    // Reused by the writer's thread: a steady flow allocates no BLOB buffers.
    thread_local std::string blob;
    log_batch_summary summary;
    encode_log_batch(entries, blob, summary);
    return write_batch_row(conn, 0, blob, summary);
}

// The first layout's `logs` table (one row per entry), when the file still has it: its rows
// become batches of the same entries, in the order of their ids, and the table goes. One
// transaction: a file is converted entirely or not at all.
result<void> convert_row_layout(connection& conn) {
    BOOST_OUTCOME_TRY(auto tables,
                      conn.query_one<std::int64_t>("SELECT count(*) FROM sqlite_master WHERE "
                                                   "type = 'table' AND name = 'logs'"));
    if (tables.value_or(0) == 0)
        return outcome::success();
    BOOST_OUTCOME_TRY(conn.execute_script("BEGIN IMMEDIATE"));
    auto converted = [&]() -> result<void> {
        {
            BOOST_OUTCOME_TRY(auto rows, conn.prepare(std::string(row_layout_columns) +
                                                      " FROM logs ORDER BY id"));
            constexpr std::size_t per_batch = 4096;
            std::vector<log_entry> batch;
            for (;;) {
                BOOST_OUTCOME_TRY(bool has_row, rows.step());
                if (has_row)
                    batch.push_back(read_row_layout_entry(rows.native_handle()));
                if (batch.size() == per_batch || (!has_row && !batch.empty())) {
                    BOOST_OUTCOME_TRY(insert_batch(conn, std::span<const log_entry>(batch)));
                    batch.clear();
                }
                if (!has_row)
                    break;
            }
        }
        conn.clear_statement_cache(); // none may still read the table being dropped
        return conn.execute_script("DROP VIEW IF EXISTS logs_text; DROP TABLE logs");
    }();
    if (!converted) {
        (void)conn.execute_script("ROLLBACK");
        return converted;
    }
    return conn.execute_script("COMMIT");
}

} // namespace

log_entry read_row_layout_entry(sqlite3_stmt* s) {
    const auto text = [s](int col) {
        const auto* chars = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
        return chars ? std::string(chars, static_cast<std::size_t>(sqlite3_column_bytes(s, col)))
                     : std::string();
    };
    log_entry e;
    e.id = sqlite3_column_int64(s, 0);
    e.time = log_time(std::chrono::microseconds(sqlite3_column_int64(s, 1)));
    e.level = static_cast<log_level>(std::clamp(sqlite3_column_int(s, 2), 0, 5));
    e.logger = text(3);
    e.message = text(4);
    e.extra = text(5);
    e.thread = static_cast<std::uint64_t>(sqlite3_column_int64(s, 6));
    e.source = text(7);
    return e;
}

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
        // One row per batch instead of one per entry (see docs/log_database.md). The rows of
        // the `logs` table are converted by prepare_log_file, which can encode them.
        R"sql(
CREATE TABLE log_batches(
    id INTEGER PRIMARY KEY,   -- an entry's id is id * 65536 + its number in the batch
    first_ts INTEGER NOT NULL, -- the entries' smallest time: UTC, microseconds since the epoch
    last_ts INTEGER NOT NULL,  -- and their largest
    levels INTEGER NOT NULL,   -- bit L set: an entry of level L (0 trace ... 5 critical)
    count INTEGER NOT NULL,    -- entries in the batch
    entries BLOB NOT NULL      -- the entries, encoded (src/log_database/log_batch_codec.hpp)
);
CREATE INDEX log_batches_first_ts ON log_batches(first_ts);
CREATE INDEX log_batches_last_ts ON log_batches(last_ts);
CREATE TABLE log_batch_loggers(
    batch INTEGER NOT NULL,   -- log_batches.id
    logger TEXT NOT NULL,     -- a logger with entries in that batch
    PRIMARY KEY(batch, logger)
) WITHOUT ROWID;
DROP VIEW IF EXISTS logs_text;
-- For people reading the file with the sqlite3 shell: the batches, not their entries.
CREATE VIEW log_batches_text AS
SELECT id,
       strftime('%Y-%m-%dT%H:%M:%f', first_ts / 1000000.0, 'unixepoch') || 'Z' AS first_time,
       strftime('%Y-%m-%dT%H:%M:%f', last_ts / 1000000.0, 'unixepoch') || 'Z' AS last_time,
       count,
       trim(CASE WHEN levels & 1 THEN 'trace ' ELSE '' END ||
            CASE WHEN levels & 2 THEN 'debug ' ELSE '' END ||
            CASE WHEN levels & 4 THEN 'info ' ELSE '' END ||
            CASE WHEN levels & 8 THEN 'warning ' ELSE '' END ||
            CASE WHEN levels & 16 THEN 'error ' ELSE '' END ||
            CASE WHEN levels & 32 THEN 'critical' ELSE '' END) AS levels,
       (SELECT group_concat(logger, ' ') FROM log_batch_loggers WHERE batch = log_batches.id)
           AS loggers,
       length(entries) AS bytes
FROM log_batches;
)sql",
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
    BOOST_OUTCOME_TRY(convert_row_layout(conn));
    BOOST_OUTCOME_TRY(conn.execute_script(
        options.index_by_logger ? "CREATE INDEX IF NOT EXISTS log_batch_loggers_logger ON "
                                  "log_batch_loggers(logger, batch)"
                                : "DROP INDEX IF EXISTS log_batch_loggers_logger"));
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

result<void> insert_log_entries(connection& conn, const std::vector<log_entry>& entries,
                                std::size_t per_row) {
    per_row = std::clamp<std::size_t>(per_row, 1, max_log_batch_entries);
    for (std::size_t i = 0; i < entries.size(); i += per_row) {
        const auto n = std::min(per_row, entries.size() - i);
        BOOST_OUTCOME_TRY(insert_batch(conn, std::span<const log_entry>(entries.data() + i, n)));
    }
    return outcome::success();
}

namespace {

result<void> delete_batch(connection& conn, std::int64_t batch) {
    BOOST_OUTCOME_TRY(conn.execute("DELETE FROM log_batches WHERE id = ?", batch));
    BOOST_OUTCOME_TRY(conn.execute("DELETE FROM log_batch_loggers WHERE batch = ?", batch));
    return outcome::success();
}

// A batch that holds entries on both sides of `cutoff` (an entry logged with an old time, or a
// batch that straddles the cutoff): written again without the older entries, which keep their
// ids. Returns how many were removed.
result<std::int64_t> trim_batch(connection& conn, std::int64_t batch, std::string_view blob,
                                log_time cutoff) {
    const auto limit = cutoff.time_since_epoch().count();
    log_batch_reader reader(blob);
    std::vector<log_entry_view> kept;
    std::int64_t removed = 0;
    for (log_entry_view e; reader.next(e);) {
        if (e.ts < limit)
            ++removed;
        else
            kept.push_back(e);
    }
    if (kept.empty() || !reader.ok()) {
        BOOST_OUTCOME_TRY(delete_batch(conn, batch));
        return static_cast<std::int64_t>(reader.count());
    }
    std::string rewritten;
    log_batch_summary summary;
    encode_log_batch(std::span<const log_entry_view>(kept), rewritten, summary);
    BOOST_OUTCOME_TRY(write_batch_row(conn, batch, rewritten, summary));
    return removed;
}

} // namespace

result<log_retention_chunk> delete_log_entries_before(connection& conn, log_time cutoff,
                                                      std::size_t chunk) {
    const auto limit = cutoff.time_since_epoch().count();
    // Whole batches first: all their entries are older. As many as hold about `chunk` entries
    // (at least one).
    BOOST_OUTCOME_TRY(auto old,
                      conn.query<std::tuple<std::int64_t, std::int64_t>>(
                          "SELECT id, count FROM log_batches WHERE last_ts < ? "
                          "ORDER BY last_ts LIMIT ?",
                          limit, static_cast<std::int64_t>(std::max<std::size_t>(chunk, 1))));
    log_retention_chunk done;
    for (const auto& [batch, count] : old) {
        if (done.deleted > 0 && done.deleted + count > static_cast<std::int64_t>(chunk))
            break;
        BOOST_OUTCOME_TRY(delete_batch(conn, batch));
        done.deleted += count;
    }
    if (!old.empty())
        return done;
    // Then one batch at a time of those that also hold newer entries.
    BOOST_OUTCOME_TRY(auto stmt, conn.prepare("SELECT id, entries FROM log_batches "
                                              "WHERE first_ts < ? AND last_ts >= ? LIMIT 1"));
    BOOST_OUTCOME_TRY(stmt.bind_values(limit, limit));
    BOOST_OUTCOME_TRY(bool found, stmt.step());
    if (!found) {
        done.finished = true;
        return done;
    }
    sqlite3_stmt* s = stmt.native_handle();
    const std::int64_t batch = sqlite3_column_int64(s, 0);
    const std::string blob(static_cast<const char*>(sqlite3_column_blob(s, 1)),
                           static_cast<std::size_t>(sqlite3_column_bytes(s, 1)));
    stmt.reset();
    BOOST_OUTCOME_TRY(done.deleted, trim_batch(conn, batch, blob, cutoff));
    return done;
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
