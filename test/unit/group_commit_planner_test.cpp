// SPDX-License-Identifier: BSL-1.0
// The group-commit planner step by step, without SQLite: what the writer runs next and what
// each job is told, for every kind of outcome a step can report.
#include "group_commit_planner.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

using planner = sqlite_hybrid::detail::group_commit_planner;
using step = planner::step;
using verdict = planner::verdict;
using report = planner::report;

const char* name(step s) {
    switch (s) {
    case step::begin: return "begin";
    case step::savepoint: return "savepoint";
    case step::run: return "run";
    case step::release: return "release";
    case step::rollback_to: return "rollback_to";
    case step::rollback: return "rollback";
    case step::commit: return "commit";
    case step::wait_for_lock: return "wait";
    case step::finished: return "finished";
    }
    return "?";
}

const char* name(verdict v) {
    switch (v) {
    case verdict::committed: return "committed";
    case verdict::failed: return "failed";
    case verdict::cancelled: return "cancelled";
    case verdict::shared_failure: return "shared_failure";
    case verdict::rerun: return "rerun";
    case verdict::rerun_alone: return "rerun_alone";
    case verdict::requeue: return "requeue";
    }
    return "?";
}

// Drives a planner to the end. `outcome` answers each step (by its name and job); the trace
// lists the steps ("run1" is job 1's run) and the verdicts ("1:failed").
struct driven {
    std::string steps;
    std::map<std::size_t, std::string> verdicts;
};

driven drive(planner& p, const std::function<report(step, std::size_t)>& outcome) {
    driven d;
    for (int guard = 0; guard < 1000; ++guard) {
        const step s = p.next();
        if (!d.steps.empty())
            d.steps += ' ';
        d.steps += name(s);
        const bool per_job = s == step::savepoint || s == step::run || s == step::release ||
                             s == step::rollback_to;
        if (per_job)
            d.steps += std::to_string(p.current());
        if (s == step::finished)
            break;
        if (s != step::wait_for_lock)
            p.done(outcome(s, p.current()));
        for (const auto& [job, what] : p.take_decisions()) {
            EXPECT_EQ(d.verdicts.count(job), 0u) << "job " << job << " decided twice";
            d.verdicts[job] = name(what);
        }
    }
    return d;
}

report ok() { return {}; }
report failed() {
    report r;
    r.ok = false;
    return r;
}

TEST(GroupCommitPlanner, StatementsShareOneTransactionWithoutSavepoints) {
    planner p;
    p.add(false);
    p.add(false);
    auto d = drive(p, [](step, std::size_t) { return ok(); });
    EXPECT_EQ(d.steps, "begin run0 run1 commit finished");
    EXPECT_EQ(d.verdicts[0], "committed");
    EXPECT_EQ(d.verdicts[1], "committed");
    EXPECT_EQ(p.reruns(), 0u);
}

TEST(GroupCommitPlanner, FunctionJobsRunInsideSavepointsOnceOthersRanBeforeThem) {
    planner p;
    p.add(false);
    p.add(true);
    auto d = drive(p, [](step, std::size_t) { return ok(); });
    EXPECT_EQ(d.steps, "begin run0 savepoint1 run1 release1 commit finished");
}

TEST(GroupCommitPlanner, TheFirstJobOfATransactionIsUndoneByRollingItBack) {
    planner p;
    p.add(true);
    p.add(true);
    auto d = drive(p, [](step s, std::size_t j) {
        report r;
        if (s == step::run && j == 0) {
            r.ok = false;
            r.undo_needs_rollback = true;
        }
        return r;
    });
    EXPECT_EQ(d.steps, "begin run0 rollback finished");
    EXPECT_EQ(d.verdicts[0], "failed");
    EXPECT_EQ(d.verdicts[1], "requeue"); // a new transaction, where it is the first
    EXPECT_EQ(p.reruns(), 0u);
}

TEST(GroupCommitPlanner, FailedStatementIsItsOwnAndOthersCommitWithoutRerun) {
    planner p;
    for (int i = 0; i < 3; ++i)
        p.add(false);
    auto d = drive(p, [](step s, std::size_t j) { return s == step::run && j == 1 ? failed() : ok(); });
    EXPECT_EQ(d.steps, "begin run0 run1 run2 commit finished");
    EXPECT_EQ(d.verdicts[0], "committed");
    EXPECT_EQ(d.verdicts[1], "failed");
    EXPECT_EQ(d.verdicts[2], "committed");
    EXPECT_EQ(p.reruns(), 0u);
    EXPECT_FALSE(p.transaction_rerun());
}

TEST(GroupCommitPlanner, FailedFunctionJobRollsBackToItsSavepointOnly) {
    planner p;
    p.add(true);
    p.add(true);
    p.add(true);
    auto d = drive(p, [](step s, std::size_t j) { return s == step::run && j == 1 ? failed() : ok(); });
    EXPECT_EQ(d.steps, "begin run0 savepoint1 run1 rollback_to1 savepoint2 run2 release2 commit "
                       "finished");
    EXPECT_EQ(d.verdicts[1], "failed");
    EXPECT_EQ(d.verdicts[0], "committed");
    EXPECT_EQ(d.verdicts[2], "committed");
    EXPECT_EQ(p.reruns(), 0u);
}

TEST(GroupCommitPlanner, TransactionLostUnderAJobFailsOnlyThatJobAndRerunsTheOthers) {
    planner p;
    for (int i = 0; i < 4; ++i)
        p.add(i % 2 == 0);
    auto d = drive(p, [](step s, std::size_t j) {
        report r;
        if (s == step::run && j == 2) { // RAISE(ROLLBACK): SQLite ended the transaction
            r.ok = false;
            r.transaction_open = false;
        }
        return r;
    });
    EXPECT_EQ(d.steps, "begin run0 run1 savepoint2 run2 finished");
    EXPECT_EQ(d.verdicts[0], "rerun");
    EXPECT_EQ(d.verdicts[1], "rerun");
    EXPECT_EQ(d.verdicts[2], "failed");
    EXPECT_EQ(d.verdicts[3], "requeue");
    EXPECT_EQ(p.reruns(), 2u);
    EXPECT_TRUE(p.transaction_rerun());
}

TEST(GroupCommitPlanner, StatementWhoseChangesSqliteCannotUndoRollsBackAndRerunsTheOthers) {
    planner p;
    for (int i = 0; i < 3; ++i)
        p.add(false);
    auto d = drive(p, [](step s, std::size_t j) {
        report r;
        if (s == step::run && j == 1) { // INSERT OR FAIL kept some of its rows
            r.ok = false;
            r.undo_needs_rollback = true;
        }
        return r;
    });
    EXPECT_EQ(d.steps, "begin run0 run1 rollback finished");
    EXPECT_EQ(d.verdicts[0], "rerun");
    EXPECT_EQ(d.verdicts[1], "failed");
    EXPECT_EQ(d.verdicts[2], "requeue");
}

TEST(GroupCommitPlanner, DeferredViolationOfAFunctionJobUndoesItsSavepoint) {
    planner p;
    p.add(true);
    p.add(true);
    auto d = drive(p, [](step s, std::size_t j) {
        report r;
        if (s == step::run && j == 1) {
            r.ok = false;
            r.undo_needs_rollback = true;
        }
        return r;
    });
    EXPECT_EQ(d.steps, "begin run0 savepoint1 run1 rollback_to1 commit finished");
    EXPECT_EQ(d.verdicts[0], "committed");
    EXPECT_EQ(d.verdicts[1], "failed");
}

TEST(GroupCommitPlanner, LockHeldElsewhereRequeuesEveryJobInOrder) {
    planner p;
    p.add(false);
    p.add(true);
    auto d = drive(p, [](step, std::size_t) {
        report r;
        r.ok = false;
        r.locked = true;
        return r;
    });
    EXPECT_EQ(d.steps, "begin wait finished");
    EXPECT_EQ(d.verdicts[0], "requeue");
    EXPECT_EQ(d.verdicts[1], "requeue");
    EXPECT_EQ(p.reruns(), 0u);
}

TEST(GroupCommitPlanner, BeginFailureIsEveryJobsSharedFailure) {
    planner p;
    p.add(false);
    p.add(true);
    auto d = drive(p, [](step, std::size_t) { return failed(); });
    EXPECT_EQ(d.steps, "begin finished");
    EXPECT_EQ(d.verdicts[0], "shared_failure");
    EXPECT_EQ(d.verdicts[1], "shared_failure");
}

TEST(GroupCommitPlanner, FailedCommitOfSeveralRerunsEachAlone) {
    planner p;
    p.add(false);
    p.add(true);
    auto d = drive(p, [](step s, std::size_t) { return s == step::commit ? failed() : ok(); });
    EXPECT_EQ(d.steps, "begin run0 savepoint1 run1 release1 commit rollback finished");
    EXPECT_EQ(d.verdicts[0], "rerun_alone");
    EXPECT_EQ(d.verdicts[1], "rerun_alone");
    EXPECT_EQ(p.reruns(), 2u);
}

TEST(GroupCommitPlanner, FailedCommitOfOneJobIsItsOwn) {
    planner p;
    p.add(false);
    p.add(false);
    auto d = drive(p, [](step s, std::size_t j) {
        if (s == step::run && j == 0)
            return failed();
        if (s == step::commit) {
            report r = failed();
            r.transaction_open = false; // SQLite rolled back on the I/O error
            return r;
        }
        return ok();
    });
    EXPECT_EQ(d.steps, "begin run0 run1 commit finished");
    EXPECT_EQ(d.verdicts[0], "failed");
    EXPECT_EQ(d.verdicts[1], "shared_failure");
    EXPECT_EQ(p.reruns(), 0u);
}

report passing_failure(bool transaction_open = true) {
    report r = failed();
    r.passing = true;
    r.transaction_open = transaction_open;
    return r;
}

// The order verdicts come in: the writer puts jobs back in this order.
std::string decision_order(planner& p, const std::function<report(step, std::size_t)>& outcome) {
    std::string order;
    for (step s = p.next(); s != step::finished; s = p.next()) {
        if (s != step::wait_for_lock)
            p.done(outcome(s, p.current()));
        for (const auto& [job, what] : p.take_decisions())
            order += std::to_string(job) + ":" + name(what) + " ";
    }
    return order;
}

TEST(GroupCommitPlanner, APromisedJobMeetingAPassingFailureRunsAgainInItsPlace) {
    for (bool open : {true, false}) { // SQLITE_FULL undid the statement; an I/O error, all
        planner p;
        p.add(false);
        p.add(false, true);
        p.add(false);
        EXPECT_EQ(decision_order(p, [&](step s, std::size_t j) {
                      return s == step::run && j == 1 ? passing_failure(open) : ok();
                  }),
                  "0:rerun 1:rerun 2:requeue ");
    }
}

TEST(GroupCommitPlanner, APassingFailureOfAJobNotPromisedIsItsOwn) {
    planner p;
    for (int i = 0; i < 3; ++i)
        p.add(false);
    EXPECT_EQ(decision_order(p, [](step s, std::size_t j) {
                  return s == step::run && j == 1 ? passing_failure() : ok();
              }),
              "1:failed 0:committed 2:committed ");
}

TEST(GroupCommitPlanner, APromisedJobRunsAgainWhenItsSavepointOrItsCommitMeetsAPassingFailure) {
    planner p;
    p.add(false);
    p.add(true, true);
    EXPECT_EQ(decision_order(p, [](step s, std::size_t) {
                  return s == step::savepoint ? passing_failure() : ok();
              }),
              "0:rerun 1:rerun ");
    planner q;
    q.add(false, true);
    q.add(true);
    EXPECT_EQ(decision_order(q, [](step s, std::size_t) {
                  return s == step::commit ? passing_failure() : ok();
              }),
              "0:rerun 1:rerun ");
}

TEST(GroupCommitPlanner, AFailureMetWithOtherJobsWorkIsToldAtTheCommitOrRunsAgainWithoutIt) {
    // Job 1 fails on a key job 0 inserted: its answer stands only if job 0's work commits.
    for (bool commits : {true, false}) {
        planner p;
        p.add(false);
        p.add(false);
        p.add(false);
        EXPECT_EQ(decision_order(p, [&](step s, std::size_t j) {
                      if (s == step::run && j == 1)
                          return failed();
                      return s == step::commit && !commits ? failed() : ok();
                  }),
                  commits ? "0:committed 1:failed 2:committed "
                          : "0:rerun_alone 1:rerun 2:rerun_alone ");
    }
    // The first job of a transaction fails on nobody's work: told at once.
    planner p;
    p.add(false);
    p.add(false);
    EXPECT_EQ(decision_order(p, [](step s, std::size_t j) {
                  return s == step::run && j == 0 ? failed() : ok();
              }),
              "0:failed 1:committed ");
}

TEST(GroupCommitPlanner, CancelledJobsLeaveNothingBehind) {
    planner p;
    p.add(false);
    p.add(true);
    p.add(false);
    auto d = drive(p, [](step s, std::size_t j) {
        report r;
        r.cancelled = s == step::run && j > 0;
        return r;
    });
    EXPECT_EQ(d.steps, "begin run0 savepoint1 run1 rollback_to1 run2 commit finished");
    EXPECT_EQ(d.verdicts[0], "committed");
    EXPECT_EQ(d.verdicts[1], "cancelled");
    EXPECT_EQ(d.verdicts[2], "cancelled");
}

TEST(GroupCommitPlanner, StatementCancelledAfterItChangedRowsRollsBackAndRerunsTheOthers) {
    planner p;
    p.add(false);
    p.add(false);
    auto d = drive(p, [](step s, std::size_t j) {
        report r;
        if (s == step::run && j == 1) {
            r.cancelled = true;
            r.undo_needs_rollback = true;
        }
        return r;
    });
    EXPECT_EQ(d.steps, "begin run0 run1 rollback finished");
    EXPECT_EQ(d.verdicts[0], "rerun");
    EXPECT_EQ(d.verdicts[1], "cancelled");
}

TEST(GroupCommitPlanner, JobsAddedWhileTheGroupRunsJoinItsTransaction) {
    planner p;
    p.add(false);
    std::string steps;
    for (;;) {
        const step s = p.next();
        steps += std::string(name(s)) + ' ';
        if (s == step::finished)
            break;
        p.done(ok());
        if (p.idle() && p.accepting() && p.size() < 3)
            p.add(true);
    }
    EXPECT_EQ(steps, "begin run savepoint run release savepoint run release commit finished ");
    std::size_t committed = 0;
    for (const auto& d : p.take_decisions())
        committed += d.what == verdict::committed;
    EXPECT_EQ(committed, 3u);
}

TEST(GroupCommitPlanner, NothingToCommitClosesTheTransactionWithRollback) {
    planner p;
    p.add(false);
    auto d = drive(p, [](step s, std::size_t) { return s == step::run ? failed() : ok(); });
    EXPECT_EQ(d.steps, "begin run0 rollback finished");
}

// Random reports for every step: whatever happens, each job gets exactly one verdict, no job is
// committed unless a COMMIT succeeded, and the steps nest (run after savepoint, release or
// rollback_to only for a saved job that ran).
TEST(GroupCommitPlanner, RandomOutcomesKeepEveryInvariant) {
    const unsigned seed = std::random_device{}();
    std::mt19937 rng(seed);
    for (int round = 0; round < 20000; ++round) {
        planner p;
        const std::size_t n = 1 + rng() % 6;
        std::vector<bool> saved;
        for (std::size_t i = 0; i < n; ++i) {
            saved.push_back(rng() % 2);
            p.add(saved.back(), rng() % 4 == 0);
        }
        bool commit_ok = false;
        std::vector<int> runs(n, 0);
        std::vector<bool> took_savepoint(n, false);
        std::size_t decided = 0;
        std::string last_step;
        for (int guard = 0;; ++guard) {
            ASSERT_LT(guard, 100) << "seed " << seed;
            const step s = p.next();
            if (s == step::finished)
                break;
            const std::size_t j = p.current();
            if (s == step::run)
                ++runs[j];
            if (s == step::savepoint) {
                ASSERT_TRUE(saved[j]) << "seed " << seed;
                took_savepoint[j] = true;
            }
            if (s == step::release || s == step::rollback_to) {
                ASSERT_TRUE(took_savepoint[j] && last_step == "run") << "seed " << seed;
            }
            if (s == step::run && took_savepoint[j]) {
                ASSERT_EQ(last_step, "savepoint") << "seed " << seed;
            }
            last_step = name(s);
            if (s == step::wait_for_lock)
                continue;
            report r;
            switch (rng() % 8) {
            case 0: r.ok = false; break;
            case 1: r.ok = false; r.transaction_open = false; break;
            case 2: r.ok = false; r.undo_needs_rollback = true; break;
            case 3: r.cancelled = s == step::run; break;
            case 4: r.locked = s == step::begin; r.ok = !r.locked; break;
            default: break;
            }
            r.passing = !r.ok && rng() % 2;
            if (s == step::commit)
                commit_ok = r.ok;
            p.done(r);
            for (const auto& d : p.take_decisions()) {
                ++decided;
                if (d.what == verdict::committed) {
                    ASSERT_TRUE(commit_ok) << "seed " << seed;
                }
            }
        }
        ASSERT_EQ(decided, n) << "seed " << seed;
        for (int r : runs)
            ASSERT_LE(r, 1) << "a job ran twice within one group, seed " << seed;
    }
}

} // namespace
