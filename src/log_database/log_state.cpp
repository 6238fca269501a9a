// SPDX-License-Identifier: BSL-1.0
#include "log_state.hpp"

#include "complete_later.hpp"
#include "log_schema.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <sqlite3.h>

#include <cstdio>
#include <limits>
#include <numeric>

namespace sqlite_hybrid::detail {

thread_local bool log_recursion_guard::inside_ = false;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Writes per turn of the flusher before a retention chunk gets its turn (a stop drains all).
constexpr std::size_t batches_per_turn = 16;
// Batches one write takes when that many are buffered, each its own row, in one transaction:
// fewer hops between the flusher and the writer's thread, which matter while logging threads
// keep both cores busy.
constexpr std::size_t batches_per_write = 8;
// Free pages one incremental vacuum step releases.
constexpr std::int64_t vacuum_pages_per_step = 2000;
constexpr const char* own_logger_name = "sqlite_hybrid.log_database";
// Threads of the log database's own pool: the writer, and the reader or a checkpoint beside it.
constexpr std::size_t default_pool_threads = 2;

std::uint64_t total(const log_drop_counts& counts) {
    return std::accumulate(counts.begin(), counts.end(), std::uint64_t{0});
}

// The entry that says how many were dropped while the buffer was full, and of which levels.
log_entry drop_report(const log_drop_counts& counts) {
    log_entry e;
    e.time = log_now();
    e.level = log_level::warn;
    e.logger = own_logger_name;
    std::string by_level;
    std::vector<log_field> fields;
    fields.emplace_back("dropped", total(counts));
    for (std::size_t i = 0; i < counts.size(); ++i) {
        if (counts[i] == 0)
            continue;
        const auto name = log_level_name(static_cast<log_level>(i));
        by_level +=
            (by_level.empty() ? "" : ", ") + std::to_string(counts[i]) + " " + std::string(name);
        fields.emplace_back(name, counts[i]);
    }
    e.message = "dropped " + std::to_string(total(counts)) +
                " log entries while the buffer was full (" + by_level + ")";
    e.extra = encode_log_fields(fields);
    return e;
}

// Bounds that keep the flusher from spinning (a zero interval) or stalling (a zero batch).
log_database_options sanitized(log_database_options o) {
    constexpr std::chrono::milliseconds at_least(1);
    o.flush_interval = std::max(o.flush_interval, at_least);
    o.retry_interval = std::max(o.retry_interval, at_least);
    o.retention_interval = std::max(o.retention_interval, at_least);
    o.batch_size = std::max<std::size_t>(o.batch_size, 1);
    o.max_buffered = std::max<std::size_t>(o.max_buffered, 1);
    o.retention_chunk = std::max<std::size_t>(o.retention_chunk, 1);
    return o;
}

std::unique_ptr<asio::thread_pool> own_pool_for(const database_options& settings) {
    if (settings.pool)
        return nullptr;
    return std::make_unique<asio::thread_pool>(settings.pool_threads > 0 ? settings.pool_threads
                                                                         : default_pool_threads);
}

} // namespace

log_state::log_state(asio::any_io_executor ex, std::string path, log_database_options options)
    : ex_(std::move(ex)), path_(std::move(path)), options_(sanitized(std::move(options))),
      own_pool_(own_pool_for(options_.database_settings)),
      pool_(own_pool_ ? own_pool_.get() : options_.database_settings.pool),
      buffer_(options_.max_buffered) {}

// ---- logging (any thread) ------------------------------------------------------------------

bool log_state::accepting_here() noexcept {
    if (!log_recursion_guard::active())
        return true;
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
}

std::shared_ptr<log_state::flusher_context> log_state::flusher() const {
    std::lock_guard lock(mutex_);
    return flusher_.lock();
}

template <class F> void log_state::wake_flusher(std::shared_ptr<flusher_context> ctx, F then) {
    auto strand = ctx->strand;
    asio::post(strand, [self = shared_from_this(), ctx = std::move(ctx),
                        then = std::move(then)]() mutable {
        then(*self);
        ctx->timer.cancel(); // timers are not thread-safe: only the strand touches it
    });
}

void log_state::log(log_entry&& entry) noexcept {
    const auto level = entry.level;
    try {
        std::shared_ptr<flusher_context> wake;
        {
            std::lock_guard lock(mutex_);
            if (stopping_) {
                ++dropped_after_stop_;
                return;
            }
            ++accepted_;
            log_drop_counts dropped{};
            buffer_.push(std::move(entry), dropped);
            for (std::size_t i = 0; i < dropped.size(); ++i) {
                dropped_[i] += dropped[i];
                drops_to_report_[i] += dropped[i];
            }
            max_buffered_seen_ = std::max(max_buffered_seen_, buffer_.size());
            if (wake_when_full_ && buffer_.size() >= options_.batch_size) {
                wake_when_full_ = false; // one wake-up per wait
                wake = flusher_.lock();
            }
        }
        if (wake)
            wake_flusher(std::move(wake), [](log_state&) {});
    } catch (...) {
        count_lost(level);
    }
}

void log_state::count_lost(log_level level) noexcept {
    try {
        std::lock_guard lock(mutex_);
        ++dropped_[std::min<std::size_t>(static_cast<std::size_t>(level), log_level_count - 1)];
    } catch (...) {
    }
}

void log_state::request_flush() noexcept {
    try {
        if (stopping()) // also keeps a sink flushed by spdlog's thread off a finished flusher
            return;
        if (auto ctx = flusher())
            wake_flusher(std::move(ctx), [](log_state& self) { self.flush_requested_ = true; });
    } catch (...) {
    }
}

// ---- requests (registered on the strand) ---------------------------------------------------

// Hands `handler` to `enlist` on the flusher's strand and wakes the flusher. A request that
// finds the flusher ended (ctx null), or that reaches the strand after it ended, completes with
// `ended` instead.
template <class Handler, class Enlist, class... Ended>
void log_state::enlist_waiter(std::shared_ptr<flusher_context> ctx, Handler handler, Enlist enlist,
                              Ended... ended) {
    if (!ctx)
        return complete_later(ex_, std::move(handler), ended...);
    wake_flusher(std::move(ctx),
                 [h = std::move(handler), enlist, ended...](log_state& self) mutable {
                     if (self.stopped_)
                         return complete_later(self.ex_, std::move(h), ended...);
                     enlist(self, std::move(h));
                 });
}

void log_state::flush(done_handler handler) {
    enlist_waiter(
        flusher(), std::move(handler),
        [](log_state& self, done_handler h) {
            self.flush_waiters_.push_back(std::move(h));
            self.flush_requested_ = true;
        },
        make_error_code(errc::closed));
}

std::shared_ptr<log_state::flusher_context> log_state::mark_stopping() {
    std::lock_guard lock(mutex_);
    stopping_ = true; // from now on log() counts entries instead of taking them
    return flusher_.lock();
}

void log_state::request_stop() noexcept {
    try {
        if (auto ctx = mark_stopping())
            wake_flusher(std::move(ctx), [](log_state&) {});
    } catch (...) { // could not even ask: the flusher stops when its executor goes away
    }
}

void log_state::stop(done_handler handler) {
    auto ctx = mark_stopping();
    // A stop after the flusher's end succeeds, unless an exception ended it.
    enlist_waiter(
        std::move(ctx), std::move(handler),
        [](log_state& self, done_handler h) { self.stop_waiters_.push_back(std::move(h)); },
        ended_with());
}

void log_state::run_retention(count_handler handler) {
    enlist_waiter(
        flusher(), std::move(handler),
        [](log_state& self, count_handler h) {
            self.retention_waiters_.push_back(std::move(h));
            self.retention_requested_ = true;
        },
        make_error_code(errc::closed), std::int64_t{0});
}

void log_state::with_database(database_handler handler) {
    auto ctx = flusher();
    if (!ctx)
        return complete_later(ex_, std::move(handler), make_error_code(errc::closed),
                              std::shared_ptr<database>());
    auto strand = ctx->strand;
    asio::post(strand, [self = shared_from_this(), ctx = std::move(ctx),
                        h = std::move(handler)]() mutable {
        self->database_waiters_.push_back(std::move(h));
        if (!self->opening_)
            self->answer_database_waiters();
    });
}

void log_state::answer_database_waiters() {
    error_code why;
    if (stopped_)
        why = make_error_code(errc::closed);
    else if (!database_)
        why = open_error_ ? open_error_ : make_error_code(errc::closed);
    for (auto& h : database_waiters_)
        complete_later(ex_, std::move(h), why, why ? nullptr : database_);
    database_waiters_.clear();
}

bool log_state::stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
}

log_database_metrics log_state::metrics() const {
    std::lock_guard lock(mutex_);
    log_database_metrics m = written_;
    m.accepted = accepted_;
    m.dropped_by_level = dropped_;
    m.dropped = total(dropped_);
    m.dropped_after_stop = dropped_after_stop_;
    m.suppressed = suppressed_.load(std::memory_order_relaxed);
    m.buffered = buffer_.size();
    m.max_buffered_seen = max_buffered_seen_;
    return m;
}

// ---- opening -------------------------------------------------------------------------------

void log_state::start() {
    auto ctx = std::make_shared<flusher_context>(ex_);
    {
        std::lock_guard lock(mutex_);
        flusher_ = ctx;
    }
    auto strand = ctx->strand;
    // The lambda holds the state and the context until the flusher has started (and run()
    // holds them since).
    auto self = shared_from_this();
    asio::co_spawn(
        strand, [self, ctx = std::move(ctx)] { return self->run(ctx); },
        asio::bind_executor(strand, [self](std::exception_ptr failure) {
            if (failure)
                self->end_after_exception();
        }));
}

// run() ended by an exception (memory ran out): what finish() does, but the file is left to
// close with the state, and everyone waiting hears of the failure.
void log_state::end_after_exception() {
    const auto failed = make_error_code(errc::job_exception);
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        ended_with_ = failed;
    }
    const auto left = drop_buffered();
    report("sqlite_hybrid: log database '" + path_ + "': its flusher ended on an exception; " +
           std::to_string(left) + " buffered entries dropped, later ones are counted");
    mark_stopped(failed, failed);
    answer_database_waiters();
}

error_code log_state::ended_with() const {
    std::lock_guard lock(mutex_);
    return ended_with_;
}

// Runs on the pool: every step touches the file (and may wait for another process's lock), and
// a database that failed to open is destroyed where its handler runs, here too.
log_state::awaitable<error_code> log_state::open_file(std::shared_ptr<database>& out,
                                                      diagnostics& diag) {
    auto settings = options_.database_settings;
    settings.pool = pool_;
    settings.migrations = log_schema_migrations();
    settings.log = [inner = settings.log ? settings.log : default_logger()](
                       log_level level, std::string_view message) {
        log_recursion_guard guard;
        inner(level, message);
    };
    create_log_file(path_); // does something only when the file does not exist yet
    auto [ec, db] =
        co_await database::async_open(ex_, path_, std::move(settings), diag, use_tuple);
    if (ec)
        co_return ec;
    // A pointer: a capture with a destructor meets GCC 12's double destruction of lambdas in a
    // co_await expression.
    auto [prepared] = co_await db.async_maintenance(
        [options = &options_](connection& c) { return prepare_log_file(c, *options); }, diag,
        use_tuple);
    if (prepared) {
        co_await db.async_close(use_tuple);
        co_return prepared;
    }
    out = std::make_shared<database>(std::move(db));
    co_return error_code();
}

log_state::awaitable<error_code> log_state::ensure_open() {
    if (database_)
        co_return error_code();
    std::shared_ptr<database> db;
    diagnostics diag;
    opening_ = true;
    error_code ec;
    {
        // The caller's io_context keeps running while the pool opens the file.
        const auto work = asio::prefer(ex_, asio::execution::outstanding_work.tracked);
        auto [failure, opened] = co_await asio::co_spawn(pool_->get_executor(), open_file(db, diag),
                                                         asio::as_tuple(asio::use_awaitable));
        ec = failure ? make_error_code(errc::job_exception) : opened;
    }
    opening_ = false;
    open_error_ = ec;
    database_ = ec ? nullptr : std::move(db);
    {
        std::lock_guard lock(mutex_);
        written_.open = database_ != nullptr;
    }
    answer_database_waiters();
    if (ec) {
        note_failure(ec, diag, "open it");
        co_return ec;
    }
    retention_next_ = clock::now(); // old entries may be waiting since the last run
    co_return error_code();
}

// The file was deleted or renamed while open: entries written now would go where no one looks.
// The old database is emptied into its file (a renamed file keeps its content) and closed, then
// the path is opened anew. While a reader of the old file blocks that, the entries stay buffered
// and it is tried again like a failed write.
log_state::awaitable<error_code> log_state::reopen_moved_file() {
    diagnostics diag;
    auto [ec, emptied] = co_await database_->async_maintenance(
        [](connection& c) { return empty_wal(c); }, diag, use_tuple);
    if (!ec && !emptied) {
        ec = make_sqlite_error(SQLITE_BUSY);
        diag.message = "the file was deleted or renamed, and a reader of it keeps its WAL busy";
    }
    if (ec) {
        note_failure(ec, diag, "replace it");
        co_return ec;
    }
    auto old = std::exchange(database_, nullptr);
    {
        std::lock_guard lock(mutex_);
        written_.open = false;
        ++written_.reopens;
    }
    report("sqlite_hybrid: log database '" + path_ +
           "': the file was deleted or renamed; writing to a new one at that path");
    co_await old->async_close(use_tuple);
    old.reset();
    co_return co_await ensure_open();
}

// ---- the flusher ---------------------------------------------------------------------------

log_state::awaitable<void> log_state::run(std::shared_ptr<flusher_context> ctx) {
    auto keep_alive = shared_from_this();
    error_code last = co_await ensure_open(); // a failure is reported and retried
    for (;;) {
        co_await wait_for_work(ctx->timer);
        const bool stop_now = stopping();
        const bool forced = std::exchange(flush_requested_, false) || stop_now;
        // Waiters registered before this turn's drain are answered by it.
        const std::size_t answering = flush_waiters_.size();
        bool emptied = false;
        bool attempted = false;
        error_code ec;
        if (forced || !failing_ || clock::now() >= last_failure_ + options_.retry_interval) {
            attempted = true;
            ec = co_await ensure_open();
            if (!ec)
                ec = co_await drain(emptied, stop_now ? std::numeric_limits<std::size_t>::max()
                                                      : batches_per_turn);
            // The file is usable again even with nothing to write: without this, a flusher
            // still "failing" past its retry time would never wait, spinning on the thread.
            if (!ec)
                note_success();
            last = ec;
        }
        if (!stop_now && database_)
            co_await retention_step();
        else if (!database_ && !retention_waiters_.empty())
            end_retention(ec ? ec : last);
        if (attempted && (ec || emptied)) {
            for (std::size_t i = 0; i < answering; ++i)
                complete_later(ex_, std::move(flush_waiters_[i]), ec);
            flush_waiters_.erase(flush_waiters_.begin(),
                                 flush_waiters_.begin() + static_cast<std::ptrdiff_t>(answering));
        }
        if (stop_now)
            break;
    }
    co_await finish(last);
}

log_state::awaitable<void> log_state::wait_for_work(asio::steady_timer& timer) {
    if (flush_requested_ || retention_requested_ || retention_active_)
        co_return;
    const auto now = clock::now();
    auto until = failing_ ? last_failure_ + options_.retry_interval : now + options_.flush_interval;
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || until <= now || (!failing_ && buffer_.size() >= options_.batch_size))
            co_return;
        // While failing, a full batch waits for the retry like the rest.
        wake_when_full_ = !failing_;
    }
    timer.expires_at(until);
    co_await timer.async_wait(use_tuple);
    std::lock_guard lock(mutex_);
    wake_when_full_ = false;
}

bool log_state::anything_buffered() const {
    std::lock_guard lock(mutex_);
    return !buffer_.empty() || total(drops_to_report_) > 0;
}

void log_state::take_batch(std::vector<log_entry>& batch) {
    // Room for all of it first, outside the lock: only this flusher takes, so at least this
    // many are there, and no batch's moves are repeated by a reallocation under the lock.
    std::size_t available = 0;
    {
        std::lock_guard lock(mutex_);
        available = std::min(buffer_.size(), options_.batch_size * batches_per_write);
    }
    batch.reserve(batch.size() + available + 1); // and the drop report
    // A batch at a time: threads logging meanwhile wait for one batch's moves at most.
    for (std::size_t n = 0; n < batches_per_write; ++n) {
        std::lock_guard lock(mutex_);
        if (buffer_.empty())
            break;
        buffer_.take(options_.batch_size, batch);
    }
    std::lock_guard lock(mutex_);
    // Room has returned: say how much was lost while there was none.
    if (total(drops_to_report_) > 0) {
        batch.push_back(drop_report(drops_to_report_));
        drops_to_report_ = {};
    }
}

void log_state::put_back(std::vector<log_entry>& batch) {
    std::lock_guard lock(mutex_);
    log_drop_counts dropped{};
    buffer_.put_back(batch, dropped);
    for (std::size_t i = 0; i < dropped.size(); ++i) {
        dropped_[i] += dropped[i];
        drops_to_report_[i] += dropped[i];
    }
}

log_state::awaitable<error_code> log_state::drain(bool& emptied, std::size_t max_batches) {
    for (std::size_t n = 0; n < max_batches; ++n) {
        if (!anything_buffered()) {
            emptied = true;
            if (!batch_.empty()) // the last batch written: freed on the pool, not kept while idle
                asio::post(*pool_, [written = std::move(batch_)] {});
            batch_.clear();
            co_return error_code();
        }
        diagnostics diag;
        // One transaction per batch. The job takes the batch from the buffer on the pool (the
        // moves and frees of thousands of entries stay off the caller's executor, where they
        // slowed the application's own work) into batch_, where the entries stay until the
        // next job, to go back to the buffer if this write fails. Pointer captures: a capture
        // with a destructor meets GCC 12's double destruction of lambdas in a co_await
        // expression.
        bool taken = false;
        const auto insert = [self = this, taken = &taken,
                             per_row = options_.batch_size](connection& c) -> result<bool> {
            if (!*taken) { // a job run again takes nothing new
                self->batch_.clear(); // the entries written last time
                *taken = true;        // first: what a throwing take moved goes back too
                self->take_batch(self->batch_);
            }
            if (log_file_moved(c))
                return false; // written nowhere: the entries go to the new file
            BOOST_OUTCOME_TRY(insert_log_entries(c, self->batch_, per_row));
            return true;
        };
        auto [ec, written] = co_await database_->async_write(insert, diag, use_tuple);
        if (ec || !written) {
            if (taken)
                put_back(batch_); // else the job never ran, and the buffer still has them
            if (ec) {
                note_failure(ec, diag, "write to it");
                co_return ec;
            }
            if (auto reopen_failed = co_await reopen_moved_file())
                co_return reopen_failed;
            continue;
        }
        note_success();
        std::lock_guard lock(mutex_);
        written_.written += batch_.size();
        ++written_.batches;
    }
    co_return error_code();
}

// ---- retention -----------------------------------------------------------------------------

log_state::awaitable<void> log_state::retention_step() {
    if (!retention_active_) {
        const bool due = retention_requested_ ||
                         (options_.retention_days > 0 && clock::now() >= retention_next_);
        if (!due)
            co_return;
        retention_requested_ = false;
        retention_active_ = true;
        retention_vacuuming_ = options_.retention_days <= 0;
        retention_cutoff_ = log_now() - std::chrono::days(options_.retention_days);
        retention_deleted_in_pass_ = 0;
    }
    auto db = database_;
    diagnostics diag;
    if (!retention_vacuuming_) {
        const auto cutoff = retention_cutoff_;
        const auto chunk = options_.retention_chunk;
        auto [ec, chunk_done] = co_await db->async_write(
            [cutoff, chunk](connection& c) { return delete_log_entries_before(c, cutoff, chunk); },
            diag, use_tuple);
        if (ec) {
            note_failure(ec, diag, "delete old entries from it");
            co_return end_retention(ec);
        }
        retention_deleted_in_pass_ += chunk_done.deleted;
        if (!chunk_done.finished) {
            std::lock_guard lock(mutex_);
            written_.retention_deleted += static_cast<std::uint64_t>(chunk_done.deleted);
            ++written_.retention_chunks;
        } else {
            retention_vacuuming_ = true; // nothing older is left: give the pages back
        }
        co_return;
    }
    auto [ec, step] = co_await db->async_maintenance(
        [](connection& c) { return release_free_pages(c, vacuum_pages_per_step); }, diag,
        use_tuple);
    if (ec) {
        note_failure(ec, diag, "release free pages of it");
        co_return end_retention(ec);
    }
    {
        std::lock_guard lock(mutex_);
        written_.vacuumed_pages += static_cast<std::uint64_t>(step.released);
    }
    if (step.still_free == 0 || step.released == 0)
        end_retention({});
}

void log_state::end_retention(error_code ec) {
    retention_active_ = false;
    retention_requested_ = false;
    retention_next_ = clock::now() + options_.retention_interval;
    for (auto& h : retention_waiters_)
        complete_later(ex_, std::move(h), ec, retention_deleted_in_pass_);
    retention_waiters_.clear();
}

// ---- failures ------------------------------------------------------------------------------

void log_state::note_failure(error_code ec, const diagnostics& diag, std::string_view doing) {
    last_failure_ = clock::now();
    ++failed_attempts_;
    std::uint64_t dropped_so_far = 0;
    {
        std::lock_guard lock(mutex_);
        ++written_.failures;
        written_.failing = true;
        written_.last_error = ec;
        dropped_so_far = total(dropped_);
    }
    if (std::exchange(failing_, true))
        return; // reported once per episode
    failed_attempts_ = 1;
    dropped_when_failing_ = dropped_so_far;
    std::string text = "sqlite_hybrid: log database '" + path_ + "': cannot " + std::string(doing) +
                       ": " + ec.message();
    if (!diag.message.empty() && diag.message != ec.message())
        text += " (" + diag.message + ")";
    text += "; entries stay in memory (at most " + std::to_string(options_.max_buffered) +
            ", the lowest levels dropped beyond) and are written when this clears; not reported "
            "again until then";
    report(text);
}

void log_state::note_success() {
    if (!std::exchange(failing_, false))
        return;
    std::uint64_t dropped_meanwhile = 0;
    {
        std::lock_guard lock(mutex_);
        written_.failing = false;
        dropped_meanwhile = total(dropped_) - dropped_when_failing_;
    }
    report("sqlite_hybrid: log database '" + path_ + "': writing again after " +
           std::to_string(failed_attempts_) + " failed attempts (" +
           std::to_string(dropped_meanwhile) + " entries dropped meanwhile)");
}

void log_state::report(const std::string& text) {
    log_recursion_guard guard; // a report routed into a logger must not come back here
    try {
        if (options_.report)
            options_.report(text);
        else
            std::fprintf(stderr, "%s\n", text.c_str());
    } catch (...) {
    }
}

// ---- stopping ------------------------------------------------------------------------------

log_state::awaitable<void> log_state::finish(error_code last) {
    const auto left = drop_buffered();
    batch_.clear();
    if (database_)
        co_await database_->async_close(use_tuple);
    mark_stopped(left > 0 ? (last ? last : make_error_code(errc::closed)) : error_code(),
                 make_error_code(errc::closed));
}

std::size_t log_state::drop_buffered() {
    std::lock_guard lock(mutex_);
    const auto left = buffer_.clear();
    dropped_after_stop_ += left;
    return left;
}

void log_state::mark_stopped(error_code outcome, error_code retention_outcome) {
    stopped_ = true;
    {
        std::lock_guard lock(mutex_);
        written_.open = false;
    }
    for (auto* waiters : {&stop_waiters_, &flush_waiters_}) {
        for (auto& h : *waiters)
            complete_later(ex_, std::move(h), outcome);
        waiters->clear();
    }
    end_retention(retention_outcome);
}

} // namespace sqlite_hybrid::detail
