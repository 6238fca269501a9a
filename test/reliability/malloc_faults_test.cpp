// SPDX-License-Identifier: BSL-1.0
// SQLite's own allocations failing (SQLITE_CONFIG_MALLOC), in a process of its own because the
// allocator can only be replaced before SQLite initializes. The child runs the fault points
// and checks each; this test wants every scenario run and a clean exit.
#include "reliability/killable_child.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>

using namespace sqlite_hybrid::test;
using namespace std::chrono_literals;

namespace {

TEST(MallocFaults, FailedAllocationsGiveErrorsNotCrashes) {
    temp_dir dir;
    killable_child child({RELIABILITY_CHILD, "malloc-faults", dir.path().string()}, 240s);
    int scenarios = 0;
    for (std::string line = child.read_line(); !line.empty(); line = child.read_line()) {
        std::printf("[ faults   ] %s\n", line.c_str());
        const auto at = line.find("points=");
        ASSERT_NE(at, std::string::npos) << line;
        EXPECT_GT(std::stoll(line.substr(at + 7)), 0) << line;
        ++scenarios;
    }
    EXPECT_EQ(child.wait(), 0) << "the child found a violation, crashed or hung (see stderr)";
    EXPECT_EQ(scenarios, 4);
    RecordProperty("scenarios", scenarios);
}

} // namespace
