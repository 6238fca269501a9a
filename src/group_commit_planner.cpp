// SPDX-License-Identifier: BSL-1.0
#include "group_commit_planner.hpp"

#include <cassert>
#include <utility>

namespace sqlite_hybrid::detail {

std::size_t group_commit_planner::add(bool needs_savepoint, bool promised) {
    assert(accepting());
    jobs_.push_back({needs_savepoint, promised});
    return jobs_.size() - 1;
}

bool group_commit_planner::idle() const noexcept { return first_queued() == jobs_.size(); }

bool group_commit_planner::accepting() const noexcept {
    return phase_ == phase::start || phase_ == phase::pick;
}

void group_commit_planner::mark_ran(std::size_t job) {
    jobs_[job].state = job_state::ran;
    ++ran_;
}

std::size_t group_commit_planner::first_queued() const noexcept {
    for (std::size_t i = current_; i < jobs_.size(); ++i)
        if (jobs_[i].state == job_state::queued)
            return i;
    return jobs_.size();
}

void group_commit_planner::decide(std::size_t job, verdict v) {
    if (jobs_[job].state == job_state::ran)
        --ran_;
    jobs_[job].state = job_state::done;
    decisions_.push_back({job, v});
}

std::vector<group_commit_planner::decision> group_commit_planner::take_decisions() {
    return std::exchange(decisions_, {});
}

group_commit_planner::step group_commit_planner::next() {
    switch (phase_) {
    case phase::start: phase_ = phase::beginning; return step::begin;
    case phase::pick: {
        const std::size_t j = first_queued();
        const bool kept = ran_ > 0;
        if (j == jobs_.size()) {
            // Nothing to keep: the empty transaction is closed without writing anything.
            phase_ = kept ? phase::committing : phase::rolling_back;
            return kept ? step::commit : step::rollback;
        }
        current_ = j;
        auto& job = jobs_[j];
        job.state = job_state::running;
        // The first job to run in the transaction needs no savepoint: should it fail, rolling
        // the transaction back undoes only its work (the jobs after it then start a new one).
        job.savepoint = job.wants_savepoint && kept;
        phase_ = job.savepoint ? phase::saving : phase::running;
        return job.savepoint ? step::savepoint : step::run;
    }
    case phase::saved: phase_ = phase::running; return step::run;
    case phase::releasing: return step::release;
    case phase::undoing: return step::rollback_to;
    case phase::rolling_back: return step::rollback;
    case phase::lock_wait: phase_ = phase::finished; return step::wait_for_lock;
    case phase::finished: return step::finished;
    case phase::beginning:
    case phase::saving:
    case phase::running:
    case phase::committing: break;
    }
    assert(false && "next() while a step's report is outstanding");
    return step::finished;
}

void group_commit_planner::done(const report& r) {
    switch (phase_) {
    case phase::beginning:
        if (r.ok) {
            phase_ = phase::pick;
        } else if (r.locked) {
            give_back(verdict::requeue);
            phase_ = phase::lock_wait;
        } else {
            for (std::size_t i = 0; i < jobs_.size(); ++i)
                if (jobs_[i].state == job_state::queued)
                    decide(i, verdict::shared_failure);
            phase_ = phase::finished;
        }
        return;
    case phase::saving:
        if (r.ok) {
            phase_ = phase::saved;
            return;
        }
        if (keeps_promise(current_, r))
            return;
        // The savepoint could not be taken: that is the job's failure; it did not run.
        decide(current_, verdict::failed);
        if (!r.transaction_open) {
            give_back(verdict::rerun);
            phase_ = phase::finished;
        } else {
            phase_ = phase::pick;
        }
        return;
    case phase::running: after_run(r); return;
    case phase::releasing:
    case phase::undoing:
        if (r.ok && r.transaction_open) {
            phase_ = phase::pick;
            return;
        }
        // A savepoint that cannot be released or rolled back to leaves the transaction in a
        // state nobody asked for: it goes, and the jobs that ran run again.
        give_back(verdict::rerun);
        phase_ = r.transaction_open ? phase::rolling_back : phase::finished;
        return;
    case phase::rolling_back: phase_ = phase::finished; return;
    case phase::committing: {
        std::size_t ran = 0;
        bool promised = false;
        for (const auto& job : jobs_)
            if (job.state == job_state::ran) {
                ++ran;
                promised = promised || job.promised;
            }
        // A passing failure is nobody's: when a promised job is among them, all run again.
        const bool all_again = r.passing && promised;
        for (std::size_t i = 0; i < jobs_.size(); ++i) {
            const job_state state = jobs_[i].state;
            if (state != job_state::ran && state != job_state::failed_held)
                continue;
            verdict v = verdict::failed;
            if (r.ok)
                v = state == job_state::ran ? verdict::committed : verdict::failed;
            else if (state == job_state::failed_held || all_again)
                v = verdict::rerun; // its failure was met with work that is gone
            else if (ran == 1)
                v = verdict::shared_failure; // alone, the failure is its own
            else
                v = verdict::rerun_alone; // whose failure it is cannot be told: each alone
            if (v == verdict::rerun || v == verdict::rerun_alone) {
                ++reruns_;
                transaction_rerun_ = true;
            }
            decide(i, v);
        }
        phase_ = !r.ok && r.transaction_open ? phase::rolling_back : phase::finished;
        return;
    }
    case phase::start:
    case phase::pick:
    case phase::saved:
    case phase::lock_wait:
    case phase::finished: break;
    }
    assert(false && "a report with no step outstanding");
}

void group_commit_planner::after_run(const report& r) {
    const std::size_t j = current_;
    const bool saved = jobs_[j].savepoint;
    if (r.cancelled) {
        // Cancelled before it started, or while it ran: whatever it did is undone.
        decide(j, verdict::cancelled);
        if (saved) {
            phase_ = phase::undoing;
        } else if (r.undo_needs_rollback) {
            give_back(verdict::rerun);
            phase_ = phase::rolling_back;
        } else {
            phase_ = phase::pick;
        }
        return;
    }
    if (keeps_promise(j, r))
        return;
    if (!r.transaction_open) {
        // SQLite rolled the whole transaction back under this job (RAISE(ROLLBACK), OR
        // ROLLBACK, an I/O error, a full disk): the error is this job's alone, the work of the
        // jobs before it is gone and runs again.
        decide(j, verdict::failed);
        give_back(verdict::rerun);
        phase_ = phase::finished;
        return;
    }
    if (r.ok && !r.undo_needs_rollback) {
        mark_ran(j);
        phase_ = saved ? phase::releasing : phase::pick;
        return;
    }
    const bool transaction_goes = !saved && r.undo_needs_rollback;
    if (transaction_goes || r.passing || ran_ == 0)
        decide(j, verdict::failed);
    else
        jobs_[j].state = job_state::failed_held; // told at the commit, or runs again
    if (saved) {
        phase_ = phase::undoing;
    } else if (!r.undo_needs_rollback) {
        phase_ = phase::pick; // SQLite already undid the failed statement
    } else {
        give_back(verdict::rerun);
        phase_ = phase::rolling_back;
    }
}

bool group_commit_planner::keeps_promise(std::size_t j, const report& r) {
    if (r.ok || !r.passing || !jobs_[j].promised)
        return false;
    mark_ran(j); // so that it goes back in its place among the jobs that ran
    give_back(verdict::rerun);
    phase_ = r.transaction_open ? phase::rolling_back : phase::finished;
    return true;
}

void group_commit_planner::give_back(verdict for_ran) {
    for (std::size_t i = 0; i < jobs_.size(); ++i) {
        if (jobs_[i].state == job_state::ran || jobs_[i].state == job_state::failed_held) {
            decide(i, for_ran);
            ++reruns_;
            transaction_rerun_ = true;
        } else if (jobs_[i].state == job_state::queued) {
            decide(i, verdict::requeue);
        }
    }
}

} // namespace sqlite_hybrid::detail
