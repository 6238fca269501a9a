// SPDX-License-Identifier: BSL-1.0
// The sqlh entry point: commands, help and usage errors.
#include "sqlh/run_sqlh.hpp"

#include <sqlite_hybrid/version.hpp>

#include <sqlite3.h>

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

TEST(SqlhCli, VersionNamesTheLibraryAndSqlite) {
    const auto r = run_sqlh({"--version"});
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, std::string("sqlh ") + SQLITE_HYBRID_VERSION_STRING + " (SQLite " +
                         sqlite3_libversion() + ")\n");
    EXPECT_STREQ(sqlite_hybrid::version(), SQLITE_HYBRID_VERSION_STRING); // headers and library agree
    EXPECT_EQ(SQLITE_HYBRID_VERSION, SQLITE_HYBRID_VERSION_MAJOR * 10000 + SQLITE_HYBRID_VERSION_MINOR * 100 +
                                         SQLITE_HYBRID_VERSION_PATCH);
}

TEST(SqlhCli, UnknownCommandIsNamed) {
    const auto r = run_sqlh({"frobnicate"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos);
}

} // namespace
} // namespace sqlite_hybrid::test
