// SPDX-License-Identifier: BSL-1.0
// Play counters through the write buffer.
//
// The buffer coalesces writes to one row with "newest wins", so it cannot add increments up.
// Instead each worker run owns one row per item in `item_plays (item_id, run_id) -> plays` and
// hands the buffer that row's absolute value, counted here: whichever of the merged upserts
// reaches the file, it carries every increment accepted before it. No other process writes
// that row, so no read-modify-write is needed. Reads add the runs' rows to `items.plays`, and a
// run that stops folds its rows into `items.plays` in one transaction.
#pragma once

#include "catalogue.hpp"

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace sqlite_hybrid {
class write_buffer;
struct write_buffer_metrics;
} // namespace sqlite_hybrid

namespace catalogue {

class play_counter {
public:
    play_counter(sqlite_hybrid::database& db, catalogue_store& items,
                 std::chrono::milliseconds flush_interval);
    ~play_counter();

    // Registers this run (a `worker_runs` row) and starts the buffer's flusher.
    boost::asio::awaitable<void> start(int worker);

    // One play of `item`, in RAM once this returns ok: not_found for an unknown item, busy when
    // the buffer is full or stopping.
    boost::asio::awaitable<outcome> add(std::int64_t item);

    // Flushes everything, then folds this run's rows into items.plays. False when some plays
    // could not be written (they are logged).
    boost::asio::awaitable<bool> stop();

    sqlite_hybrid::write_buffer_metrics buffer_metrics() const;
    std::int64_t run_id() const noexcept { return run_id_; }

private:
    sqlite_hybrid::database& db_;
    catalogue_store& items_;
    std::unique_ptr<sqlite_hybrid::write_buffer> buffer_;
    std::int64_t run_id_ = 0;
    std::mutex mutex_;                                      // counts_ and the upsert that follows
    std::unordered_map<std::int64_t, std::int64_t> counts_; // item -> this run's plays
};

} // namespace catalogue
