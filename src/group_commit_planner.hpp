// SPDX-License-Identifier: BSL-1.0
// The decisions of group commit, apart from SQLite, threads and Asio: which step the writer
// takes next in a group's transaction, and what each job of the group is told. The writer runs
// the steps and reports what it saw; the planner never touches a connection, so every path
// (failures, rollbacks under a job, cancellations, failed commits) is tested step by step.
//
// The promise it keeps: to every caller, a group is indistinguishable from each job running
// alone, in queue order, in its own transaction. A job's function runs once; it runs again only
// when the transaction it ran in was rolled back by another job's statement or by SQLite
// itself, and that is counted (see reruns()).
#pragma once

#include <cstddef>
#include <vector>

namespace sqlite_hybrid::detail {

class group_commit_planner {
public:
    enum class step {
        begin,        // open the group's transaction
        savepoint,    // a savepoint for job current() (a job of several statements, unless
                      // nothing ran before it: then rolling back the transaction undoes it)
        run,          // run job current(), unless it was cancelled meanwhile
        release,      // release job current()'s savepoint, keeping its work
        rollback_to,  // roll back to job current()'s savepoint and release it
        rollback,     // roll the whole transaction back
        commit,       // commit the transaction
        wait_for_lock, // another connection holds the write lock: try again later
        finished,     // every job has its verdict
    };

    enum class verdict {
        committed,      // its work is committed: success
        failed,         // its own error (the writer keeps it)
        cancelled,      // not run, or its work undone: operation_aborted
        shared_failure, // the transaction could not begin: the writer's begin error
        rerun,          // back to the queue's front, to run again in a new transaction
        rerun_alone,    // the same, in a transaction of its own (after a failed commit)
        requeue,        // not run yet: back to the queue's front, in order
    };

    struct decision {
        std::size_t job;
        verdict what;
    };

    // What the writer saw after a step.
    struct report {
        bool ok = true;               // the step (or the job) succeeded
        bool transaction_open = true; // the group's transaction is still open
        bool cancelled = false;       // run: the job was cancelled (before it started, or
                                      // while it ran: undo_needs_rollback when its work must go
                                      // and it has no savepoint)
        // run: the job's effects cannot be undone by SQLite's statement rollback alone
        // (a failed statement of OR FAIL or with triggers, any failure on PostgreSQL) or its
        // own transaction would fail at COMMIT (a deferred foreign key it left unresolved).
        bool undo_needs_rollback = false;
        bool locked = false; // begin: another connection holds the write lock
        // The failure is the environment's, not the job's (an I/O error, a full disk, a lock,
        // no memory): it may not happen again.
        bool passing = false;
    };

    // Adds a job to the group (while it may still grow); `needs_savepoint` for jobs that run
    // several statements. `promised`: the job ran and succeeded in a transaction rolled back
    // under it, and the jobs after it were answered with its work in place; a passing failure
    // then makes it run again (with the jobs before it) instead of failing. Returns the job's
    // index.
    std::size_t add(bool needs_savepoint, bool promised = false);
    // Jobs added but not yet started: the writer may add more only when there are none.
    bool idle() const noexcept;
    // True once the group has begun and may still take jobs (not after a rollback).
    bool accepting() const noexcept;

    step next();
    std::size_t current() const noexcept { return current_; }
    void done(const report& r);

    // The decisions made since the last call, in the order made.
    std::vector<decision> take_decisions();

    std::size_t size() const noexcept { return jobs_.size(); }
    std::size_t reruns() const noexcept { return reruns_; }
    // The group's transaction was rolled back with work of other jobs in it.
    bool transaction_rerun() const noexcept { return transaction_rerun_; }

private:
    // failed_held: it failed while other jobs' work was in the transaction, so its failure may
    // rest on that work (a key they inserted); it is told at the commit, or runs again when
    // that work goes.
    enum class job_state { queued, running, ran, failed_held, done };
    struct job {
        bool wants_savepoint;
        bool promised;
        bool savepoint = false; // runs inside one
        job_state state = job_state::queued;
    };
    enum class phase {
        start,       // begin next
        beginning,   // waiting for begin's report
        pick,        // the next job, or commit
        saving,      // waiting for savepoint's report
        saved,       // run next, inside the savepoint
        running,     // waiting for run's report
        releasing,   // waiting for release's report
        undoing,     // waiting for rollback_to's report
        rolling_back, // waiting for rollback's report (the group's end)
        committing,  // waiting for commit's report
        lock_wait,   // wait_for_lock next
        finished,
    };

    void decide(std::size_t job, verdict v);
    void after_run(const report& r);
    // The transaction is gone or must go: the jobs that ran go back to run again, the ones
    // not started go back in order.
    void give_back(verdict for_ran);
    // A promised job met a passing failure: the transaction goes and it runs again, in order
    // with the jobs before it.
    bool keeps_promise(std::size_t job, const report& r);
    std::size_t first_queued() const noexcept;
    void mark_ran(std::size_t job);

    std::vector<job> jobs_;
    std::vector<decision> decisions_;
    phase phase_ = phase::start;
    std::size_t current_ = 0;
    std::size_t ran_ = 0; // jobs whose work the transaction holds
    std::size_t reruns_ = 0;
    bool transaction_rerun_ = false;
};

} // namespace sqlite_hybrid::detail
