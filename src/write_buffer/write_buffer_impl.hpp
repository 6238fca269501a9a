// SPDX-License-Identifier: BSL-1.0
// The write buffer's machinery: accepting writes (any thread, under one mutex), the flusher
// coroutine on a strand, waiting writers, schema refreshes, stopping.
#pragma once

#include "flush_order.hpp"
#include "flush_rows.hpp"
#include "pending_store.hpp"
#include "table_schema.hpp"
#include "../tracked_work.hpp"

#include <sqlite_hybrid/write_buffer.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace sqlite_hybrid::detail {

class write_buffer_impl : public std::enable_shared_from_this<write_buffer_impl> {
public:
    write_buffer_impl(database& db, write_buffer_options options);

    // The database's executor: where handlers without one of their own complete.
    asio::any_io_executor executor() const { return strand_.get_inner_executor(); }

    // A write as the caller gave it: first is the row (upsert) or the key (update, remove),
    // keys the key columns (upsert), second the changes (update).
    struct request_view {
        write_kind kind;
        std::string_view table;
        const row& first;
        const column_names& keys;
        const row& second;
    };
    // The same, owned, while it waits for room or for the schema.
    struct request {
        write_kind kind;
        std::string table;
        row first;
        column_names keys;
        row second;
        request_view view() const { return {kind, table, first, keys, second}; }
    };

    error_code accept(const request_view& r, diagnostics* diag);
    void write(request r, asio::any_completion_handler<void(error_code)> handler);
    void start(asio::any_completion_handler<void(error_code)> handler);
    void stop(asio::any_completion_handler<void(error_code, stop_report)> handler);
    void force_flush(asio::any_completion_handler<void(error_code, std::size_t)> handler);
    void abandon() noexcept;

    write_buffer_metrics metrics() const;
    std::vector<dead_letter> dead_letters() const;

private:
    enum class state { idle, starting, running, stopping, stopped };
    struct round_result {
        std::size_t written = 0;
        std::size_t dead = 0; // rows that became dead letters
        error_code error; // a transient failure: the rows went back to the store
    };
    struct waiting_write {
        request r;
        asio::any_completion_handler<void(error_code)> handler;
    };

    // What accepting a write of one kind, table and list of column names takes, found by the
    // names exactly as given.
    struct write_plan {
        write_kind kind;
        std::string table;                  // as given
        std::vector<std::string> first, second, keys; // as given
        wb::table_rows* rows = nullptr;     // where the table's pending rows are
        const wb::shape* columns = nullptr; // of the values (upsert, update)
        const wb::shape* key = nullptr;
        std::vector<std::size_t> key_fields; // where the key's values are in `first`, table order
        std::vector<wb::affinity> key_affinities; // of those columns, to normalise key values

        bool matches(const request_view& r) const;
    };

    // Where a flush round is: table, then row.
    struct position {
        std::size_t table = 0;
        std::size_t row = 0;
    };
    // What a run of chunks did: rows written, and the chunk that failed, if one did.
    struct chunks_result {
        std::size_t written = 0;
        error_code error;
        position failed;
        std::size_t failed_end = 0;
    };
    class chunk_chain;

    error_code accept_locked(const request_view& r, diagnostics* diag);
    result<const write_plan*> find_plan(const request_view& r, diagnostics* diag);
    result<write_plan> make_plan(const request_view& r, diagnostics* diag);
    void wake_locked();
    asio::awaitable<void> flusher(std::shared_ptr<write_buffer_impl> self);
    asio::awaitable<round_result> flush_round();
    asio::awaitable<chunks_result> write_chunks(std::vector<wb::flushing_table>& tables,
                                                position from);
    static position after(const std::vector<wb::flushing_table>& tables, std::size_t table,
                          std::size_t row);
    void chunk_written(std::size_t rows, std::size_t written);
    void put_back(std::vector<wb::flushing_table>& tables, position from);
    void bury(const wb::flushing_table& table, const wb::pending_row& r, const error_code& ec,
              std::string message);
    void admit_waiters();
    asio::awaitable<error_code> refresh_schema();
    template <class... Args>
    void complete(asio::any_completion_handler<void(Args...)> handler, Args... args);
    stop_report unwritten_rows(const error_code& why);
    std::chrono::steady_clock::duration next_wait() const;

    database& db_;
    write_buffer_options options_;
    logger log_;
    asio::strand<asio::any_io_executor> strand_;
    asio::steady_timer timer_;
    const std::uint64_t id_; // tells this buffer's plans apart in a thread's memo

    mutable std::mutex mutex_;
    state state_ = state::idle;
    // Shared with a flush in progress, which orders tables by it while a refresh replaces it.
    std::shared_ptr<const wb::schema> schema_ = std::make_shared<const wb::schema>();
    std::unordered_map<std::string, write_plan> plans_;
    std::uint64_t plans_generation_ = 0; // changes whenever plans_ is cleared
    wb::pending_store store_;
    std::size_t in_flight_ = 0; // rows taken out by the flusher
    std::uint64_t accepted_ = 0, coalesced_ = 0;
    bool wake_requested_ = false;
    std::deque<waiting_write> waiting_;
    std::vector<asio::any_completion_handler<void(error_code, std::size_t)>> force_waiters_;
    std::optional<asio::any_completion_handler<void(error_code, stop_report)>> stop_handler_;
    std::deque<dead_letter> dead_;
    int failed_rounds_in_a_row_ = 0; // flusher only
    wb::statement_texts statements_;  // writer only

    std::atomic<std::uint64_t> flushed_{0}, flushes_{0}, failures_{0}, dead_letters_{0},
        last_latency_us_{0}, max_latency_us_{0};
};

template <class... Args>
void write_buffer_impl::complete(asio::any_completion_handler<void(Args...)> handler,
                                 Args... args) {
    // Through the strand, so that a handler never runs inside its own initiation.
    asio::post(strand_, [h = std::move(handler), args...]() mutable {
        auto ex = asio::get_associated_executor(h);
        asio::dispatch(ex, [h = std::move(h), args...]() mutable { std::move(h)(args...); });
    });
}

} // namespace sqlite_hybrid::detail
