// The sqlh entry point: commands, help and usage errors.
#include "sqlh/run_sqlh.hpp"

#include <gtest/gtest.h>

namespace sqlite_hybrid::test {
namespace {

TEST(SqlhCli, NoCommandIsAUsageError) {
    const auto r = run_sqlh({});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("usage: sqlh"), std::string::npos);
}

TEST(SqlhCli, HelpListsEveryCommand) {
    const auto r = run_sqlh({"--help"});
    EXPECT_EQ(r.status, 0);
    for (const char* command : {"bench", "doctor", "logs"})
        EXPECT_NE(r.out.find(command), std::string::npos) << command;
}

TEST(SqlhCli, UnknownCommandIsNamed) {
    const auto r = run_sqlh({"frobnicate"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos);
}

} // namespace
} // namespace sqlite_hybrid::test
