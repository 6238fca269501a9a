// SPDX-License-Identifier: BSL-1.0
// The machinery behind `database`: the writer with its queue and group commit, the readers
// with theirs, routing, checkpoints, metrics and the close sequence.
#pragma once

#include "group_commit_planner.hpp"
#include "metrics_state.hpp"
#include "pending_op.hpp"
#include "submission_order.hpp"
#include "transaction_control.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace sqlite_hybrid::detail {

using pool_strand = asio::strand<asio::thread_pool::executor_type>;

struct reader_slot {
    explicit reader_slot(pool_strand s) : strand(std::move(s)) {}
    pool_strand strand;
    std::optional<connection> conn;
    std::unique_ptr<transaction_control> control; // SQLite only
    interrupt_target running;
};

class database_impl : public std::enable_shared_from_this<database_impl> {
public:
    database_impl(asio::any_io_executor io, std::string path, database_options options);
    ~database_impl();

    // Runs on the writer strand: opens the writer, WAL, migrations, then the readers.
    error_code open(diagnostics& diag);

    void submit(op_ptr op);
    void request_close(asio::any_completion_handler<void(error_code)> handler);
    // From the handle's destructor: queued jobs fail, running ones finish; blocks until closed.
    void shutdown() noexcept;

    asio::thread_pool::executor_type pool_executor() { return pool_->get_executor(); }
    const pool_strand& writer_strand() const { return writer_strand_; }
    bool closed() const noexcept { return close_requested_.load(); }
    metrics_snapshot metrics() const;
    applied_settings writer_settings() const { return writer_settings_; }
    const std::string& path() const noexcept { return display_path_; }
    const asio::any_io_executor& io_executor() const noexcept { return io_; }
    void log(log_level level, std::string_view message) const;

private:
    using clock = std::chrono::steady_clock;
    static constexpr auto lock_retry_pause = std::chrono::milliseconds(1);

    // Into the writer's queue in its turn (its own ticket, or a new one: after every write
    // submitted so far).
    void enqueue_write(op_ptr op);
    // A routed op that turned out not to be a write gives up its turn.
    void give_up_write_turn(pending_op& op);
    // Settles `holder`'s turn with `op` (itself, or null), admitting every write whose turn came.
    void settle_write_turn(pending_op& holder, op_ptr op);
    // A cancelled op that has not started is answered at once: a write waiting for its turn,
    // or a job or routed statement waiting for a reader.
    void withdraw_queued(pending_op& op);
    void enqueue_read(op_ptr op);
    void writer_drain();
    void take_writes_locked(std::deque<op_ptr>& batch, std::size_t taken = 0);
    bool take_more_writes(std::deque<op_ptr>& batch, std::size_t taken, clock::time_point started);
    void requeue_front(std::deque<op_ptr>& batch);
    enum class group_outcome { done, rerun, locked };
    group_outcome run_group(std::deque<op_ptr>& batch, completion_batch& done);
    group_commit_planner::report run_in_group(connection& conn, pending_op& op);
    error_code commit_group(connection& conn, clock::time_point deadline);
    bool expire_lock_waits(completion_batch& done);
    void fail_destroyed(std::deque<op_ptr>& ops, completion_batch& done);
    void count_lock_waits(connection& conn);
    void run_maintenance(op_ptr op, completion_batch& done);
    void reader_drain(reader_slot& reader);
    result<statement> prepare_routed(reader_slot& reader, std::string_view sql);
    void run_read(reader_slot& reader, op_ptr& op, completion_batch& done);
    error_code run_job(connection& conn, transaction_control* control, pending_op& op,
                       transaction_control::mode mode);
    error_code on_connect(connection& conn, diagnostics& diag);
    void checkpoint_if_needed();
    bool run_checkpoint(connection& conn, int mode); // true when every frame was copied
    void complete(op_ptr op, error_code ec, completion_batch& done);
    void flush(completion_batch& done);
    void operation_finished(std::size_t n);
    void maybe_finish_close();
    void finish_close();
    error_code open_writer(diagnostics& diag);
    error_code migrate(diagnostics& diag);
    void install_cancellation(pending_op& op);
    template <class Ops>
    bool connection_usable(connection& conn, Ops& ops, completion_batch& done);
    // A group's transaction. PostgreSQL waits for row locks on the server: its lock_timeout
    // there ends the wait at the group's deadline, as the busy handler does for SQLite.
    error_code begin_group(connection& conn, clock::time_point deadline);

    asio::any_io_executor io_;
    bool postgres_ = false;
    std::string path_;         // what connections open: a file name, or a PostgreSQL URL
    std::string display_path_; // without a password
    database_options options_;
    logger log_;
    std::unique_ptr<asio::thread_pool> own_pool_;
    asio::thread_pool* pool_;

    pool_strand writer_strand_;
    asio::steady_timer lock_retry_timer_; // the writer's next try for another process's lock
    std::optional<connection> writer_;
    std::unique_ptr<transaction_control> writer_control_; // SQLite only
    interrupt_target writer_running_;
    applied_settings writer_settings_;
    std::mutex write_mutex_;
    std::deque<op_ptr> write_queue_;
    submission_order<op_ptr> write_order_;
    bool writer_scheduled_ = false;

    std::vector<std::unique_ptr<reader_slot>> readers_;
    std::mutex read_mutex_;
    std::deque<op_ptr> read_queue_;
    std::vector<reader_slot*> idle_readers_;

    // Whether a SQL text only reads, learned by preparing it on a reader.
    struct sql_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::mutex route_mutex_;
    std::unordered_map<std::string, bool, sql_hash, std::equal_to<>> read_only_sql_;

    std::atomic<std::int64_t> wal_pages_{0};
    pool_strand checkpoint_strand_;
    std::optional<connection> checkpointer_;
    std::atomic<bool> checkpoint_running_{false};
    std::int64_t next_checkpoint_pages_ = 0; // writer strand only

    std::atomic<std::size_t> in_flight_{0};
    std::atomic<bool> close_requested_{false};
    std::atomic<bool> destroying_{false}; // the handle is gone: queued jobs fail with closed
    std::atomic<bool> close_started_{false};
    std::mutex close_mutex_;
    std::condition_variable close_cv_;
    bool connections_closed_ = false;
    std::vector<asio::any_completion_handler<void(error_code)>> close_handlers_;

    mutable metrics_state metrics_;

    friend class sqlite_hybrid::database;
};

} // namespace sqlite_hybrid::detail
