// SPDX-License-Identifier: BSL-1.0
// SQLite's method for I/O error paths: run an operation with its 1st, 2nd, 3rd ... I/O failing
// until it runs without reaching a fault, and check what is left after each point.
#pragma once

#include "support/fault_vfs.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/connection.hpp>
#include <sqlite_hybrid/error.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

namespace sqlite_hybrid::test {

// How the faults fail: once (a transient glitch), or from the Nth operation on (a dead disk).
struct fault_mode {
    const char* name;
    unsigned kinds;
    bool persistent;
    int error; // 0: the operation's own SQLITE_IOERR_*
};

inline const fault_mode transient_io{"transient_io", all_io, false, 0};
inline const fault_mode persistent_io{"persistent_io", all_io, true, 0};
inline const fault_mode disk_full{"disk_full", io_write, true, SQLITE_FULL};

inline void PrintTo(const fault_mode& m, std::ostream* os) {
    *os << m.name;
}

// Test names of a suite instantiated over the fault modes.
inline std::string fault_mode_name(const ::testing::TestParamInfo<fault_mode>& info) {
    return info.param.name;
}

// Errors the callers saw at the fault points of one scenario, by message, for the summary line.
class error_tally {
public:
    void add(const error_code& ec) {
        if (ec)
            ++seen_[ec.message()];
    }
    std::string summary() const {
        std::string out;
        for (const auto& [message, count] : seen_)
            out += (out.empty() ? "" : "; ") + message + " x" + std::to_string(count);
        return out.empty() ? "none" : out;
    }

private:
    std::map<std::string, int> seen_;
};

// What a caller can act on after an I/O fault: an I/O error, a full disk or a file that cannot
// be opened, never a report of corruption or a misuse.
inline ::testing::AssertionResult is_clear_io_error(const error_code& ec) {
    if (ec == condition::io_error || ec == condition::disk_full || ec == condition::cannot_open)
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "unexpected error: " << ec.message() << " ("
                                         << ec.category().name() << " " << ec.value() << ")";
}

// Removes a database file and its companions.
inline void remove_database_files(const std::string& path) {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
        std::filesystem::remove(path + suffix, ec);
}

// A look at the file from outside the library's database, through the plain unix VFS.
inline connection open_plain(const std::string& path, connection_options options = {}) {
    return connection::open(path, open_mode::read_write, options).value();
}

// One run of the operation: the plan to arm once its set-up is done, a database file that does
// not exist yet, and where to count the errors the callers saw.
struct fault_point {
    fault_plan plan;
    std::string path;
    error_tally& errors;
};

// Runs `operation()` with the plan armed; returns whether it reached a fault, after what it
// returned when it returns something.
template <class Operation> auto with_faults(const fault_plan& plan, Operation&& operation) {
    armed_faults armed(plan);
    if constexpr (std::is_void_v<decltype(operation())>) {
        operation();
        return fault_vfs::instance().faults() > 0;
    } else {
        auto out = operation();
        return std::pair{std::move(out), fault_vfs::instance().faults() > 0};
    }
}

// Runs `attempt` for N = 1, 2, ... (plan.fail_at = N), each on a fresh file, until it reaches no
// fault (it returns whether it did) or fails fatally. Prints one line for the scenario, records
// the fault points run in the test's properties, and returns them.
inline std::uint64_t run_fault_points(const std::string& scenario, const fault_mode& mode,
                                      const std::function<bool(const fault_point&)>& attempt,
                                      std::uint64_t max_points = 1000) {
    temp_dir dir;
    error_tally errors;
    std::uint64_t points = 0;
    for (std::uint64_t n = 1;; ++n) {
        SCOPED_TRACE("fault point " + std::to_string(n) + " (" + mode.name + ")");
        fault_point point{{}, dir.file("fault.db"), errors};
        point.plan.kinds = mode.kinds;
        point.plan.fail_at = n;
        point.plan.persistent = mode.persistent;
        point.plan.error = mode.error;
        const bool hit = attempt(point);
        remove_database_files(point.path);
        if (!hit || ::testing::Test::HasFatalFailure())
            break;
        if (++points == max_points) {
            ADD_FAILURE() << "the operation still reaches faults after " << max_points << " points";
            break;
        }
    }
    ::testing::Test::RecordProperty("fault_points", std::to_string(points));
    std::printf("[ faults   ] %s, %s: %llu fault points; errors seen: %s\n", scenario.c_str(),
                mode.name, static_cast<unsigned long long>(points), errors.summary().c_str());
    std::fflush(stdout);
    EXPECT_GT(points, 0u) << "no fault was ever reached: is the database opened through the VFS?";
    return points;
}

} // namespace sqlite_hybrid::test
