// SPDX-License-Identifier: BSL-1.0
// The log file's layout and the statements the log database runs on it: migrations under
// PRAGMA user_version (and the conversion of the first layout's rows), batch inserts, chunked
// retention deletes and incremental vacuum.
#pragma once

#include <sqlite_hybrid/connection.hpp>
#include <sqlite_hybrid/log_database_options.hpp>
#include <sqlite_hybrid/log_entry.hpp>

#include <cstdint>
#include <string>
#include <vector>

struct sqlite3_stmt;

namespace sqlite_hybrid::detail {

// The first layout's `logs` table (one row per entry, migrations 1 and 2): the columns to
// select, in the order read_row_layout_entry reads them. Files of that layout are converted by
// prepare_log_file, and read as they are until then.
constexpr const char* row_layout_columns =
    "SELECT id, ts, level, logger, message, extra, thread, source";
log_entry read_row_layout_entry(sqlite3_stmt* row);

// Step i takes user_version from i to i + 1; a later layout appends steps.
const std::vector<std::string>& log_schema_migrations();

// Before the database first opens a new file (and switches it to WAL): gives it the page size
// and incremental auto-vacuum, which a file takes only while it has no pages. Leaves existing
// files alone; failures are left to the open that follows.
void create_log_file(const std::string& path) noexcept;

// On the writer with no transaction open, after the migrations: incremental auto-vacuum for a
// file created elsewhere (set with a VACUUM, once), the size cap (0: none) and the logger
// index, as the options ask.
result<void> prepare_log_file(connection& conn, const log_database_options& options);

// Whether the file `conn` has open was deleted or renamed since (a stat of the path).
bool log_file_moved(connection& conn) noexcept;

// Copies the WAL into the database file and empties it, with no transaction open; false when a
// reader kept it from finishing. Before a moved file is closed: SQLite leaves its WAL behind
// then, under the old name, where a new file at that path would take its frames for its own.
result<bool> empty_wal(connection& conn);

// Inserts `entries` in the current transaction, in order: one log_batches row per `per_row`
// entries (at most max_log_batch_entries).
result<void> insert_log_entries(connection& conn, const std::vector<log_entry>& entries,
                                std::size_t per_row);

// One step of retention: deletes whole batches older than `cutoff` holding about `chunk`
// entries (at least one batch), or when there are none, removes the older entries of one batch
// that also holds newer ones. `finished` once nothing older than `cutoff` is left.
struct log_retention_chunk {
    std::int64_t deleted = 0; // entries
    bool finished = false;
};
result<log_retention_chunk> delete_log_entries_before(connection& conn, log_time cutoff,
                                                      std::size_t chunk);

// Releases at most `pages` free pages to the file system; returns how many it released and how
// many are still free.
struct vacuum_step {
    std::int64_t released = 0;
    std::int64_t still_free = 0;
};
result<vacuum_step> release_free_pages(connection& conn, std::int64_t pages);

} // namespace sqlite_hybrid::detail
