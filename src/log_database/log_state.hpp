// SPDX-License-Identifier: BSL-1.0
// The machinery behind `log_database`: the bounded buffer that log() fills from any thread, and
// the flusher, one coroutine on a strand of the caller's executor, that opens the file (the file
// work itself on the log database's pool), writes batches, runs retention chunk by chunk, reports
// failures, opens a new file when the old one was deleted, and stops.
#pragma once

#include "log_buffer.hpp"

#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/log_database_metrics.hpp>
#include <sqlite_hybrid/log_database_options.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sqlite_hybrid::detail {

// Marks the code where the log database itself speaks (its database's logger hook, its
// failure reports): log() on a thread inside it keeps the entry out, so that a logger routed
// back into the log database cannot feed on itself.
class log_recursion_guard {
public:
    log_recursion_guard() noexcept : outer_(inside_) { inside_ = true; }
    ~log_recursion_guard() { inside_ = outer_; }
    log_recursion_guard(const log_recursion_guard&) = delete;
    log_recursion_guard& operator=(const log_recursion_guard&) = delete;
    static bool active() noexcept { return inside_; }

private:
    bool outer_;
    static thread_local bool inside_;
};

class log_state : public std::enable_shared_from_this<log_state> {
public:
    using done_handler = asio::any_completion_handler<void(error_code)>;
    using count_handler = asio::any_completion_handler<void(error_code, std::int64_t)>;
    using database_handler =
        asio::any_completion_handler<void(error_code, std::shared_ptr<database>)>;

    log_state(asio::any_io_executor ex, std::string path, log_database_options options);

    // Starts the flusher, which opens the file first. Returns at once: nothing here touches
    // the file.
    void start();

    // Any thread; never waits for I/O. False when the recursion guard keeps the entry out.
    bool accepting_here() noexcept;
    void log(log_entry&& entry) noexcept;
    void count_lost(log_level level) noexcept; // an entry that could not even be built
    void request_flush() noexcept;

    // Any thread: the waiters are registered on the strand. Once the flusher has ended, they
    // complete at once (closed; a stop with success, or with the exception's error).
    void flush(done_handler handler);
    void stop(done_handler handler);
    void request_stop() noexcept; // the same without waiting (a destructor's)
    void run_retention(count_handler handler);

    // Completes (on the log database's executor) with the database to read from once an open in
    // progress has ended, or with the reason there is none (the open failed, or stopped).
    void with_database(database_handler handler);

    log_database_metrics metrics() const;
    const std::string& path() const noexcept { return path_; }
    const asio::any_io_executor& executor() const noexcept { return ex_; }

private:
    using clock = std::chrono::steady_clock;
    template <class T> using awaitable = asio::awaitable<T>;

    // The flusher's ties to the caller's execution context, its strand and timer: held by the
    // flusher coroutine and the handlers posted to it, so that they go with it or with the
    // io_context, whichever ends first. The state, which log_writer handles keep (a sink
    // registered with spdlog until the program exits), may outlive both.
    struct flusher_context {
        explicit flusher_context(const asio::any_io_executor& ex)
            : strand(asio::make_strand(ex)), timer(strand) {}
        asio::strand<asio::any_io_executor> strand;
        asio::steady_timer timer;
    };
    // Null once the flusher has ended.
    std::shared_ptr<flusher_context> flusher() const;
    std::shared_ptr<flusher_context> mark_stopping(); // and the flusher to wake, if any
    // Wakes the flusher from its timer, after `then` (run on the strand) set what it should do.
    template <class F> void wake_flusher(std::shared_ptr<flusher_context> ctx, F then);
    template <class Handler, class Enlist, class... Ended>
    void enlist_waiter(std::shared_ptr<flusher_context> ctx, Handler handler, Enlist enlist,
                       Ended... ended);

    awaitable<void> run(std::shared_ptr<flusher_context> ctx);
    awaitable<void> wait_for_work(asio::steady_timer& timer);
    awaitable<error_code> open_file(std::shared_ptr<database>& out, diagnostics& diag);
    awaitable<error_code> ensure_open();
    awaitable<error_code> reopen_moved_file();
    awaitable<error_code> drain(bool& emptied, std::size_t max_batches);
    awaitable<void> retention_step();
    awaitable<void> finish(error_code last);
    // The flusher's end: buffered entries counted as dropped after the stop, then stop and
    // flush waiters answered with `outcome`, retention waiters with `retention_outcome`.
    std::size_t drop_buffered();
    void mark_stopped(error_code outcome, error_code retention_outcome);
    void end_after_exception();
    error_code ended_with() const; // what a stop after the flusher's end completes with

    bool anything_buffered() const;
    void take_batch(std::vector<log_entry>& batch);
    void put_back(std::vector<log_entry>& batch);
    void end_retention(error_code ec);
    void note_failure(error_code ec, const diagnostics& diag, std::string_view doing);
    void note_success();
    void report(const std::string& text);
    bool stopping() const;
    void answer_database_waiters();

    const asio::any_io_executor ex_;
    const std::string path_;
    const log_database_options options_;
    // Where the file work runs (opening, creating, writing): database_settings.pool, or a pool
    // of the log database's own. Never the caller's executor.
    std::unique_ptr<asio::thread_pool> own_pool_;
    asio::thread_pool* pool_;

    std::atomic<std::uint64_t> suppressed_{0}; // counted without the mutex

    // Shared with the threads that log, under mutex_.
    mutable std::mutex mutex_;
    log_buffer buffer_;
    log_drop_counts drops_to_report_{}; // since the last "dropped" entry
    log_drop_counts dropped_{};
    bool stopping_ = false;
    bool wake_when_full_ = false; // the flusher waits on its timer and wants a full batch
    std::uint64_t accepted_ = 0;
    std::uint64_t dropped_after_stop_ = 0;
    std::size_t max_buffered_seen_ = 0;
    log_database_metrics written_; // the flusher's counters (written, batches, failures, ...)
    std::weak_ptr<flusher_context> flusher_;
    error_code ended_with_; // set when the flusher ended on an exception

    // The strand's own, and the write job's while one runs. The entries of a written batch
    // are destroyed by the next job, on the pool: their memory is not freed on the caller's
    // executor.
    std::vector<log_entry> batch_; // reused: a steady flow allocates no batches
    std::shared_ptr<database> database_;
    error_code open_error_;
    bool opening_ = false;
    std::vector<database_handler> database_waiters_; // queries that arrived while opening
    bool flush_requested_ = false;
    bool stopped_ = false;
    std::vector<done_handler> flush_waiters_;
    std::vector<done_handler> stop_waiters_;
    bool failing_ = false;
    clock::time_point last_failure_{};
    std::uint64_t failed_attempts_ = 0;
    std::uint64_t dropped_when_failing_ = 0;
    // Retention: a pass deletes chunk by chunk, then releases free pages step by step.
    clock::time_point retention_next_ = clock::time_point::max();
    bool retention_requested_ = false;
    bool retention_active_ = false;
    bool retention_vacuuming_ = false;
    log_time retention_cutoff_{};
    std::int64_t retention_deleted_in_pass_ = 0;
    std::vector<count_handler> retention_waiters_;
};

} // namespace sqlite_hybrid::detail
