// SPDX-License-Identifier: BSL-1.0
// Several processes opening the same new file at the same moment.
#include "helper/migrations.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/connection.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

namespace sh = sqlite_hybrid;

TEST(MultiProcess, EightProcessesOpenAFreshFileTogetherAndEachStepRunsOnce) {
    sh::test::temp_dir dir;
    const auto path = dir.file("fresh.db");
    const auto start = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch() +
                           std::chrono::milliseconds(500))
                           .count();
    std::vector<std::unique_ptr<sh::test::child_process>> children;
    for (int i = 0; i < 8; ++i)
        children.push_back(std::make_unique<sh::test::child_process>(std::vector<std::string>{
            SQLITE_HYBRID_TEST_HELPER, "migrate", path, std::to_string(start)}));
    for (auto& child : children)
        EXPECT_EQ(child->wait(), 0);

    auto c = sh::connection::open(path, sh::open_mode::read_only, {}).value();
    EXPECT_EQ(c.settings().journal_mode, "wal");
    EXPECT_EQ(c.query_one<int>("PRAGMA user_version").value(),
              static_cast<int>(sh::test::shared_migrations().size()));
    EXPECT_EQ(c.query<int>("SELECT step FROM ran ORDER BY step").value(),
              (std::vector<int>{1, 2, 3}));
}
