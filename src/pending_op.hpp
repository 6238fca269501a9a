// SPDX-License-Identifier: BSL-1.0
// One operation between its start and its completion, and the batching of completions back to
// the callers' executors (one post per run of operations that share an executor).
#pragma once

#include <sqlite_hybrid/database.hpp>

#include "tracked_work.hpp"

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sqlite_hybrid::detail {

struct pending_op;

// The job a connection runs right now, so that cancelling that job interrupts its statement
// (and never the next job's).
struct interrupt_target {
    std::mutex mutex;
    pending_op* running = nullptr;
    connection* conn = nullptr;
};

struct pending_op {
    job_kind kind;
    job_ptr job;
    job_handler handler;
    diagnostics* user_diag;
    diagnostics diag;
    // The caller's executor, holding outstanding work so its io_context keeps running.
    asio::any_completion_executor executor;
    // Until when a write may wait for another process's write lock.
    std::chrono::steady_clock::time_point lock_deadline{};
    std::atomic<bool> cancel_requested{false};
    error_code error;       // a write's own failure, kept until its group's verdict
    bool run_alone = false; // runs in a transaction of its own (its group's COMMIT failed)
    // It ran and succeeded in a transaction that was then rolled back under it: it runs again
    // to the same outcome, whatever cancellation came meanwhile, since the jobs after it were
    // answered with its work in place.
    bool ran_once = false;
    int reruns = 0; // how many times it went back to run again
    bool cancellable = false; // a cancellation slot is connected
    // Its turn among the writes while it is being routed (submission_order), or UINT64_MAX.
    std::uint64_t write_ticket = UINT64_MAX;
    std::atomic<interrupt_target*> running_on{nullptr}; // the connection running it right now

    pending_op(job_kind k, job_ptr j, job_handler h, diagnostics* d,
               const asio::any_io_executor& fallback)
        : kind(k), job(std::move(j)), handler(std::move(h)), user_diag(d),
          executor(tracked_executor(handler, fallback)) {}

    // On the caller's executor: the cancellation slot is emptied where it was filled.
    void finish(error_code ec) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected())
            slot.clear();
        if (user_diag) {
            if (ec)
                *user_diag = std::move(diag);
            else
                user_diag->clear();
        }
        std::move(handler)(ec, std::move(job));
    }
};

using op_ptr = std::unique_ptr<pending_op>;

// Hands `fn` from a pool thread to the caller's executor so that it runs only once this thread
// has let go of every copy of that executor it made (Asio's dispatch makes some too). Otherwise
// the completion could let the caller destroy its io_context while this thread still holds a
// copy of a strand on it, whose destruction then locks a mutex that is gone.
inline thread_local bool handing_over = false;

template <class Executor, class Fn> void hand_over(Executor ex, Fn fn) {
    auto posted = std::make_shared<std::atomic<bool>>(false);
    handing_over = true; // run inline (the caller's executor is this thread's): no wait
    asio::dispatch(ex, [posted, fn = std::move(fn)]() mutable {
        if (!handing_over)
            while (!posted->load(std::memory_order_acquire))
                std::this_thread::yield();
        fn();
    });
    handing_over = false;
    { const Executor released = std::move(ex); }
    posted->store(true, std::memory_order_release);
}

class completion_batch {
public:
    void add(op_ptr op, error_code ec) { items_.push_back({std::move(op), ec}); }
    bool empty() const noexcept { return items_.empty(); }
    std::size_t size() const noexcept { return items_.size(); }

    void flush() {
        std::size_t begin = 0;
        while (begin < items_.size()) {
            std::size_t end = begin + 1;
            while (end < items_.size() && items_[end].op->executor == items_[begin].op->executor)
                ++end;
            post_run(begin, end);
            begin = end;
        }
        items_.clear();
    }

private:
    struct item {
        op_ptr op;
        error_code ec;
    };

    void post_run(std::size_t begin, std::size_t end) {
        if (end - begin == 1) {
            auto ex = items_[begin].op->executor;
            hand_over(std::move(ex), [it = std::move(items_[begin])]() mutable { it.op->finish(it.ec); });
            return;
        }
        std::vector<item> run;
        run.reserve(end - begin);
        for (std::size_t i = begin; i < end; ++i)
            run.push_back(std::move(items_[i]));
        auto ex = run.front().op->executor;
        hand_over(std::move(ex), [run = std::move(run)]() mutable {
            for (auto& it : run)
                it.op->finish(it.ec);
        });
    }

    std::vector<item> items_;
};

} // namespace sqlite_hybrid::detail
