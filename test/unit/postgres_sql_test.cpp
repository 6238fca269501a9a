// SPDX-License-Identifier: BSL-1.0
// Reading SQL text for PostgreSQL. What a job may not run, classified from the text alone
// (PostgreSQL has no authorizer): transaction control and dropping the library's prepared
// statements are refused, a write job's own savepoints are not, and neither is what would
// leave state in the pooled session. Where a second statement starts, which one prepared
// statement cannot hold, and which functions a statement calls.
#include "postgres/pg_sql.hpp"

#include <gtest/gtest.h>

namespace {

using sqlite_hybrid::detail::postgres_refusal;

bool refused(const char* sql, bool own_savepoints = false) {
    return postgres_refusal(sql, own_savepoints).has_value();
}

TEST(PostgresTransactionControl, EndingOrOpeningATransactionOrDroppingPreparedStatementsIsRefused) {
    for (const char* sql :
         {"BEGIN", "begin isolation level serializable", "START TRANSACTION", "COMMIT", "END",
          "end work", "ROLLBACK", "ABORT", "ROLLBACK AND CHAIN", "COMMIT PREPARED 'x'",
          "PREPARE TRANSACTION 'x'", "  -- why\n  /* a /* nested */ comment */ COMMIT",
          "SELECT 1; COMMIT", "INSERT INTO t VALUES (';'); rollback", "DEALLOCATE ALL",
          "deallocate s1", "DISCARD ALL"})
        EXPECT_TRUE(refused(sql)) << sql;
}

TEST(PostgresTransactionControl, WordsInsideLiteralsNamesOrBodiesAreNotStatements) {
    for (const char* sql :
         {"SELECT 'COMMIT'", "SELECT \"commit\" FROM t", "DO $$ BEGIN PERFORM 1; END $$",
          "SELECT 1 -- ; COMMIT", "SELECT $tag$; ROLLBACK$tag$", "COMMITTED_ROWS", "PREPARE p AS SELECT 1",
          "UPDATE t SET v = 'x;commit'", ""})
        EXPECT_FALSE(refused(sql)) << sql;
}

TEST(PostgresTransactionControl, AWriteJobMayNestSavepointsOfItsOwnButNotTheLibrarys) {
    for (const char* sql : {"SAVEPOINT mine", "RELEASE mine", "RELEASE SAVEPOINT mine",
                            "ROLLBACK TO mine", "ROLLBACK WORK TO SAVEPOINT mine"}) {
        EXPECT_FALSE(refused(sql, true)) << sql;
        EXPECT_TRUE(refused(sql, false)) << sql; // a single statement or a read job: never
    }
    for (const char* sql : {"SAVEPOINT sqlite_hybrid_job", "RELEASE \"SQLITE_HYBRID_JOB\"",
                            "rollback to savepoint sqlite_hybrid_x"})
        EXPECT_TRUE(refused(sql, true)) << sql;
}

TEST(PostgresSessionState, WhatWouldOutliveTheJobInThePooledSessionIsRefused) {
    for (const char* sql :
         {"SET search_path = nowhere", "set local statement_timeout = 5", "RESET ALL",
          "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "LISTEN ch", "unlisten *",
          "CREATE TEMP TABLE t(a int)", "create temporary table t(a int)",
          "CREATE GLOBAL TEMPORARY TABLE t(a int)", "CREATE OR REPLACE TEMP VIEW v AS SELECT 1",
          "SELECT set_config('search_path', 'nowhere', false)",
          "SELECT pg_catalog.SET_CONFIG ('a.b', 'c', true)", "SELECT pg_advisory_lock(1)",
          "SELECT pg_try_advisory_lock_shared(1, 2)", "SELECT 1; SET x = 1"}) {
        EXPECT_TRUE(refused(sql)) << sql;
        EXPECT_TRUE(refused(sql, true)) << sql;
    }
    for (const char* sql :
         {"UPDATE t SET v = 1", "SELECT pg_advisory_xact_lock(1)", "SELECT 'set_config(1)'",
          "SELECT \"set_config\"(1)", "NOTIFY ch, 'x'", "CREATE TABLE temp(a int)",
          "SELECT my_set_config(1)", "INSERT INTO t VALUES ('LISTEN')", "SELECT reset FROM t"})
        EXPECT_FALSE(refused(sql)) << sql;
}

TEST(PostgresStatements, TheFunctionsAStatementCallsAreNamedInLowerCase) {
    using sqlite_hybrid::detail::postgres_called_functions;
    using names = std::vector<std::string>;
    EXPECT_EQ(postgres_called_functions("SELECT 1"), names{});
    EXPECT_EQ(postgres_called_functions("SELECT Bump (x), public.bump(y), count(*) FROM t"),
              (names{"bump", "count"}));
    EXPECT_EQ(postgres_called_functions("SELECT 'f(1)' -- g(2)\n, \"H\"(3), $$i(4)$$"), names{});
    EXPECT_EQ(postgres_called_functions("SELECT 1 WHERE a IN (1)"), names{"in"});
}

TEST(PostgresStatements, ASecondStatementIsFoundOutsideLiteralsAndCommentsOnly) {
    using sqlite_hybrid::detail::postgres_second_statement;
    constexpr auto none = std::string_view::npos;
    EXPECT_EQ(postgres_second_statement("SELECT 1"), none);
    EXPECT_EQ(postgres_second_statement("SELECT 1;"), none);
    EXPECT_EQ(postgres_second_statement("SELECT 1; -- done\n /* really */ ;"), none);
    EXPECT_EQ(postgres_second_statement("SELECT ';'; "), none);
    EXPECT_EQ(postgres_second_statement("DO $$ BEGIN PERFORM 1; END $$"), none);
    EXPECT_EQ(postgres_second_statement("SELECT 1; SELECT 2"), 9u);
    EXPECT_EQ(postgres_second_statement("SELECT 1;(SELECT 2)"), 9u);
}

} // namespace
