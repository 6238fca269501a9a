// The log file's layout and the statements the log database runs on it: migrations under
// PRAGMA user_version, batch inserts, chunked retention deletes and incremental vacuum.
#pragma once

#include <sqlite_hybrid/connection.hpp>
#include <sqlite_hybrid/log_entry.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace sqlite_hybrid::detail {

// Step i takes user_version from i to i + 1; a later layout appends steps.
const std::vector<std::string>& log_schema_migrations();

// Before the database first opens a new file (and switches it to WAL): gives it the page size
// and incremental auto-vacuum, which a file takes only while it has no pages. Leaves existing
// files alone; failures are left to the open that follows.
void create_log_file(const std::string& path) noexcept;

// On the writer with no transaction open, after the migrations: incremental auto-vacuum for a
// file created elsewhere (set with a VACUUM, once) and the size cap (0: none).
result<void> prepare_log_file(connection& conn, std::int64_t max_file_bytes);

// Inserts `entries` in the current transaction, in order.
result<void> insert_log_entries(connection& conn, const std::vector<log_entry>& entries);

// Deletes at most `chunk` entries older than `cutoff`; returns how many it deleted.
result<std::int64_t> delete_log_entries_before(connection& conn, log_time cutoff,
                                               std::size_t chunk);

// Releases at most `pages` free pages to the file system; returns how many it released and how
// many are still free.
struct vacuum_step {
    std::int64_t released = 0;
    std::int64_t still_free = 0;
};
result<vacuum_step> release_free_pages(connection& conn, std::int64_t pages);

} // namespace sqlite_hybrid::detail
