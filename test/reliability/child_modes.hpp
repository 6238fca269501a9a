// SPDX-License-Identifier: BSL-1.0
// The modes of reliability_child, a process of its own for what a test process cannot do to
// itself: configure SQLite's allocator before SQLite starts, or be SIGKILLed mid-write.
#pragma once

#include <sqlite_hybrid/options.hpp>

#include <string>

namespace sqlite_hybrid::test {

// Writes through group commit and a write buffer until killed, printing on stdout one line per
// fact that must survive: "A <writer> <seq>" once a job is acknowledged, "F <i>" once a forced
// flush reported rows 0..i of this run written. "ready" once open.
int crash_writer(const std::string& path, long long run);

// Fails SQLite's Nth allocation (N = 1, 2, ...) during group commits and opens; prints one
// "malloc_faults ..." line per scenario and exits 0 when every check held.
int malloc_faults(const std::string& dir);

// The crash writer's schema, which the test reads back.
inline database_options crash_writer_schema() {
    database_options o;
    o.migrations = {"CREATE TABLE jobs(run INTEGER NOT NULL, writer INTEGER NOT NULL,"
                    "  seq INTEGER NOT NULL, part INTEGER NOT NULL, payload BLOB,"
                    "  PRIMARY KEY(run, writer, seq, part));"
                    "CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT NOT NULL);"};
    return o;
}

// Keys of buffered rows: run * this + i.
inline constexpr long long buffered_keys_per_run = 10'000'000;

} // namespace sqlite_hybrid::test
