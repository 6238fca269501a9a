// SPDX-License-Identifier: BSL-1.0
// Settings of a log database: buffering, flushing, retention, limits, and the underlying
// database's own options.
#pragma once

#include <sqlite_hybrid/options.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace sqlite_hybrid {

// The underlying database's settings for a log file: one reader, an 8 MB cache, secure_delete
// off (deleted logs need not be zeroed), writes wait at most 1 s for another process's lock and
// an open attempt at most 2 s.
database_options default_log_database_settings();

struct log_database_options {
    // Entries older than this many days are deleted; 0 keeps everything.
    int retention_days = 7;
    // How often retention runs (and once soon after opening), and about how many entries each
    // of its transactions deletes: whole batches, at least one per transaction.
    std::chrono::milliseconds retention_interval{std::chrono::minutes(10)};
    std::size_t retention_chunk = 500;

    // The flusher writes what is buffered every flush_interval, or as soon as batch_size
    // entries are waiting. Each batch of at most batch_size entries (at most 65536) is one row
    // of the file; one transaction writes up to 8 batches, when that many are waiting.
    std::chrono::milliseconds flush_interval{200};
    std::size_t batch_size = 4096;
    // Entries held in memory at most; beyond, the lowest levels are dropped (and counted).
    std::size_t max_buffered = 100'000;
    // After a failed write or open, the next attempt waits this long (an explicit flush or a
    // stop tries at once).
    std::chrono::milliseconds retry_interval{std::chrono::seconds(1)};

    // A cap on the file's size (PRAGMA max_page_count; the WAL is extra); 0: none. Beyond it,
    // writes fail like on a full disk until retention frees room.
    std::int64_t max_file_bytes = 0;

    // An index on the loggers of each batch for queries by logger. Without it, such a query
    // reads the whole (small) table of batches' loggers first; a batch costs the index one
    // row per logger in it, so inserts hardly notice either way. Applied when the file is
    // opened: created, or dropped, there.
    bool index_by_logger = true;

    // The application's main database: refused as the log file, and so are its -wal, -shm
    // and -journal files.
    std::string main_database_path;
    // ":memory:" and "" (a private temporary file) are refused unless this is set (for tests).
    bool allow_memory = false;

    // Where failures and recoveries are reported, once per episode; empty: a line on stderr.
    std::function<void(std::string_view)> report;

    // The underlying database (connection pragmas, lock_timeout, and `log`, the hook its own
    // messages go to). Its migrations are replaced by the log schema's. All the file work runs
    // on `pool`; when it is null, on a pool of the log database's own (`pool_threads` threads,
    // 2 when 0).
    database_options database_settings = default_log_database_settings();
};

} // namespace sqlite_hybrid
