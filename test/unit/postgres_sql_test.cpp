// Reading SQL text for PostgreSQL. What a job may not run, classified from the text alone
// (PostgreSQL has no authorizer): transaction control and dropping the library's prepared
// statements are refused, a write job's own savepoints are not. And where a second statement
// starts, which one prepared statement cannot hold.
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
