// SPDX-License-Identifier: BSL-1.0
// Counters of a log database: what was logged, written, dropped and why, failures, retention.
#pragma once

#include <sqlite_hybrid/error.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

namespace sqlite_hybrid {

struct log_database_metrics {
    std::uint64_t accepted = 0; // entries log() took into the buffer
    std::uint64_t written = 0;  // entries committed to the file
    // Entries dropped because the buffer was full, in total and by level (trace .. critical).
    std::uint64_t dropped = 0;
    std::array<std::uint64_t, 6> dropped_by_level{};
    std::uint64_t dropped_after_stop = 0; // logged after a stop, or left unwritten by it
    std::uint64_t suppressed = 0;         // the log database's own messages kept out of it
    std::uint64_t batches = 0;            // write transactions committed
    std::uint64_t failures = 0;           // failed opens and writes
    bool failing = false;                 // the last attempt failed
    error_code last_error;                // of the last failure
    bool open = false;                    // the file is open (not before the first open ends)
    std::uint64_t reopens = 0;            // times the file was found deleted or renamed
    std::uint64_t retention_deleted = 0;  // rows deleted by retention
    std::uint64_t retention_chunks = 0;   // retention's delete transactions
    std::uint64_t vacuumed_pages = 0;     // pages released by incremental vacuum
    std::size_t buffered = 0;             // entries waiting now
    std::size_t max_buffered_seen = 0;
};

} // namespace sqlite_hybrid
