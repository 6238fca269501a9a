// The write buffer's machinery: accepting writes (any thread, under one mutex), the flusher
// coroutine on a strand, waiting writers, schema refreshes, stopping.
#pragma once

#include "pending_store.hpp"
#include "table_schema.hpp"

#include <sqlite_hybrid/write_buffer.hpp>

#include <boost/asio/awaitable.hpp>
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
        error_code error; // a transient failure: the rows went back to the store
    };
    struct waiting_write {
        request r;
        asio::any_completion_handler<void(error_code)> handler;
    };

    // What accepting a write of one kind, table and set of column names takes.
    struct write_plan {
        std::string table;               // canonical
        int priority = 0;
        const wb::shape* columns = nullptr; // of the values (upsert, update)
        const wb::shape* key = nullptr;
        std::vector<std::size_t> key_fields; // where the key's values are in `first`
    };

    error_code accept_locked(const request_view& r, diagnostics* diag);
    result<write_plan> make_plan(const request_view& r, diagnostics* diag);
    result<wb::keyed_write> canonical_write(const request_view& r, diagnostics* diag);
    void wake_locked();
    asio::awaitable<void> flusher();
    asio::awaitable<round_result> flush_round();
    void put_back(std::vector<wb::flushing_table>& tables, std::size_t table, std::size_t from);
    void bury(const std::string& table, wb::flushing_row& r, const error_code& ec, std::string message);
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

    mutable std::mutex mutex_;
    state state_ = state::idle;
    wb::schema schema_;
    std::unordered_map<std::string, write_plan> plans_;
    wb::pending_store store_;
    std::size_t in_flight_ = 0; // rows taken out by the flusher
    bool wake_requested_ = false;
    std::deque<waiting_write> waiting_;
    std::vector<asio::any_completion_handler<void(error_code, std::size_t)>> force_waiters_;
    std::optional<asio::any_completion_handler<void(error_code, stop_report)>> stop_handler_;
    std::deque<dead_letter> dead_;
    int failed_rounds_in_a_row_ = 0; // flusher only

    std::atomic<std::uint64_t> accepted_{0}, coalesced_{0}, flushed_{0}, flushes_{0},
        failures_{0}, dead_letters_{0}, last_latency_us_{0}, max_latency_us_{0};
};

} // namespace sqlite_hybrid::detail
