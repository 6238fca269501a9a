// SPDX-License-Identifier: BSL-1.0
// A test VFS over SQLite's default unix VFS that fails chosen I/O on purpose: the Nth read,
// write, sync or truncate of any file SQLite opens through it (main database, -wal, -journal),
// once or from then on, and SQLITE_BUSY from write-lock attempts. This is how SQLite tests its
// own I/O error paths. A database opens through it by name: fault_vfs::uri(path).
#pragma once

#include <cstdint>
#include <limits>
#include <string>

namespace sqlite_hybrid::test {

enum io_kind : unsigned { io_read = 1, io_write = 2, io_sync = 4, io_truncate = 8 };
inline constexpr unsigned all_io = io_read | io_write | io_sync | io_truncate;

struct fault_plan {
    unsigned kinds = all_io;   // which operations are counted (and may fail)
    std::uint64_t fail_at = 0; // the Nth counted operation since arm() fails; 0: none
    bool persistent = false;   // every counted operation after the Nth fails too
    int error = 0;             // 0: the kind's own SQLITE_IOERR_*; else this code (SQLITE_FULL)
    // Write-lock attempts (xLock at RESERVED or above, the WAL write lock) that report
    // SQLITE_BUSY, as if another process held the lock; counted from arm().
    std::uint64_t busy_write_locks = 0;
};

class fault_vfs {
public:
    static constexpr const char* name = "fault";
    static constexpr std::uint64_t forever = std::numeric_limits<std::uint64_t>::max();

    // Registers the VFS on first use (not as the default one).
    static fault_vfs& instance();

    // A URI that opens `path` through this VFS (every connection is opened with SQLITE_OPEN_URI).
    static std::string uri(const std::string& path);

    // Starts counting from zero with this plan; disarm() keeps counting but fails nothing.
    void arm(const fault_plan& plan);
    void disarm();

    std::uint64_t operations() const; // counted operations since arm()
    std::uint64_t faults() const;     // failed operations (and busy locks) since arm()

private:
    fault_vfs();
};

// Arms on construction and disarms on scope exit, so that a failing assertion never leaves
// faults armed for the checks (or tests) that follow.
class armed_faults {
public:
    explicit armed_faults(const fault_plan& plan) { fault_vfs::instance().arm(plan); }
    armed_faults(const armed_faults&) = delete;
    armed_faults& operator=(const armed_faults&) = delete;
    ~armed_faults() { fault_vfs::instance().disarm(); }
};

} // namespace sqlite_hybrid::test
