// SPDX-License-Identifier: BSL-1.0
// The write buffer: background workers hand rows to RAM in about a microsecond; a flusher
// coroutine writes them through the database's writer in batches. Writes to the same row
// (table and key) coalesce while they wait. Nothing accepted is dropped: a failed flush keeps its
// rows, a row that can never be written becomes a dead letter, and stopping reports what could
// not be written.
#pragma once

#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/retry_policy.hpp>
#include <sqlite_hybrid/value.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sqlite_hybrid {

struct field {
    std::string column;
    value v;
};
using row = std::vector<field>;
using column_names = std::vector<std::string>;

enum class write_kind { upsert, update, remove };

struct dead_letter {
    std::string table;
    write_kind kind;
    row values;       // upsert: the row; update: key and changes; remove: the key
    error_code error; // why it cannot be written
    std::string message;
};

struct write_buffer_options {
    std::chrono::milliseconds flush_interval{std::chrono::seconds(5)};
    std::size_t batch_size = 100;       // rows per flush transaction
    std::size_t max_pending = 100'000;  // rows in RAM, coalesced, including those being flushed
    bool fail_when_full = false;        // async_*: buffer_full at once instead of waiting
    std::map<std::string, int, std::less<>> priorities; // higher flushes first; default 0
    retry_policy retry;                 // backoff between failed flushes (delay_before)
    std::size_t max_dead_letters = 1000; // kept for dead_letters(); all are counted and logged
    std::function<void(const dead_letter&)> on_dead_letter; // called on the buffer's strand
    logger log;                         // empty: the database's default logger
};

struct write_buffer_metrics {
    std::uint64_t pending = 0;    // rows waiting, including those being flushed
    std::uint64_t accepted = 0;   // buffer_* calls that succeeded
    std::uint64_t coalesced = 0;  // accepted writes merged into a pending row
    std::uint64_t flushed = 0;    // rows written
    std::uint64_t flushes = 0;    // flush transactions committed
    std::uint64_t failures = 0;   // flush transactions that failed and kept their rows
    std::uint64_t dead_letters = 0;
    std::chrono::microseconds last_flush_latency{0}; // of a whole flush round
    std::chrono::microseconds max_flush_latency{0};
};

struct stop_report {
    std::uint64_t written = 0;           // rows written by the final flush
    std::vector<dead_letter> unwritten;  // rows that could not be written (error says why)
};

namespace detail {
class write_buffer_impl;
}

class write_buffer {
public:
    explicit write_buffer(database& db, write_buffer_options options = {});
    write_buffer(const write_buffer&) = delete;
    write_buffer& operator=(const write_buffer&) = delete;
    ~write_buffer(); // stop first: rows still pending here are logged as lost

    // Loads the schema of the database's tables and starts the flusher coroutine.
    template <class Token = default_token> auto async_start(Token&& token = {}) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler) { start(asio::any_completion_handler<void(error_code)>(std::move(handler))); },
            token);
    }

    // Flushes everything pending (retrying failed flushes per the policy), then stops.
    template <class Token = default_token> auto async_stop(Token&& token = {}) {
        return asio::async_initiate<Token, void(error_code, stop_report)>(
            [this](auto handler) {
                stop(asio::any_completion_handler<void(error_code, stop_report)>(std::move(handler)));
            },
            token);
    }

    // Flushes now; completes with the number of rows written by this flush.
    template <class Token = default_token> auto async_force_flush(Token&& token = {}) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler) {
                force_flush(asio::any_completion_handler<void(error_code, std::size_t)>(std::move(handler)));
            },
            token);
    }

    // Synchronous and non-blocking: the row is in RAM when they return success. Errors:
    // invalid_identifier (unknown table or column, or key columns that are not a unique key
    // of the table), buffer_full, closed (not started, or stopping).
    // `diag`, when given, says which name or key was wrong.
    error_code buffer_upsert(std::string_view table, const row& values,
                             const column_names& key_columns, diagnostics* diag = nullptr);
    error_code buffer_update(std::string_view table, const row& key, const row& changes,
                             diagnostics* diag = nullptr);
    error_code buffer_delete(std::string_view table, const row& key, diagnostics* diag = nullptr);

    // The same, but wait for room when the buffer is full (unless fail_when_full), and look at
    // the live schema again before refusing an unknown table or column.
    template <class Token = default_token>
    auto async_buffer_upsert(std::string table, row values, column_names key_columns, Token&& token = {}) {
        return initiate_write(write_kind::upsert, std::move(table), std::move(values),
                              std::move(key_columns), {}, std::forward<Token>(token));
    }
    template <class Token = default_token>
    auto async_buffer_update(std::string table, row key, row changes, Token&& token = {}) {
        return initiate_write(write_kind::update, std::move(table), std::move(key), {},
                              std::move(changes), std::forward<Token>(token));
    }
    template <class Token = default_token>
    auto async_buffer_delete(std::string table, row key, Token&& token = {}) {
        return initiate_write(write_kind::remove, std::move(table), std::move(key), {}, {},
                              std::forward<Token>(token));
    }

    write_buffer_metrics metrics() const;
    std::vector<dead_letter> dead_letters() const;

private:
    template <class Token>
    auto initiate_write(write_kind kind, std::string table, row first, column_names keys,
                        row second, Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler, write_kind kind, std::string table, row first, column_names keys,
                   row second) {
                write(kind, std::move(table), std::move(first), std::move(keys), std::move(second),
                      asio::any_completion_handler<void(error_code)>(std::move(handler)));
            },
            token, kind, std::move(table), std::move(first), std::move(keys), std::move(second));
    }

    void start(asio::any_completion_handler<void(error_code)> handler);
    void stop(asio::any_completion_handler<void(error_code, stop_report)> handler);
    void force_flush(asio::any_completion_handler<void(error_code, std::size_t)> handler);
    void write(write_kind kind, std::string table, row first, column_names keys, row second,
               asio::any_completion_handler<void(error_code)> handler);

    std::shared_ptr<detail::write_buffer_impl> impl_;
};

} // namespace sqlite_hybrid
