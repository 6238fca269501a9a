// SPDX-License-Identifier: BSL-1.0
// I/O faults while checkpoints copy the WAL into the database file, and while closing (the last
// connection checkpoints and removes the WAL). A failed checkpoint must not cost a committed
// write: the WAL still holds it.
#include "reliability/fault_points.hpp"
#include "support/run.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>

#include <gtest/gtest.h>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using namespace sh::test;

namespace {

sh::database_options options() {
    sh::database_options o;
    o.readers = 1;
    o.log = sh::null_logger();
    // Every group is followed by a RESTART checkpoint on the writer itself, in order with the
    // writes, so that the fault points are the same from run to run.
    o.checkpoint_threshold_pages = 1;
    o.checkpoint_restart_pages = 1;
    o.migrations = {"CREATE TABLE rows(batch INTEGER NOT NULL, i INTEGER NOT NULL, "
                    "  payload BLOB, PRIMARY KEY(batch, i));"};
    return o;
}

constexpr int batches = 4, per_batch = 3;

class CheckpointFaults : public ::testing::TestWithParam<fault_mode> {};

TEST_P(CheckpointFaults, CommittedWritesSurviveFailedCheckpointsAndClose) {
    run_fault_points(
        "writes with checkpoints, then close", GetParam(), [&](const fault_point& point) {
            asio::io_context io;
            auto db = open_database(io, fault_vfs::uri(point.path), options());
            std::vector<sh::error_code> outcome;
            const bool hit = with_faults(point.plan, [&] {
                for (int b = 0; b < batches; ++b) {
                    auto r = run(io, db.async_write(
                                         [b](sh::connection& c) -> sh::result<void> {
                                             for (int i = 0; i < per_batch; ++i)
                                                 if (auto ok = c.execute(
                                                         "INSERT INTO rows(batch, i, payload) "
                                                         "VALUES(?, ?, randomblob(3000))",
                                                         b, i);
                                                     !ok)
                                                     return ok.error();
                                             return sh::outcome::success();
                                         },
                                         sh::as_result));
                    outcome.push_back(r ? sh::error_code() : r.error());
                }
                run(io, db.async_close());
            });
            for (const auto& ec : outcome) {
                point.errors.add(ec);
                if (ec) {
                    EXPECT_TRUE(is_clear_io_error(ec));
                }
            }
            auto c = open_plain(point.path);
            EXPECT_EQ(c.query_one<std::string>("PRAGMA integrity_check").value(), "ok");
            for (int b = 0; b < batches; ++b) {
                const int rows = c.query_one<int>("SELECT count(*) FROM rows WHERE batch = ?", b)
                                     .value()
                                     .value();
                if (!outcome[b]) {
                    EXPECT_EQ(rows, per_batch) << "acknowledged batch " << b << " lost rows";
                } else {
                    EXPECT_TRUE(rows == 0 || rows == per_batch)
                        << "batch " << b << " is half there";
                }
            }
            // The file takes writes again.
            EXPECT_TRUE(c.execute("INSERT INTO rows(batch, i) VALUES(100, 0)"));
            return hit;
        });
}

INSTANTIATE_TEST_SUITE_P(Reliability, CheckpointFaults,
                         ::testing::Values(transient_io, persistent_io, disk_full),
                         fault_mode_name);

} // namespace
