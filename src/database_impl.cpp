// SPDX-License-Identifier: BSL-1.0
#include "database_impl.hpp"
#include "postgres/pg_statement_guard.hpp"
#include "postgres/pg_wait_scope.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <limits>
#include <random>
#include <thread>

namespace sqlite_hybrid::detail {

namespace {

// A failure of the environment rather than of the job: the same work may succeed next time.
bool passing_failure(const error_code& ec) {
    return ec && (ec == condition::io_error || ec == condition::disk_full || is_lock_error(ec) ||
                  primary_sqlite_code(ec) == SQLITE_NOMEM);
}

// A job whose outcome the jobs after it were answered with runs again after a passing failure
// this many times at most (a fault that does not pass ends it with its error).
constexpr int max_promised_reruns = 8;

using clock = std::chrono::steady_clock;

void mark_running(interrupt_target& target, pending_op& op, connection& conn) {
    if (!op.cancellable)
        return;
    std::lock_guard lock(target.mutex);
    target.running = &op;
    target.conn = &conn;
    op.running_on = &target;
}

// From here on, a cancellation of `op` must not reach the connection any more.
void mark_done(interrupt_target& target, pending_op& op) {
    if (!op.cancellable)
        return;
    std::lock_guard lock(target.mutex);
    target.running = nullptr;
    op.running_on = nullptr;
}

bool is_memory_path(const std::string& p) {
    return p.empty() || p == ":memory:" || p.starts_with("file::memory:") ||
           p.find("mode=memory") != std::string::npos;
}

// The text of the library's own statements on PostgreSQL, which runs them through the simple
// query protocol: a server-side prepared statement would be a cache entry to make (and maybe
// evict) inside a failed transaction, where only ROLLBACK works.
const char* postgres_sql(transaction_statement which) {
    switch (which) {
    case transaction_statement::begin_immediate: return "BEGIN";
    case transaction_statement::begin_deferred: // a read job's snapshot
        return "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    case transaction_statement::commit: return "COMMIT";
    case transaction_statement::rollback: return "ROLLBACK";
    case transaction_statement::savepoint: return "SAVEPOINT sqlite_hybrid_job";
    case transaction_statement::release: return "RELEASE SAVEPOINT sqlite_hybrid_job";
    case transaction_statement::rollback_to: return "ROLLBACK TO SAVEPOINT sqlite_hybrid_job";
    }
    return "ROLLBACK";
}

// Runs one of the library's transaction statements on a connection (`control` is null on
// PostgreSQL).
error_code tx_result(const result<void>& r) { return r ? error_code() : r.error(); }

error_code tx(connection& conn, transaction_control* control, transaction_statement which) {
    if (control)
        return control->run(which);
    return tx_result(conn.execute_script(postgres_sql(which)));
}

// SQLite: one thread per connection, but no more than the cores (at least two, so that a
// writer waiting for another process's lock never stops the readers): more threads than cores
// only switch. PostgreSQL: one per connection, since they wait for the server, not the cores,
// and a writer waiting for a row lock or a long read must not hold up the other readers.
std::size_t default_pool_threads(const database_options& o, std::size_t readers, bool postgres) {
    if (o.pool_threads)
        return o.pool_threads;
    if (postgres)
        return readers + 1;
    const std::size_t cores = std::max(2u, std::thread::hardware_concurrency());
    return std::min(readers + 1, cores);
}

// Whether a wait on the server still serves someone: a promised rerun always does; any other
// job until it is cancelled or, for a write, its lock deadline has passed.
template <class Ops>
bool anyone_waits(const Ops& ops, bool writes) {
    const auto now = clock::now();
    return std::any_of(ops.begin(), ops.end(), [&](const op_ptr& op) {
        return op && (op->ran_once ||
                      (!op->cancel_requested && (!writes || op->kind == job_kind::maintenance ||
                                                 now < op->lock_deadline)));
    });
}

// What a job is answered when it failed before it ran: cancelled if it was (a promised rerun
// has been answered for already and cannot be), else `ec`.
error_code unless_cancelled(const pending_op& op, error_code ec) {
    return op.cancel_requested && !op.ran_once ? error_code(asio::error::operation_aborted) : ec;
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
                                    options_, is_memory_path(path_) ? 0 : options_.readers,
                                    postgres_))),
      pool_(options_.pool ? options_.pool : own_pool_.get()),
      writer_strand_(asio::make_strand(pool_->get_executor())),
      lock_retry_timer_(writer_strand_),
      checkpoint_strand_(asio::make_strand(pool_->get_executor())),
      next_checkpoint_pages_(options_.checkpoint_threshold_pages) {
    if (postgres_ && !options_.connection.postgres.notices)
        options_.connection.postgres.notices = log_; // the server's warnings, not stderr
}

database_impl::~database_impl() {
    readers_.clear();
    writer_control_.reset();
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
        if (auto ec = on_connect(*slot->conn, diag))
            return ec;
        if (!postgres_)
            slot->control = std::make_unique<transaction_control>(*slot->conn);
        idle_readers_.push_back(slot.get());
        readers_.push_back(std::move(slot));
    }
    return {};
}

error_code database_impl::on_connect(connection& conn, diagnostics& diag) {
    if (!options_.on_connect)
        return {};
    conn.last_diagnostics().clear();
    auto r = options_.on_connect(conn);
    if (r)
        return {};
    diag = conn.last_diagnostics();
    diag.message = "database_options::on_connect failed" +
                   (diag.message.empty() ? std::string() : ": " + diag.message);
    return r.error();
}

error_code database_impl::open_writer(diagnostics& diag) {
    writer_control_.reset();
    writer_.reset();
    auto conn = connection::open(path_, open_mode::read_write_create, options_.connection, &diag);
    if (!conn)
        return conn.error();
    writer_.emplace(std::move(conn).value());
    writer_settings_ = writer_->settings();
    if (auto ec = on_connect(*writer_, diag))
        return ec;
    if (postgres_)
        return {};
    writer_control_ = std::make_unique<transaction_control>(*writer_);
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
            (void)tx(conn, writer_control_.get(), transaction_statement::rollback);
        return ec;
    };
    // READ COMMITTED whatever the session's default: the version is read after the lock is
    // granted, so it sees what another process's migration committed meanwhile.
    if (auto ec = postgres_ ? tx_result(conn.execute_script("BEGIN ISOLATION LEVEL READ COMMITTED"))
                            : tx(conn, writer_control_.get(), transaction_statement::begin_immediate))
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
    if (auto ec = tx(conn, writer_control_.get(), transaction_statement::commit))
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
    slot.assign([this, target = &op](asio::cancellation_type type) {
        if (type == asio::cancellation_type::none)
            return;
        target->cancel_requested = true;
        // A job running now is interrupted; a queued one never starts (a write waiting for
        // another process's lock leaves the queue within one wait slice).
        if (auto* running = target->running_on.load()) {
            std::lock_guard lock(running->mutex);
            if (running->running == target)
                running->conn->interrupt();
        }
        // Last: once withdrawn, the op may complete and be gone at any moment.
        withdraw_queued(*target);
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
        if (!known) { // a reader checks whether it writes; the writes after it wait for that
            std::lock_guard lock(write_mutex_);
            op->write_ticket = write_order_.take();
        }
        op->kind = known ? job_kind::query : job_kind::auto_route;
        enqueue_read(std::move(op));
        return;
    }
    }
}

void database_impl::enqueue_write(op_ptr op) {
    auto& holder = *op;
    settle_write_turn(holder, std::move(op));
}

void database_impl::give_up_write_turn(pending_op& op) {
    // Only its owner writes the ticket of an op that is not waiting for its turn: no lock to
    // learn that it has none, the common case.
    if (op.write_ticket != submission_order<op_ptr>::no_ticket)
        settle_write_turn(op, nullptr);
}

void database_impl::settle_write_turn(pending_op& holder, op_ptr op) {
    bool schedule = false;
    {
        std::lock_guard lock(write_mutex_);
        auto ticket = std::exchange(holder.write_ticket, submission_order<op_ptr>::no_ticket);
        if (ticket == submission_order<op_ptr>::no_ticket)
            ticket = write_order_.take();
        if (op) // keeps its ticket while it waits, so that its cancellation can find it
            op->write_ticket = ticket;
        bool admitted = false;
        write_order_.settle(ticket, std::move(op), [&](op_ptr ready) {
            ready->write_ticket = submission_order<op_ptr>::no_ticket;
            write_queue_.push_back(std::move(ready));
            admitted = true;
        });
        if (!admitted)
            return;
        metrics_.write_queue_depth = write_queue_.size();
        metrics_state::raise_max(metrics_.max_write_queue_depth, write_queue_.size());
        schedule = !std::exchange(writer_scheduled_, true);
    }
    if (schedule)
        asio::post(writer_strand_, [self = shared_from_this()] { self->writer_drain(); });
}

void database_impl::withdraw_queued(pending_op& op) {
    op_ptr withdrawn;
    {
        std::lock_guard lock(write_mutex_);
        if (op.write_ticket != submission_order<op_ptr>::no_ticket) {
            withdrawn = write_order_.withdraw(op.write_ticket); // waiting for its turn
            if (withdrawn)
                withdrawn->write_ticket = submission_order<op_ptr>::no_ticket;
        }
    }
    if (!withdrawn) { // waiting for a reader (to run, or to be routed: its turn is skipped)
        std::lock_guard lock(read_mutex_);
        auto it = std::find_if(read_queue_.begin(), read_queue_.end(),
                               [&](const op_ptr& queued) { return queued.get() == &op; });
        if (it == read_queue_.end())
            return; // running, or on the writer: they see the cancellation
        withdrawn = std::move(*it);
        read_queue_.erase(it);
        metrics_.read_queue_depth.store(read_queue_.size(), std::memory_order_relaxed);
    }
    // Answered from the pool, as every operation is, never inside the caller's cancellation.
    asio::post(pool_->get_executor(), [self = shared_from_this(), op = std::move(withdrawn)]() mutable {
        completion_batch done;
        self->complete(std::move(op), asio::error::operation_aborted, done);
        self->flush(done);
    });
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
    give_up_write_turn(*op); // it ends before its routing was decided
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

error_code database_impl::run_job(connection& conn, transaction_control* control, pending_op& op,
                                  transaction_control::mode mode) {
    conn.last_diagnostics().clear();
    op.diag.clear();
    error_code ec;
    if (control) {
        transaction_control::scope scope(*control, mode);
        ec = op.job->run(conn, op.diag);
        // Refused even when the job went on past the refusal: what it meant to do is not done.
        if (auto why = control->take_refusal(); !why.empty()) {
            op.diag = conn.last_diagnostics();
            op.diag.message = std::move(why);
            return make_error_code(errc::statement_refused);
        }
    } else if (postgres_ && mode != transaction_control::mode::maintenance) {
        postgres_statement_guard guard(conn, mode == transaction_control::mode::write_job);
        ec = op.job->run(conn, op.diag);
    } else {
        ec = op.job->run(conn, op.diag);
    }
    if (ec && op.diag.message.empty()) {
        op.diag = conn.last_diagnostics();
        if (op.diag.message.empty())
            op.diag.message = ec.message();
    }
    return ec;
}

error_code database_impl::begin_group(connection& conn, clock::time_point deadline) {
    if (!postgres_)
        return tx(conn, writer_control_.get(), transaction_statement::begin_immediate);
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
    // One round trip for both; lock_timeout 0 would mean no limit, and it is an int.
    const auto ms = std::clamp<std::int64_t>(left.count(), 1, std::numeric_limits<int>::max());
    auto r = conn.execute_script("BEGIN; SET LOCAL lock_timeout = " + std::to_string(ms));
    if (!r && conn.in_transaction())
        (void)tx(conn, nullptr, transaction_statement::rollback);
    return tx_result(r);
}

// PostgreSQL: a connection the server dropped connects again before it runs more jobs; while
// it cannot, the jobs fail with the reason (and the next attempt waits for the backoff). The
// connecting ends early when none of them waits for it any more.
template <class Ops>
bool database_impl::connection_usable(connection& conn, Ops& ops, completion_batch& done) {
    server_wait_scope waiting([&] { return anyone_waits(ops, writer_ && &conn == &*writer_); });
    auto usable = conn.check_connection();
    if (usable)
        return true;
    const diagnostics why = conn.last_diagnostics();
    for (auto& op : ops) {
        const error_code ec = unless_cancelled(*op, usable.error());
        if (ec == usable.error())
            op->diag = why;
        complete(std::move(op), ec, done);
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
            if (destroying_) {
                batch.swap(write_queue_);
            } else if (write_queue_.front()->kind == job_kind::maintenance ||
                       write_queue_.front()->run_alone) {
                batch.push_back(std::move(write_queue_.front()));
                write_queue_.pop_front();
            } else {
                take_writes_locked(batch);
            }
            metrics_.write_queue_depth = write_queue_.size();
        }
        if (destroying_) {
            fail_destroyed(batch, done);
            flush(done);
            continue;
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

void database_impl::fail_destroyed(std::deque<op_ptr>& ops, completion_batch& done) {
    for (auto& op : ops) {
        op->diag.message = "the database was destroyed before this job ran";
        complete(std::move(op), make_error_code(errc::closed), done);
    }
    ops.clear();
}

// Between two tries for another process's lock: the writes whose deadline has passed fail,
// the cancelled ones complete as cancelled (they never ran). False when none is left waiting.
bool database_impl::expire_lock_waits(completion_batch& done) {
    const auto now = clock::now();
    std::deque<op_ptr> expired, cancelled, destroyed;
    bool waiting = false;
    {
        std::lock_guard lock(write_mutex_);
        if (destroying_)
            destroyed.swap(write_queue_);
        for (auto it = write_queue_.begin(); it != write_queue_.end();) {
            auto& op = **it;
            if (op.cancel_requested && !op.ran_once) {
                cancelled.push_back(std::move(*it));
            } else if (op.kind != job_kind::maintenance && op.lock_deadline <= now) {
                expired.push_back(std::move(*it));
            } else {
                ++it;
                continue;
            }
            it = write_queue_.erase(it);
        }
        metrics_.write_queue_depth = write_queue_.size();
        waiting = !write_queue_.empty();
        if (!waiting)
            writer_scheduled_ = false;
    }
    fail_destroyed(destroyed, done);
    for (auto& op : cancelled)
        complete(std::move(op), asio::error::operation_aborted, done);
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

void database_impl::take_writes_locked(std::deque<op_ptr>& batch, std::size_t taken) {
    while (!write_queue_.empty() && batch.size() + taken < options_.max_group_size &&
           write_queue_.front()->kind != job_kind::maintenance && !write_queue_.front()->run_alone) {
        batch.push_back(std::move(write_queue_.front()));
        write_queue_.pop_front();
    }
}

bool database_impl::take_more_writes(std::deque<op_ptr>& batch, std::size_t taken,
                                     clock::time_point started) {
    if (taken >= options_.max_group_size || clock::now() - started >= options_.max_group_duration)
        return false;
    std::lock_guard lock(write_mutex_);
    if (destroying_)
        return false;
    const auto before = batch.size();
    take_writes_locked(batch, taken);
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

// Runs one job inside the group's transaction and tells the planner what came of it.
group_commit_planner::report database_impl::run_in_group(connection& conn, pending_op& op) {
    group_commit_planner::report r;
    const bool cancellable = !op.ran_once;
    if (cancellable && op.cancel_requested) {
        r.cancelled = true;
        return r;
    }
    sqlite3* db = conn.native_handle();
    const auto changes_before = db ? sqlite3_total_changes64(db) : 0;
    const bool single = op.job->single_statement();
    if (cancellable)
        mark_running(writer_running_, op, conn);
    error_code ec;
    {
        server_wait_scope waiting([&] { return !cancellable || !op.cancel_requested; });
        ec = run_job(conn, writer_control_.get(), op,
                     single ? transaction_control::mode::job : transaction_control::mode::write_job);
    }
    if (cancellable)
        mark_done(writer_running_, op);
    if (ec && op.cancel_requested && ec == condition::interrupted)
        ec = asio::error::operation_aborted;
    r.transaction_open = conn.in_transaction();
    if (r.transaction_open && !ec && cancellable && op.cancel_requested) {
        // Cancelled while it ran: its work is undone (with its savepoint, or by rolling the
        // group back when a single statement changed anything).
        r.cancelled = true;
        r.undo_needs_rollback = postgres_ || !single || sqlite3_total_changes64(db) != changes_before;
        return r;
    }
    if (!r.transaction_open) {
        ++metrics_.transactions_lost;
        if (!ec) { // it ignored the failure of the statement that rolled everything back
            ec = make_error_code(errc::statement_refused);
            op.diag.message = "the job's transaction was rolled back under it (OR ROLLBACK, "
                              "RAISE(ROLLBACK)) and the job went on as if it had succeeded";
        }
    } else if (postgres_) {
        if (!ec && conn.transaction_failed()) {
            // The job succeeded though one of its statements failed (it ignored the error):
            // PostgreSQL has aborted the transaction, so the job's work is not there.
            ec = make_postgres_error("25P02");
            op.diag.message = "a statement of this job failed and the job went on; the "
                              "transaction was aborted by PostgreSQL";
        }
        // A failed statement aborts PostgreSQL's whole transaction.
        r.undo_needs_rollback = static_cast<bool>(ec);
    } else if (ec) {
        // A single statement: ABORT, the default, undid it; OR FAIL, RAISE(FAIL) and triggers
        // may have left changes of it behind (SQLite counts them; an aborted trigger's count
        // stays too, which costs a rollback that was not needed, never a change that stays).
        // A function job without a savepoint (the first of its transaction) may have run
        // anything, DDL included, which SQLite does not count.
        r.undo_needs_rollback = !single || sqlite3_total_changes64(db) != changes_before;
    } else {
        int pending = 0, high = 0;
        sqlite3_db_status(db, SQLITE_DBSTATUS_DEFERRED_FKS, &pending, &high, 0);
        if (pending) {
            // Alone in its own transaction, this job's COMMIT would fail.
            ec = make_sqlite_error(SQLITE_CONSTRAINT_FOREIGNKEY);
            op.diag.message = "FOREIGN KEY constraint failed (a deferred foreign key this job "
                              "left unresolved)";
            r.undo_needs_rollback = true;
        }
    }
    // Cancelled while it ran and failed, whatever the failure: the interrupt may have rolled
    // the transaction back under a statement the job then ignored. Its work is gone either way.
    if (ec && cancellable && op.cancel_requested)
        ec = asio::error::operation_aborted;
    r.ok = !ec;
    r.passing = passing_failure(ec);
    op.error = ec;
    return r;
}

// The COMMIT of a group: one that finds the lock busy (readers in rollback-journal mode) leaves
// the transaction open, and the COMMIT is tried again, not the work.
error_code database_impl::commit_group(connection& conn, clock::time_point deadline) {
    // PostgreSQL answers COMMIT of a failed transaction with a ROLLBACK, not an error.
    if (conn.transaction_failed()) {
        conn.last_diagnostics().message = "the transaction was aborted by a failed statement";
        return make_postgres_error("25P02");
    }
    error_code ec = tx(conn, writer_control_.get(), transaction_statement::commit);
    while (is_lock_error(ec) && conn.in_transaction() && clock::now() < deadline)
        ec = tx(conn, writer_control_.get(), transaction_statement::commit);
    if (ec)
        ++metrics_.commit_failures;
    return ec;
}

// Queued writes run in one transaction, as the planner says: a savepoint around each job of
// several statements, none around a single statement (SQLite undoes a failed one itself).
database_impl::group_outcome database_impl::run_group(std::deque<op_ptr>& batch,
                                                      completion_batch& done) {
    using step = group_commit_planner::step;
    using verdict = group_commit_planner::verdict;
    auto& conn = *writer_;
    auto* control = writer_control_.get();
    // Waits for another process's lock in short slices, never past the earliest deadline.
    auto deadline = batch.front()->lock_deadline;
    for (const auto& op : batch)
        deadline = std::min(deadline, op->lock_deadline);
    conn.limit_lock_wait(lock_wait_slice, deadline);
    const auto started = clock::now();

    group_commit_planner plan;
    std::vector<op_ptr> ops; // by the planner's job index
    auto add = [&](std::deque<op_ptr>& from) {
        for (auto& op : from) {
            plan.add(!op->job->single_statement(),
                     op->ran_once && op->reruns <= max_promised_reruns);
            ops.push_back(std::move(op));
        }
        from.clear();
    };
    add(batch);

    error_code group_error;
    diagnostics group_diag;
    auto note_group_error = [&](error_code ec) {
        if (ec) {
            group_error = ec;
            group_diag = conn.last_diagnostics();
        }
        return ec;
    };
    std::deque<op_ptr> back; // to the queue's front, in order
    std::size_t committed = 0;
    bool locked = false;
    for (bool begun = false;;) {
        if (begun && plan.idle() && plan.accepting() && take_more_writes(batch, ops.size(), started))
            add(batch);
        const step s = plan.next();
        if (s == step::finished)
            break;
        group_commit_planner::report r;
        error_code ec;
        switch (s) {
        case step::begin:
            // A transaction an earlier failure could not roll back (out of memory) goes first.
            if (conn.in_transaction())
                (void)tx(conn, control, transaction_statement::rollback);
            {
                server_wait_scope waiting([&] { return anyone_waits(ops, true); });
                ec = note_group_error(begin_group(conn, deadline));
            }
            if (ec && conn.in_transaction())
                (void)tx(conn, control, transaction_statement::rollback);
            r.locked = is_lock_error(ec);
            begun = !ec;
            break;
        case step::savepoint: {
            auto& op = *ops[plan.current()];
            {
                server_wait_scope waiting([&] { return op.ran_once || !op.cancel_requested; });
                ec = tx(conn, control, transaction_statement::savepoint);
            }
            if (ec) {
                op.error = ec;
                op.diag = conn.last_diagnostics();
            }
            break;
        }
        case step::run: r = run_in_group(conn, *ops[plan.current()]); break;
        case step::release: ec = tx(conn, control, transaction_statement::release); break;
        case step::rollback_to:
            ec = tx(conn, control, transaction_statement::rollback_to);
            if (!ec)
                ec = tx(conn, control, transaction_statement::release);
            break;
        case step::rollback:
            if (conn.in_transaction())
                (void)tx(conn, control, transaction_statement::rollback);
            break;
        case step::commit: ec = note_group_error(commit_group(conn, deadline)); break;
        case step::wait_for_lock: locked = true; break;
        case step::finished: break;
        }
        if (s != step::run && s != step::wait_for_lock) {
            r.ok = !ec;
            r.transaction_open = conn.in_transaction();
            r.passing = passing_failure(ec);
        }
        if (s != step::wait_for_lock)
            plan.done(r);
        for (const auto& [j, what] : plan.take_decisions()) {
            auto& op = ops[j];
            switch (what) {
            case verdict::committed:
                ++committed;
                complete(std::move(op), {}, done);
                break;
            case verdict::failed: {
                op->job->discard_result();
                const error_code own = op->error;
                complete(std::move(op), own, done);
                break;
            }
            case verdict::cancelled:
                op->job->discard_result();
                complete(std::move(op), asio::error::operation_aborted, done);
                break;
            case verdict::shared_failure: {
                op->job->discard_result();
                const error_code ec = unless_cancelled(*op, group_error);
                if (ec == group_error)
                    op->diag = group_diag;
                complete(std::move(op), ec, done);
                break;
            }
            case verdict::rerun:
            case verdict::rerun_alone:
                op->job->discard_result();
                op->run_alone = what == verdict::rerun_alone;
                op->ran_once = true;
                ++op->reruns;
                back.push_back(std::move(op));
                break;
            case verdict::requeue: back.push_back(std::move(op)); break;
            }
        }
    }
    requeue_front(back);
    if (plan.transaction_rerun()) {
        ++metrics_.group_reruns;
        metrics_.job_reruns += plan.reruns();
    }
    if (committed > 0) {
        ++metrics_.groups;
        metrics_.grouped_jobs += committed;
        metrics_state::raise_max(metrics_.largest_group, committed);
    }
    return locked ? group_outcome::locked : group_outcome::done;
}

void database_impl::run_maintenance(op_ptr op, completion_batch& done) {
    if (op->cancel_requested) {
        complete(std::move(op), asio::error::operation_aborted, done);
        return;
    }
    auto& conn = *writer_;
    auto* control = writer_control_.get();
    constexpr auto mode = transaction_control::mode::maintenance;
    conn.limit_lock_wait(std::nullopt, op->lock_deadline);
    error_code ec = run_job(conn, control, *op, mode);
    // A deferred transaction that read and then wrote while another connection committed:
    // waiting cannot help, the whole transaction must run again (a few times at most).
    for (int rerun = 0; ec == make_sqlite_error(SQLITE_BUSY_SNAPSHOT) && rerun < 3; ++rerun) {
        if (rerun == 0)
            log(log_level::warn, "a maintenance job's deferred transaction turned into a write "
                                 "and lost its snapshot; it runs again (use async_write, which "
                                 "starts with BEGIN IMMEDIATE)");
        if (conn.in_transaction())
            (void)tx(conn, control, transaction_statement::rollback);
        op->job->discard_result();
        ++metrics_.job_reruns;
        ec = run_job(conn, control, *op, mode);
    }
    if (conn.in_transaction()) {
        (void)tx(conn, control, transaction_statement::rollback);
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
        auto* control = reader.control.get();
        const bool shared = !postgres_ && taken.size() > 1 &&
                            !tx(conn, control, transaction_statement::begin_deferred);
        for (auto& op : taken)
            run_read(reader, op, done);
        if (shared && conn.in_transaction())
            (void)tx(conn, control, transaction_statement::commit);
        taken.clear();
        if (done.size() >= 16) // bound the latency that batching adds
            flush(done);
    }
}

// Prepares a routed statement on a reader to learn whether it only reads; what a job may not
// run (transaction control, per-connection PRAGMAs) is refused here, before it runs anywhere.
result<statement> database_impl::prepare_routed(reader_slot& reader, std::string_view sql) {
    auto& conn = *reader.conn;
    if (!reader.control) {
        postgres_statement_guard guard(conn, false);
        return conn.prepare(sql);
    }
    transaction_control::scope scope(*reader.control, transaction_control::mode::job);
    auto stmt = conn.prepare(sql);
    if (auto why = reader.control->take_refusal(); !why.empty()) {
        conn.last_diagnostics().message = std::move(why);
        return make_error_code(errc::statement_refused);
    }
    return stmt;
}

void database_impl::run_read(reader_slot& reader, op_ptr& op, completion_batch& done) {
    if (op->cancel_requested) {
        complete(std::move(op), asio::error::operation_aborted, done);
        return;
    }
    auto& conn = *reader.conn;
    // Its waits on the server (routing it, running it) end when it is cancelled.
    server_wait_scope waiting([&op] { return !op || !op->cancel_requested; });
    if (op->kind == job_kind::auto_route) {
        const std::string_view sql = op->job->routed_sql();
        auto stmt = prepare_routed(reader, sql);
        if (!stmt) {
            op->diag = conn.last_diagnostics();
            const error_code ec = unless_cancelled(*op, stmt.error());
            complete(std::move(op), ec, done);
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
            enqueue_write(std::move(op)); // in its turn
            return;
        }
        give_up_write_turn(*op);
    }
    mark_running(reader.running, *op, conn);
    // A read job gets a snapshot of its own, unless it runs inside a batch's shared one.
    const bool own_snapshot = op->kind == job_kind::read && !conn.in_transaction();
    const bool routed = op->kind != job_kind::read;
    op->kind = job_kind::read; // counted where it ran
    auto* control = reader.control.get();
    error_code ec = own_snapshot ? tx(conn, control, transaction_statement::begin_deferred)
                                 : error_code();
    if (!ec)
        ec = run_job(conn, control, *op, transaction_control::mode::job);
    if (own_snapshot && conn.in_transaction())
        (void)tx(conn, control,
                 ec ? transaction_statement::rollback : transaction_statement::commit);
    mark_done(reader.running, *op);
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
            // Through the database's executor first: the caller is inside its own initiation.
            auto ex = tracked_executor(handler, io_);
            asio::post(io_, [ex = std::move(ex), h = std::move(handler)]() mutable {
                hand_over(std::move(ex), [h = std::move(h)]() mutable {
                    std::move(h)(make_error_code(errc::closed));
                });
            });
            return;
        }
        close_handlers_.push_back(holding_work(std::move(handler), io_)); // completed later
    }
    close_requested_ = true;
    maybe_finish_close();
}

void database_impl::maybe_finish_close() {
    if (close_requested_ && in_flight_ == 0 && !close_started_.exchange(true))
        asio::post(writer_strand_, [self = shared_from_this()] { self->finish_close(); });
}

void database_impl::finish_close() {
    for (auto& r : readers_) {
        r->control.reset();
        r->conn.reset();
    }
    checkpointer_.reset();
    writer_control_.reset();
    writer_.reset(); // the last connection to close checkpoints and removes the WAL
    std::vector<asio::any_completion_handler<void(error_code)>> handlers;
    {
        std::lock_guard lock(close_mutex_);
        connections_closed_ = true;
        handlers.swap(close_handlers_);
    }
    close_cv_.notify_all();
    for (auto& h : handlers) {
        auto ex = tracked_executor(h, io_);
        hand_over(std::move(ex), [h = std::move(h)]() mutable { std::move(h)(error_code()); });
    }
}

void database_impl::shutdown() noexcept {
    // Jobs the writer holds while it waits for another process's lock come back to the queue
    // after one slice, and fail there too.
    destroying_ = true;
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
    fail_destroyed(queued, done);
    flush(done);
    maybe_finish_close();
    std::unique_lock lock(close_mutex_);
    close_cv_.wait(lock, [this] { return connections_closed_; });
}

metrics_snapshot database_impl::metrics() const { return metrics_.snapshot(); }

} // namespace sqlite_hybrid::detail
