#include "database_impl.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <limits>
#include <random>
#include <thread>

namespace sqlite_hybrid::detail {

namespace {

using clock = std::chrono::steady_clock;

bool is_memory_path(const std::string& p) {
    return p.empty() || p == ":memory:" || p.starts_with("file::memory:") ||
           p.find("mode=memory") != std::string::npos;
}

// Runs one statement through the connection's statement cache. On PostgreSQL, transaction
// control goes through the simple query protocol: a server-side prepared statement would be a
// cache entry to make (and maybe evict) inside a failed transaction, where only ROLLBACK works.
error_code exec(connection& conn, std::string_view sql) {
    if (conn.engine() == backend::postgresql) {
        auto r = conn.execute_script(sql);
        return r ? error_code() : r.error();
    }
    auto stmt = conn.prepare(sql);
    if (!stmt)
        return stmt.error();
    auto r = stmt.value().execute();
    return r ? error_code() : r.error();
}

// One thread per connection, but no more than the cores (at least two, so that a writer waiting
// for another process's lock never stops the readers): more threads than cores only switch.
std::size_t default_pool_threads(const database_options& o, std::size_t readers) {
    if (o.pool_threads)
        return o.pool_threads;
    const std::size_t cores = std::max(2u, std::thread::hardware_concurrency());
    return std::min(readers + 1, cores);
}

// False for failures of the file, the disk or memory, which are not the SQL's fault.
bool refused_by_sql(const error_code& ec) {
    if (ec.category() == postgres_category())
        return ec != condition::connection_lost && ec != condition::disk_full &&
               ec != condition::io_error && ec != condition::interrupted;
    switch (primary_sqlite_code(ec)) {
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
    case SQLITE_INTERRUPT: return false;
    default: return true;
    }
}

int on_wal_commit(void* ctx, sqlite3*, const char*, int pages) {
    static_cast<std::atomic<std::int64_t>*>(ctx)->store(pages, std::memory_order_relaxed);
    return SQLITE_OK;
}

// Re-runs `attempt` while it fails with a lock error, until the deadline. Only at open: the
// pool thread waits here because nothing else can run on a database that is not open yet.
template <class Attempt> error_code retry_locked_until(clock::time_point deadline, Attempt attempt) {
    std::minstd_rand jitter(std::random_device{}());
    for (;;) {
        error_code ec = attempt();
        if (!ec || !is_lock_error(ec) || clock::now() >= deadline)
            return ec;
        std::this_thread::sleep_for(std::chrono::milliseconds(1 + jitter() % 5));
    }
}

} // namespace

namespace {
// The writer waits for another process's lock on its thread at most this long at a time, then
// lets the thread go for this pause before it tries again.
constexpr auto lock_wait_slice = std::chrono::milliseconds(10);
} // namespace

// PostgreSQL keeps the migration version in a table of its own (SQLite: PRAGMA user_version);
// the advisory lock keeps two processes opening at once from both migrating.
constexpr const char* postgres_migration_setup =
    "SELECT pg_advisory_xact_lock(7450315902177431);"
    "CREATE TABLE IF NOT EXISTS sqlite_hybrid_schema (version bigint NOT NULL)";

database_impl::database_impl(asio::any_io_executor io, std::string path, database_options options)
    : io_(std::move(io)), postgres_(parse_database_url(path).engine == backend::postgresql),
      path_(postgres_ ? path : parse_database_url(path).target),
      display_path_(redact_database_url(path_)), options_(std::move(options)),
      log_(options_.log ? options_.log : default_logger()),
      own_pool_(options_.pool ? nullptr
                              : std::make_unique<asio::thread_pool>(default_pool_threads(
                                    options_, is_memory_path(path_) ? 0 : options_.readers))),
      pool_(options_.pool ? options_.pool : own_pool_.get()),
      writer_strand_(asio::make_strand(pool_->get_executor())),
      lock_retry_timer_(writer_strand_),
      checkpoint_strand_(asio::make_strand(pool_->get_executor())),
      next_checkpoint_pages_(options_.checkpoint_threshold_pages) {}

database_impl::~database_impl() {
    readers_.clear();
    writer_.reset();
}

void database_impl::log(log_level level, std::string_view message) const {
    if (log_)
        log_(level, message);
}

// ---- opening -------------------------------------------------------------------------------

error_code database_impl::open(diagnostics& diag) {
    const auto deadline = clock::now() + options_.open_timeout;
    if (auto ec = retry_locked_until(deadline, [&] { return open_writer(diag); }))
        return ec;
    if (auto ec = retry_locked_until(deadline, [&] { return migrate(diag); }))
        return ec;

    if (!postgres_ && writer_settings_.journal_mode == "wal") {
        auto conn = connection::open(path_, open_mode::read_write, options_.connection, &diag);
        if (!conn)
            return conn.error();
        checkpointer_.emplace(std::move(conn).value());
    }

    const std::size_t reader_count = is_memory_path(path_) ? 0 : options_.readers;
    for (std::size_t i = 0; i < reader_count; ++i) {
        auto conn = connection::open(path_, open_mode::read_only, options_.connection, &diag);
        if (!conn)
            return conn.error();
        auto slot = std::make_unique<reader_slot>(asio::make_strand(pool_->get_executor()));
        slot->conn.emplace(std::move(conn).value());
        idle_readers_.push_back(slot.get());
        readers_.push_back(std::move(slot));
    }
    return {};
}

error_code database_impl::open_writer(diagnostics& diag) {
    writer_.reset();
    auto conn = connection::open(path_, open_mode::read_write_create, options_.connection, &diag);
    if (!conn)
        return conn.error();
    writer_.emplace(std::move(conn).value());
    writer_settings_ = writer_->settings();
    if (postgres_)
        return {};
    if (options_.connection.journal == journal_mode::wal && writer_settings_.journal_mode != "wal")
        log(log_level::warn, "WAL could not be enabled for '" + path_ + "' (journal_mode is '" +
                                 writer_settings_.journal_mode +
                                 "'): readers and the writer will block each other");
    // The hook replaces SQLite's automatic checkpoints: a connection of their own runs them,
    // off the writer's path, when a commit leaves the WAL long.
    sqlite3_wal_hook(writer_->native_handle(), &on_wal_commit, &wal_pages_);
    return {};
}

error_code database_impl::migrate(diagnostics& diag) {
    auto& conn = *writer_;
    const auto& steps = options_.migrations;
    if (steps.empty())
        return {};
    auto fail = [&](error_code ec) {
        diag = conn.last_diagnostics();
        if (conn.in_transaction())
            (void)exec(conn, "ROLLBACK");
        return ec;
    };
    // READ COMMITTED whatever the session's default: the version is read after the lock is
    // granted, so it sees what another process's migration committed meanwhile.
    if (auto ec = exec(conn, postgres_ ? "BEGIN ISOLATION LEVEL READ COMMITTED" : "BEGIN IMMEDIATE"))
        return fail(ec);
    if (postgres_)
        if (auto r = conn.execute_script(postgres_migration_setup); !r)
            return fail(r.error());
    auto version = conn.query_one<std::int64_t>(
        postgres_ ? "SELECT coalesce(max(version), 0) FROM sqlite_hybrid_schema"
                  : "PRAGMA user_version");
    if (!version)
        return fail(version.error());
    const auto from = static_cast<std::size_t>(version.value().value_or(0));
    if (from > steps.size())
        log(log_level::warn, "'" + display_path_ + "' has user_version " + std::to_string(from) +
                                 ", newer than the " + std::to_string(steps.size()) +
                                 " migrations this program knows");
    for (std::size_t i = from; i < steps.size(); ++i) {
        if (auto r = conn.execute_script(steps[i]); !r) {
            auto ec = fail(r.error());
            if (is_lock_error(ec))
                return ec;
            diag.message = "migration step " + std::to_string(i + 1) + " failed: " + diag.message;
            // The step's SQL was refused: migration_failed. The file, disk or memory failed: that
            // error, so that callers can tell a full disk from a broken migration.
            return refused_by_sql(ec) ? make_error_code(errc::migration_failed) : ec;
        }
    }
    if (from < steps.size()) {
        const auto n = std::to_string(steps.size());
        if (auto r = conn.execute_script(postgres_ ? "DELETE FROM sqlite_hybrid_schema;"
                                                     "INSERT INTO sqlite_hybrid_schema VALUES (" + n + ")"
                                                   : "PRAGMA user_version=" + n);
            !r)
            return fail(r.error());
    }
    if (auto ec = exec(conn, "COMMIT"))
        return fail(ec);
    if (from < steps.size()) {
        conn.clear_statement_cache(); // statements prepared before may see an older schema
        log(log_level::info, "migrated '" + display_path_ + "' from version " + std::to_string(from) +
                                 " to " + std::to_string(steps.size()));
    }
    return {};
}

// ---- submitting ----------------------------------------------------------------------------

void database_impl::install_cancellation(pending_op& op) {
    auto slot = asio::get_associated_cancellation_slot(op.handler);
    if (!slot.is_connected())
        return;
    op.cancellable = true;
    slot.assign([target = &op](asio::cancellation_type type) {
        if (type == asio::cancellation_type::none)
            return;
        target->cancel_requested = true;
        // A read already running is interrupted; a write is rolled back at its savepoint.
        if (auto* reader = target->running_on.load()) {
            std::lock_guard lock(reader->running_mutex);
            if (reader->running == target)
                reader->conn->interrupt();
        }
    });
}

void database_impl::submit(op_ptr op) {
    install_cancellation(*op);
    if (readers_.empty()) {
        enqueue_write(std::move(op));
        return;
    }
    switch (op->kind) {
    case job_kind::read:
    case job_kind::query: enqueue_read(std::move(op)); return;
    case job_kind::write:
    case job_kind::maintenance: enqueue_write(std::move(op)); return;
    case job_kind::auto_route: {
        std::optional<bool> known;
        {
            std::lock_guard lock(route_mutex_);
            auto it = read_only_sql_.find(op->job->routed_sql());
            if (it != read_only_sql_.end())
                known = it->second;
        }
        if (known && !*known) {
            enqueue_write(std::move(op));
            return;
        }
        op->kind = known ? job_kind::query : job_kind::auto_route; // unknown: a reader checks
        enqueue_read(std::move(op));
        return;
    }
    }
}

void database_impl::enqueue_write(op_ptr op) {
    bool schedule = false;
    {
        std::lock_guard lock(write_mutex_);
        write_queue_.push_back(std::move(op));
        metrics_.write_queue_depth = write_queue_.size();
        metrics_state::raise_max(metrics_.max_write_queue_depth, write_queue_.size());
        schedule = !std::exchange(writer_scheduled_, true);
    }
    if (schedule)
        asio::post(writer_strand_, [self = shared_from_this()] { self->writer_drain(); });
}

void database_impl::enqueue_read(op_ptr op) {
    reader_slot* wake = nullptr;
    {
        std::lock_guard lock(read_mutex_);
        read_queue_.push_back(std::move(op));
        metrics_.read_queue_depth = read_queue_.size();
        metrics_state::raise_max(metrics_.max_read_queue_depth, read_queue_.size());
        if (!idle_readers_.empty()) {
            wake = idle_readers_.back();
            idle_readers_.pop_back();
        }
    }
    if (wake)
        asio::post(wake->strand, [self = shared_from_this(), wake] { self->reader_drain(*wake); });
}

// ---- completing ----------------------------------------------------------------------------

void database_impl::complete(op_ptr op, error_code ec, completion_batch& done) {
    switch (op->kind) {
    case job_kind::read:
    case job_kind::query: ++metrics_.reads; break;
    case job_kind::maintenance: ++metrics_.maintenance; break;
    default: ++metrics_.writes; break;
    }
    if (ec == asio::error::operation_aborted)
        ++metrics_.cancelled;
    else if (ec)
        metrics_.count_error(ec);
    done.add(std::move(op), ec);
}

void database_impl::flush(completion_batch& done) {
    const auto n = done.size();
    if (n == 0)
        return;
    done.flush();
    operation_finished(n);
}

void database_impl::operation_finished(std::size_t n) {
    if (in_flight_.fetch_sub(n) == n && close_requested_)
        maybe_finish_close();
}

error_code database_impl::run_job(connection& conn, pending_op& op) {
    conn.last_diagnostics().clear();
    op.diag.clear();
    error_code ec = op.job->run(conn, op.diag);
    if (ec && op.diag.message.empty()) {
        op.diag = conn.last_diagnostics();
        if (op.diag.message.empty())
            op.diag.message = ec.message();
    }
    return ec;
}

error_code database_impl::begin_group(connection& conn, clock::time_point deadline) {
    if (!postgres_)
        return exec(conn, "BEGIN IMMEDIATE");
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
    // One round trip for both; lock_timeout 0 would mean no limit, and it is an int.
    const auto ms = std::clamp<std::int64_t>(left.count(), 1, std::numeric_limits<int>::max());
    auto r = conn.execute_script("BEGIN; SET LOCAL lock_timeout = " + std::to_string(ms));
    if (!r && conn.in_transaction())
        (void)exec(conn, "ROLLBACK");
    return r ? error_code() : r.error();
}

// PostgreSQL: a connection the server dropped connects again before it runs more jobs; while
// it cannot, the jobs fail with the reason (and the next attempt waits for the backoff).
template <class Ops>
bool database_impl::connection_usable(connection& conn, Ops& ops, completion_batch& done) {
    auto usable = conn.check_connection();
    if (usable)
        return true;
    const diagnostics why = conn.last_diagnostics();
    for (auto& op : ops) {
        op->diag = why;
        complete(std::move(op), usable.error(), done);
    }
    ops.clear();
    return false;
}

// ---- the writer ----------------------------------------------------------------------------

void database_impl::writer_drain() {
    completion_batch done;
    for (;;) {
        std::deque<op_ptr> batch;
        {
            std::lock_guard lock(write_mutex_);
            if (write_queue_.empty()) {
                writer_scheduled_ = false;
                break;
            }
            if (write_queue_.front()->kind == job_kind::maintenance) {
                batch.push_back(std::move(write_queue_.front()));
                write_queue_.pop_front();
            } else {
                take_writes_locked(batch);
            }
            metrics_.write_queue_depth = write_queue_.size();
        }
        group_outcome outcome = group_outcome::done;
        if (!connection_usable(*writer_, batch, done)) {
            flush(done);
            continue;
        }
        if (batch.front()->kind == job_kind::maintenance)
            run_maintenance(std::move(batch.front()), done);
        else
            outcome = run_group(batch, done);
        count_lock_waits(*writer_);
        if (outcome == group_outcome::locked) {
            // Another process holds the write lock: the writes wait in the queue, and the
            // thread is free for others until the next try.
            requeue_front(batch);
            const bool still_waiting = expire_lock_waits(done);
            flush(done);
            if (still_waiting) {
                lock_retry_timer_.expires_after(lock_retry_pause);
                lock_retry_timer_.async_wait(
                    [self = shared_from_this()](error_code) { self->writer_drain(); });
            }
            return;
        }
        flush(done);
        checkpoint_if_needed();
    }
}

// Fails the writes whose lock deadline has passed; false when no write is left waiting.
bool database_impl::expire_lock_waits(completion_batch& done) {
    const auto now = clock::now();
    std::vector<op_ptr> expired;
    bool waiting = false;
    {
        std::lock_guard lock(write_mutex_);
        for (auto it = write_queue_.begin(); it != write_queue_.end();) {
            if ((*it)->kind != job_kind::maintenance && (*it)->lock_deadline <= now) {
                expired.push_back(std::move(*it));
                it = write_queue_.erase(it);
            } else {
                ++it;
            }
        }
        metrics_.write_queue_depth = write_queue_.size();
        waiting = !write_queue_.empty();
        if (!waiting)
            writer_scheduled_ = false;
    }
    for (auto& op : expired) {
        op->diag.message = "another connection held the write lock past this write's deadline";
        complete(std::move(op), make_sqlite_error(SQLITE_BUSY), done);
    }
    return waiting;
}

void database_impl::count_lock_waits(connection& conn) {
    const auto waits = conn.take_lock_waits();
    if (waits.count == 0)
        return;
    metrics_.busy_waits.fetch_add(waits.count, std::memory_order_relaxed);
    metrics_.busy_wait_us.fetch_add(
        static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(waits.time).count()),
        std::memory_order_relaxed);
}

void database_impl::take_writes_locked(std::deque<op_ptr>& batch) {
    while (!write_queue_.empty() && batch.size() < options_.max_group_size &&
           write_queue_.front()->kind != job_kind::maintenance) {
        batch.push_back(std::move(write_queue_.front()));
        write_queue_.pop_front();
    }
}

bool database_impl::take_more_writes(std::deque<op_ptr>& batch, std::size_t taken,
                                     clock::time_point started) {
    if (taken >= options_.max_group_size || clock::now() - started >= options_.max_group_duration)
        return false;
    std::lock_guard lock(write_mutex_);
    const auto before = batch.size();
    while (!write_queue_.empty() && batch.size() + taken < options_.max_group_size &&
           write_queue_.front()->kind != job_kind::maintenance) {
        batch.push_back(std::move(write_queue_.front()));
        write_queue_.pop_front();
    }
    metrics_.write_queue_depth = write_queue_.size();
    return batch.size() > before;
}

void database_impl::requeue_front(std::deque<op_ptr>& batch) {
    std::lock_guard lock(write_mutex_);
    while (!batch.empty()) {
        write_queue_.push_front(std::move(batch.back()));
        batch.pop_back();
    }
    metrics_.write_queue_depth = write_queue_.size();
}

void database_impl::fail_all(std::vector<op_ptr>& ops, error_code ec, const diagnostics& diag,
                             completion_batch& done) {
    for (auto& op : ops) {
        op->job->discard_result();
        op->diag = diag;
        complete(std::move(op), ec, done);
    }
    ops.clear();
}

// Queued writes run in one transaction. First without savepoints (they cost about 20 %): if a
// job fails, the whole transaction rolls back and the group runs again with a savepoint around
// each job, so that only the failing job's effects go and the others still commit.
database_impl::group_outcome database_impl::run_group(std::deque<op_ptr>& batch,
                                                      completion_batch& done) {
    auto outcome = run_group_once(batch, done, false);
    if (outcome == group_outcome::rerun) {
        ++metrics_.group_reruns;
        outcome = run_group_once(batch, done, true);
    }
    return outcome;
}

database_impl::group_outcome database_impl::run_group_once(std::deque<op_ptr>& batch,
                                                           completion_batch& done,
                                                           bool savepoints) {
    auto& conn = *writer_;
    // Waits for another process's lock in short slices, never past the earliest deadline.
    auto deadline = batch.front()->lock_deadline;
    for (const auto& op : batch)
        deadline = std::min(deadline, op->lock_deadline);
    conn.limit_lock_wait(lock_wait_slice, deadline);
    const auto started = clock::now();
    if (auto ec = begin_group(conn, deadline)) {
        if (is_lock_error(ec))
            return group_outcome::locked;
        std::vector<op_ptr> all(std::make_move_iterator(batch.begin()),
                                std::make_move_iterator(batch.end()));
        batch.clear();
        fail_all(all, ec, conn.last_diagnostics(), done);
        return group_outcome::done;
    }

    std::vector<op_ptr> ran; // succeeded, waiting for the shared COMMIT
    std::size_t taken = 0;
    while (!batch.empty() || take_more_writes(batch, taken, started)) {
        op_ptr op = std::move(batch.front());
        batch.pop_front();
        ++taken;
        if (op->cancel_requested) {
            complete(std::move(op), asio::error::operation_aborted, done);
            continue;
        }
        error_code ec = savepoints ? exec(conn, "SAVEPOINT job") : error_code();
        if (!ec)
            ec = run_job(conn, *op);
        if (!ec && conn.transaction_failed()) {
            // The job succeeded though one of its statements failed (it ignored the error):
            // PostgreSQL has aborted the transaction, so the job's work is not there.
            ec = make_postgres_error("25P02");
            op->diag.message = "a statement of this job failed and the job went on; the "
                               "transaction was aborted by PostgreSQL";
        }
        if (!ec && op->cancel_requested)
            ec = asio::error::operation_aborted;
        if (!ec) {
            if (savepoints)
                (void)exec(conn, "RELEASE job");
            ran.push_back(std::move(op));
            continue;
        }
        if (!conn.in_transaction()) {
            // SQLite rolled the whole transaction back (I/O error, disk full): the jobs that
            // ran before are gone too; the jobs not yet run go back to the queue.
            ++metrics_.transactions_lost;
            diagnostics why = op->diag;
            op->job->discard_result();
            complete(std::move(op), ec, done);
            fail_all(ran, ec, why, done);
            requeue_front(batch);
            return group_outcome::done;
        }
        op->job->discard_result();
        if (!savepoints && !ran.empty()) {
            (void)exec(conn, "ROLLBACK");
            batch.push_front(std::move(op));
            for (auto it = ran.rbegin(); it != ran.rend(); ++it) {
                (*it)->job->discard_result();
                batch.push_front(std::move(*it));
            }
            return group_outcome::rerun;
        }
        // The job's own effects go: with a savepoint, only them; without (it ran first), the
        // transaction holds nothing else and goes on with the next jobs.
        (void)exec(conn, savepoints ? "ROLLBACK TO job" : "ROLLBACK");
        if (savepoints)
            (void)exec(conn, "RELEASE job");
        else
            (void)begin_group(conn, deadline);
        complete(std::move(op), ec, done);
        if (!conn.in_transaction()) { // could not take the lock again: the rest waits
            requeue_front(batch);
            return group_outcome::done;
        }
    }
    requeue_front(batch); // group bounds reached with jobs still in hand

    if (ran.empty()) {
        (void)exec(conn, "ROLLBACK");
        return group_outcome::done;
    }
    // PostgreSQL answers COMMIT of a failed transaction with a ROLLBACK, not an error.
    error_code commit = conn.transaction_failed() ? make_postgres_error("25P02") : exec(conn, "COMMIT");
    if (commit && conn.transaction_failed())
        conn.last_diagnostics().message = "the transaction was aborted by a failed statement";
    // A COMMIT that finds the lock busy (readers in rollback-journal mode) leaves the
    // transaction open: the COMMIT is tried again, not the work.
    while (is_lock_error(commit) && conn.in_transaction() && clock::now() < deadline)
        commit = exec(conn, "COMMIT");
    if (auto ec = commit) {
        ++metrics_.commit_failures;
        diagnostics why = conn.last_diagnostics();
        if (conn.in_transaction())
            (void)exec(conn, "ROLLBACK");
        fail_all(ran, ec, why, done);
        return group_outcome::done;
    }
    ++metrics_.groups;
    metrics_.grouped_jobs += ran.size();
    metrics_state::raise_max(metrics_.largest_group, ran.size());
    for (auto& op : ran)
        complete(std::move(op), {}, done);
    return group_outcome::done;
}

void database_impl::run_maintenance(op_ptr op, completion_batch& done) {
    if (op->cancel_requested) {
        complete(std::move(op), asio::error::operation_aborted, done);
        return;
    }
    auto& conn = *writer_;
    conn.limit_lock_wait(std::nullopt, op->lock_deadline);
    error_code ec = run_job(conn, *op);
    // A deferred transaction that read and then wrote while another connection committed:
    // waiting cannot help, the whole transaction must run again (a few times at most).
    for (int rerun = 0; ec == make_sqlite_error(SQLITE_BUSY_SNAPSHOT) && rerun < 3; ++rerun) {
        if (rerun == 0)
            log(log_level::warn, "a maintenance job's deferred transaction turned into a write "
                                 "and lost its snapshot; it runs again (use async_write, which "
                                 "starts with BEGIN IMMEDIATE)");
        if (conn.in_transaction())
            (void)exec(conn, "ROLLBACK");
        op->job->discard_result();
        ec = run_job(conn, *op);
    }
    if (conn.in_transaction()) {
        (void)exec(conn, "ROLLBACK");
        if (!ec) {
            ec = make_sqlite_error(SQLITE_MISUSE);
            op->diag.message = "a maintenance job left a transaction open; it was rolled back";
        }
    }
    complete(std::move(op), ec, done);
}

// On the writer strand, after a group. The bulk of checkpointing runs in the background; only
// when the WAL cannot start over by itself does the writer run a RESTART checkpoint, between
// two groups, where the write lock is free for it.
void database_impl::checkpoint_if_needed() {
    const auto pages = wal_pages_.load(std::memory_order_relaxed);
    metrics_.wal_pages = static_cast<std::uint64_t>(pages);
    if (pages < next_checkpoint_pages_) {
        if (pages < options_.checkpoint_threshold_pages) // the WAL started over
            next_checkpoint_pages_ = options_.checkpoint_threshold_pages;
        return;
    }
    if (!checkpointer_ || checkpoint_running_.exchange(true))
        return;
    if (pages >= options_.checkpoint_restart_pages) {
        // When readers or other processes kept it from finishing, wait for the WAL to grow by
        // another threshold before trying again, instead of after every group.
        const bool finished = run_checkpoint(*writer_, SQLITE_CHECKPOINT_RESTART);
        checkpoint_running_ = false;
        next_checkpoint_pages_ =
            finished ? options_.checkpoint_threshold_pages : pages + options_.checkpoint_threshold_pages;
        return;
    }
    // Passive checkpoints again only once the WAL has grown by half a threshold more.
    next_checkpoint_pages_ = pages + std::max<std::int64_t>(1, options_.checkpoint_threshold_pages / 2);
    ++in_flight_; // closing waits for it like for any operation
    if (close_started_) {
        // Closing began before the count went up: the checkpointer is about to close.
        checkpoint_running_ = false;
        --in_flight_;
        return;
    }
    asio::post(checkpoint_strand_, [self = shared_from_this()] {
        self->run_checkpoint(*self->checkpointer_, SQLITE_CHECKPOINT_PASSIVE);
        self->checkpoint_running_ = false;
        self->operation_finished(1);
    });
}

bool database_impl::run_checkpoint(connection& conn, int mode) {
    int log_frames = 0;
    int copied = 0;
    const int rc =
        sqlite3_wal_checkpoint_v2(conn.native_handle(), nullptr, mode, &log_frames, &copied);
    ++metrics_.checkpoints;
    if (mode == SQLITE_CHECKPOINT_RESTART)
        ++metrics_.checkpoint_restarts;
    if (rc == SQLITE_OK && copied >= log_frames)
        return true;
    ++metrics_.checkpoints_incomplete;
    if (mode == SQLITE_CHECKPOINT_RESTART)
        log(log_level::debug, "RESTART checkpoint of '" + path_ + "' did not finish (" +
                                  (rc == SQLITE_OK ? std::to_string(log_frames - copied) +
                                                         " frames left behind by readers"
                                                   : std::string(sqlite3_errstr(rc))) +
                                  ")");
    return false;
}

// ---- the readers ---------------------------------------------------------------------------

void database_impl::reader_drain(reader_slot& reader) {
    // Takes a few jobs per lock: the queue's mutex is shared with every caller's thread.
    constexpr std::size_t take_at_most = 8;
    completion_batch done;
    std::vector<op_ptr> taken;
    taken.reserve(take_at_most);
    for (;;) {
        {
            std::lock_guard lock(read_mutex_);
            while (!read_queue_.empty() && taken.size() < take_at_most) {
                taken.push_back(std::move(read_queue_.front()));
                read_queue_.pop_front();
            }
            metrics_.read_queue_depth.store(read_queue_.size(), std::memory_order_relaxed);
        }
        if (taken.empty()) {
            flush(done);
            std::lock_guard lock(read_mutex_);
            if (read_queue_.empty()) {
                idle_readers_.push_back(&reader);
                return;
            }
            continue;
        }
        // Jobs taken together share one read transaction: each was queued before it began, so
        // each still sees every write acknowledged before it was submitted, and the file and
        // WAL locks are taken once per batch instead of once per statement.
        auto& conn = *reader.conn;
        if (!connection_usable(conn, taken, done)) {
            flush(done);
            continue;
        }
        // Not on PostgreSQL, where one failing statement would abort the shared transaction.
        const bool shared = !postgres_ && taken.size() > 1 && !exec(conn, "BEGIN");
        for (auto& op : taken)
            run_read(reader, op, done);
        if (shared && conn.in_transaction())
            (void)exec(conn, "COMMIT");
        taken.clear();
        if (done.size() >= 16) // bound the latency that batching adds
            flush(done);
    }
}

void database_impl::run_read(reader_slot& reader, op_ptr& op, completion_batch& done) {
    if (op->cancel_requested) {
        complete(std::move(op), asio::error::operation_aborted, done);
        return;
    }
    auto& conn = *reader.conn;
    if (op->kind == job_kind::auto_route) {
        const std::string_view sql = op->job->routed_sql();
        auto stmt = conn.prepare(sql);
        if (!stmt) {
            op->diag = conn.last_diagnostics();
            complete(std::move(op), stmt.error(), done);
            return;
        }
        const bool read_only = stmt.value().read_only();
        stmt = statement();
        {
            std::lock_guard lock(route_mutex_);
            if (read_only_sql_.size() > 4096) // bounded: learned again on demand
                read_only_sql_.clear();
            if (read_only_sql_.find(sql) == read_only_sql_.end())
                read_only_sql_.emplace(std::string(sql), read_only);
        }
        if (!read_only) {
            enqueue_write(std::move(op));
            return;
        }
    }
    if (op->cancellable) {
        std::lock_guard lock(reader.running_mutex);
        reader.running = op.get();
        op->running_on = &reader;
    }
    // A read job gets a snapshot of its own, unless it runs inside a batch's shared one.
    const bool own_snapshot = op->kind == job_kind::read && !conn.in_transaction();
    const bool routed = op->kind != job_kind::read;
    op->kind = job_kind::read; // counted where it ran
    error_code ec = own_snapshot ? exec(conn, begin_read()) : error_code();
    if (!ec)
        ec = run_job(conn, *op);
    if (own_snapshot && conn.in_transaction())
        (void)exec(conn, ec ? "ROLLBACK" : "COMMIT");
    if (op->cancellable) { // a cancellation must not reach this reader any more
        std::lock_guard lock(reader.running_mutex);
        reader.running = nullptr;
        op->running_on = nullptr;
    }
    if (routed && postgres_sqlstate(ec) == "25006") {
        // A statement that looked like a read writes (a data-modifying WITH, nextval(), FOR
        // UPDATE): learn it and send it to the writer.
        {
            std::lock_guard lock(route_mutex_);
            read_only_sql_.insert_or_assign(std::string(op->job->routed_sql()), false);
        }
        op->job->discard_result();
        op->kind = job_kind::write;
        enqueue_write(std::move(op));
        return;
    }
    if (ec && op->cancel_requested && ec == condition::interrupted)
        ec = asio::error::operation_aborted;
    complete(std::move(op), ec, done);
}

// ---- closing -------------------------------------------------------------------------------

void database_impl::request_close(asio::any_completion_handler<void(error_code)> handler) {
    {
        std::lock_guard lock(close_mutex_);
        if (connections_closed_) {
            auto ex = asio::get_associated_executor(handler, io_);
            asio::dispatch(ex, [h = std::move(handler)]() mutable {
                std::move(h)(make_error_code(errc::closed));
            });
            return;
        }
        close_handlers_.push_back(std::move(handler));
    }
    close_requested_ = true;
    maybe_finish_close();
}

void database_impl::maybe_finish_close() {
    if (close_requested_ && in_flight_ == 0 && !close_started_.exchange(true))
        asio::post(writer_strand_, [self = shared_from_this()] { self->finish_close(); });
}

void database_impl::finish_close() {
    for (auto& r : readers_)
        r->conn.reset();
    checkpointer_.reset();
    writer_.reset(); // the last connection to close checkpoints and removes the WAL
    std::vector<asio::any_completion_handler<void(error_code)>> handlers;
    {
        std::lock_guard lock(close_mutex_);
        connections_closed_ = true;
        handlers.swap(close_handlers_);
    }
    close_cv_.notify_all();
    for (auto& h : handlers) {
        auto ex = asio::get_associated_executor(h, io_);
        asio::dispatch(ex, [h = std::move(h)]() mutable { std::move(h)(error_code()); });
    }
}

void database_impl::shutdown() noexcept {
    close_requested_ = true;
    std::deque<op_ptr> queued;
    {
        std::lock_guard lock(write_mutex_);
        queued.swap(write_queue_);
    }
    {
        std::lock_guard lock(read_mutex_);
        for (auto& op : read_queue_)
            queued.push_back(std::move(op));
        read_queue_.clear();
    }
    completion_batch done;
    for (auto& op : queued) {
        op->diag.message = "the database was destroyed before this job ran";
        complete(std::move(op), make_error_code(errc::closed), done);
    }
    flush(done);
    maybe_finish_close();
    std::unique_lock lock(close_mutex_);
    close_cv_.wait(lock, [this] { return connections_closed_; });
}

metrics_snapshot database_impl::metrics() const { return metrics_.snapshot(); }

} // namespace sqlite_hybrid::detail
