#include "log_state.hpp"

#include "complete_later.hpp"
#include "log_schema.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <limits>
#include <numeric>

namespace sqlite_hybrid::detail {

thread_local bool log_recursion_guard::inside_ = false;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Batches per turn of the flusher before a retention chunk gets its turn (a stop drains all).
constexpr std::size_t batches_per_turn = 16;
// Free pages one incremental vacuum step releases.
constexpr std::int64_t vacuum_pages_per_step = 2000;
constexpr const char* own_logger_name = "sqlite_hybrid.log_database";

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

} // namespace

log_state::log_state(asio::any_io_executor ex, std::string path, log_database_options options)
    : ex_(std::move(ex)), path_(std::move(path)), options_(sanitized(std::move(options))),
      strand_(asio::make_strand(ex_)), buffer_(options_.max_buffered), timer_(strand_) {}

// ---- logging (any thread) ------------------------------------------------------------------

bool log_state::accepting_here() noexcept {
    if (!log_recursion_guard::active())
        return true;
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
}

void log_state::log(log_entry&& entry) noexcept {
    const auto level = entry.level;
    try {
        bool wake = false;
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
            if (wake_when_full_ && buffer_.size() >= options_.batch_size)
                wake = std::exchange(wake_when_full_, false); // one wake-up per wait
        }
        if (wake) // timers are not thread-safe: the strand cancels the flusher's wait
            asio::post(strand_, [self = shared_from_this()] { self->timer_.cancel(); });
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
        asio::post(strand_, [self = shared_from_this()] {
            self->flush_requested_ = true;
            self->timer_.cancel();
        });
    } catch (...) {
    }
}

// ---- requests (registered on the strand) ---------------------------------------------------

void log_state::flush(done_handler handler) {
    asio::post(strand_, [self = shared_from_this(), h = std::move(handler)]() mutable {
        if (self->stopped_)
            return complete_later(self->ex_, std::move(h), make_error_code(errc::closed));
        self->flush_waiters_.push_back(std::move(h));
        self->flush_requested_ = true;
        self->timer_.cancel();
    });
}

void log_state::stop(done_handler handler) {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true; // from now on log() counts entries instead of taking them
    }
    asio::post(strand_, [self = shared_from_this(), h = std::move(handler)]() mutable {
        if (self->stopped_)
            return complete_later(self->ex_, std::move(h), error_code());
        self->stop_waiters_.push_back(std::move(h));
        self->timer_.cancel();
    });
}

void log_state::run_retention(count_handler handler) {
    asio::post(strand_, [self = shared_from_this(), h = std::move(handler)]() mutable {
        if (self->stopped_)
            return complete_later(self->ex_, std::move(h), make_error_code(errc::closed),
                                  std::int64_t{0});
        self->retention_waiters_.push_back(std::move(h));
        self->retention_requested_ = true;
        self->timer_.cancel();
    });
}

std::shared_ptr<database> log_state::readable_database(error_code& why) const {
    std::lock_guard lock(database_mutex_);
    if (!database_)
        why = open_error_ ? open_error_ : make_error_code(errc::closed);
    return database_;
}

std::shared_ptr<database> log_state::current_database() const {
    std::lock_guard lock(database_mutex_);
    return database_;
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
    // The first open runs on a private io_context, so that the constructor can wait for it
    // without running (or needing) the caller's.
    asio::io_context local;
    std::shared_ptr<database> db;
    diagnostics diag;
    error_code ec;
    asio::co_spawn(local, open_file(db, diag), [&](std::exception_ptr e, error_code r) {
        ec = e ? make_error_code(errc::job_exception) : r;
    });
    local.run();
    if (ec) {
        note_failure(ec, diag, "open it");
        std::lock_guard lock(database_mutex_);
        open_error_ = ec;
    } else {
        std::lock_guard lock(database_mutex_);
        database_ = std::move(db);
        retention_next_ = clock::now(); // old entries may be waiting since the last run
    }
    // The lambda holds the state until the flusher has started (and run() holds it since).
    asio::co_spawn(
        strand_, [self = shared_from_this()] { return self->run(); }, asio::detached);
}

log_state::awaitable<error_code> log_state::open_file(std::shared_ptr<database>& out,
                                                      diagnostics& diag) {
    auto settings = options_.database_settings;
    settings.migrations = log_schema_migrations();
    settings.log = [inner = settings.log ? settings.log : default_logger()](
                       log_level level, std::string_view message) {
        log_recursion_guard guard;
        inner(level, message);
    };
    // Blocks briefly, and only does something when the file does not exist yet: in the
    // constructor, or when a reopen finds the file gone.
    create_log_file(path_);
    auto [ec, db] =
        co_await database::async_open(ex_, path_, std::move(settings), &diag, use_tuple);
    if (ec)
        co_return ec;
    const auto max_bytes = options_.max_file_bytes;
    auto [prepared] = co_await db.async_maintenance(
        [max_bytes](connection& c) { return prepare_log_file(c, max_bytes); }, diag, use_tuple);
    if (prepared) {
        co_await db.async_close(use_tuple);
        co_return prepared;
    }
    out = std::make_shared<database>(std::move(db));
    co_return error_code();
}

log_state::awaitable<error_code> log_state::ensure_open() {
    if (current_database())
        co_return error_code();
    std::shared_ptr<database> db;
    diagnostics diag;
    const error_code ec = co_await open_file(db, diag);
    {
        std::lock_guard lock(database_mutex_);
        open_error_ = ec;
        database_ = std::move(db);
    }
    if (ec) {
        note_failure(ec, diag, "open it");
        co_return ec;
    }
    retention_next_ = clock::now();
    co_return error_code();
}

// ---- the flusher ---------------------------------------------------------------------------

log_state::awaitable<void> log_state::run() {
    auto keep_alive = shared_from_this();
    error_code last;
    for (;;) {
        co_await wait_for_work();
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
            last = ec;
        }
        if (!stop_now && current_database())
            co_await retention_step();
        else if (!current_database() && !retention_waiters_.empty())
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

log_state::awaitable<void> log_state::wait_for_work() {
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
    timer_.expires_at(until);
    co_await timer_.async_wait(use_tuple);
    std::lock_guard lock(mutex_);
    wake_when_full_ = false;
}

void log_state::take_batch(std::vector<log_entry>& batch) {
    std::lock_guard lock(mutex_);
    buffer_.take(options_.batch_size, batch);
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
    auto db = current_database();
    for (std::size_t n = 0; n < max_batches; ++n) {
        std::vector<log_entry> batch;
        take_batch(batch);
        if (batch.empty()) {
            emptied = true;
            co_return error_code();
        }
        diagnostics diag;
        // One transaction per batch. The entries stay here (the job only points at them, and
        // is done with them when the write completes), to go back to the buffer if it fails.
        // A capture with a destructor would also meet GCC 12's double destruction of lambdas
        // in a co_await expression.
        const auto insert = [entries = &batch](connection& c) {
            return insert_log_entries(c, *entries);
        };
        auto [ec] = co_await db->async_write(insert, diag, use_tuple);
        if (ec) {
            put_back(batch);
            note_failure(ec, diag, "write to it");
            co_return ec;
        }
        note_success();
        std::lock_guard lock(mutex_);
        written_.written += batch.size();
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
    auto db = current_database();
    diagnostics diag;
    if (!retention_vacuuming_) {
        const auto cutoff = retention_cutoff_;
        const auto chunk = options_.retention_chunk;
        auto [ec, deleted] = co_await db->async_write(
            [cutoff, chunk](connection& c) { return delete_log_entries_before(c, cutoff, chunk); },
            diag, use_tuple);
        if (ec) {
            note_failure(ec, diag, "delete old entries from it");
            co_return end_retention(ec);
        }
        retention_deleted_in_pass_ += deleted;
        {
            std::lock_guard lock(mutex_);
            written_.retention_deleted += static_cast<std::uint64_t>(deleted);
            ++written_.retention_chunks;
        }
        if (static_cast<std::size_t>(deleted) < chunk)
            retention_vacuuming_ = true; // nothing older is left: give the pages back
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
    std::size_t left = 0;
    {
        std::lock_guard lock(mutex_);
        left = buffer_.clear();
        dropped_after_stop_ += left;
    }
    if (auto db = current_database())
        co_await db->async_close(use_tuple);
    stopped_ = true;
    const error_code outcome =
        left > 0 ? (last ? last : make_error_code(errc::closed)) : error_code();
    for (auto& h : stop_waiters_)
        complete_later(ex_, std::move(h), outcome);
    for (auto& h : flush_waiters_)
        complete_later(ex_, std::move(h), outcome);
    stop_waiters_.clear();
    flush_waiters_.clear();
    end_retention(make_error_code(errc::closed));
}

} // namespace sqlite_hybrid::detail
