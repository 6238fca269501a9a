// SPDX-License-Identifier: BSL-1.0
// SIGKILL at a random moment: a child writes through group commit and a write buffer and says
// on its stdout what the library acknowledged; the test kills it, reopens the file and checks
// that everything acknowledged (or reported flushed) is there, that no job is half there and
// that the file is sound. The next child opens the same file, WAL and all, as a restarted
// application would, and some children are killed while they do.
#include "reliability/child_modes.hpp"
#include "reliability/fault_points.hpp"
#include "reliability/killable_child.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/connection.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

namespace sh = sqlite_hybrid;
using namespace sh::test;
using namespace std::chrono_literals;

namespace {

struct child_report {
    std::vector<std::pair<long long, long long>> acknowledged; // (writer, seq)
    long long flushed_up_to = -1;                              // rows 0..this reported written
};

// Reads what the child said until its output ends (it was killed, or it exited).
child_report read_report(killable_child& child) {
    child_report r;
    for (std::string line = child.read_line(); !line.empty(); line = child.read_line()) {
        std::istringstream in(line);
        char kind = 0;
        long long a = 0, b = 0;
        in >> kind >> a;
        if (kind == 'A' && (in >> b))
            r.acknowledged.emplace_back(a, b);
        else if (kind == 'F' && in)
            r.flushed_up_to = a;
        else
            ADD_FAILURE() << "unexpected line from the child: " << line;
    }
    return r;
}

// Checks the file after run `run` was killed; returns the rows verified.
long long verify(const std::string& path, long long run, const child_report& report) {
    // Read-only: the WAL stays as the kill left it, for the next child to recover.
    auto c = sh::connection::open(path, sh::open_mode::read_only, {}).value();
    EXPECT_EQ(c.query_one<std::string>("PRAGMA integrity_check").value(), "ok");
    long long verified = 0;
    for (const auto& [writer, seq] : report.acknowledged) {
        const auto rows = c.query_one<int>("SELECT count(*) FROM jobs WHERE run = ? AND "
                                           "writer = ? AND seq = ?",
                                           run, writer, seq)
                              .value()
                              .value();
        EXPECT_EQ(rows, 2) << "run " << run << ": acknowledged job " << writer << "/" << seq;
        verified += rows;
    }
    EXPECT_EQ(c.query_one<int>("SELECT count(*) FROM (SELECT 1 FROM jobs GROUP BY run, writer, "
                               "seq HAVING count(*) != 2)")
                  .value(),
              0)
        << "a job is half there";
    const long long first = run * buffered_keys_per_run;
    const auto flushed = c.query_one<long long>("SELECT count(*) FROM kv WHERE k BETWEEN ? AND ?",
                                                first, first + report.flushed_up_to)
                             .value()
                             .value();
    EXPECT_EQ(flushed, report.flushed_up_to + 1) << "run " << run << ": flushed rows lost";
    return verified + flushed;
}

TEST(CrashTest, AcknowledgedAndFlushedRowsSurviveASigkill) {
    temp_dir dir;
    const auto seed = std::random_device{}();
    std::mt19937 rng(seed);
    RecordProperty("seed", std::to_string(seed));
    // Bounded by iterations and by time, whichever comes first (sanitizer builds are slower).
    constexpr int max_iterations = 30;
    const auto budget_end = std::chrono::steady_clock::now() + 15s;
    int iterations = 0, killed_while_writing = 0, killed_while_opening = 0;
    long long rows_verified = 0;
    std::string path;
    for (int run = 0; run < max_iterations && std::chrono::steady_clock::now() < budget_end;
         ++run) {
        SCOPED_TRACE("run " + std::to_string(run) + ", seed " + std::to_string(seed));
        if (run % 4 == 0) { // a fresh file now and then keeps the files small
            if (!path.empty())
                remove_database_files(path);
            path = dir.file("crash-" + std::to_string(run) + ".db");
        }
        killable_child child({RELIABILITY_CHILD, "crash-writer", path, std::to_string(run)}, 60s);
        // Every fourth child dies while it opens the file a killed child left (WAL recovery);
        // the others anywhere from at once to a while into the writes (checkpoints included).
        const bool while_opening = run % 4 == 3;
        if (while_opening)
            child.kill_at(std::chrono::steady_clock::now() + std::chrono::milliseconds(rng() % 5));
        const auto first = child.read_line();
        if (!while_opening) {
            ASSERT_EQ(first, "ready") << "the child did not open the database";
            child.kill_at(std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(rng() % 300));
        }
        const auto report = first == "ready" ? read_report(child) : child_report{};
        EXPECT_EQ(child.wait(), -1) << "the child exited instead of being killed";
        ++iterations;
        killed_while_writing += !report.acknowledged.empty() || report.flushed_up_to >= 0;
        killed_while_opening += first != "ready";
        rows_verified += verify(path, run, report);
        if (HasFailure())
            break;
    }
    RecordProperty("iterations", iterations);
    RecordProperty("rows_verified", std::to_string(rows_verified));
    std::printf("[ crash    ] %d kills (%d after acknowledged writes, %d while opening), %lld rows "
                "verified, seed %u\n",
                iterations, killed_while_writing, killed_while_opening, rows_verified, seed);
    EXPECT_GE(iterations, 5);
    EXPECT_GT(killed_while_writing, 0);
}

} // namespace
