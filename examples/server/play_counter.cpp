// SPDX-License-Identifier: BSL-1.0
#include "play_counter.hpp"

#include <boost/asio/as_tuple.hpp>
#include <spdlog/spdlog.h>
#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/retry.hpp>
#include <sqlite_hybrid/write_buffer.hpp>
#include <unistd.h>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;

namespace catalogue {
namespace {

// Registering and folding a run are rare; they may wait longer than a request.
sh::retry_policy maintenance_policy() {
    sh::retry_policy p;
    p.deadline = std::chrono::seconds(30);
    p.max_retries = 100;
    p.base_delay = std::chrono::milliseconds(10);
    p.max_delay = std::chrono::milliseconds(500);
    return p;
}

} // namespace

play_counter::play_counter(sh::database& db, catalogue_store& items,
                           std::chrono::milliseconds flush_interval)
    : db_(db), items_(items) {
    sh::write_buffer_options o;
    o.flush_interval = flush_interval;
    o.batch_size = 1000;
    o.retry.max_retries = 20; // stopping tries this often before it reports rows unwritten
    buffer_ = std::make_unique<sh::write_buffer>(db, o);
}

play_counter::~play_counter() = default;

asio::awaitable<void> play_counter::start(int worker) {
    auto done = co_await sh::with_retry(
        [&](auto token) {
            return db_.async_execute("INSERT INTO worker_runs(worker, pid) VALUES(?, ?)",
                                     sh::args(worker, static_cast<std::int64_t>(getpid())),
                                     std::move(token));
        },
        maintenance_policy());
    run_id_ = done.last_insert_rowid;
    co_await buffer_->async_start();
}

asio::awaitable<outcome> play_counter::add(std::int64_t item) {
    bool known = false;
    {
        std::lock_guard lock(mutex_);
        known = counts_.contains(item);
    }
    // Items are never deleted: once seen, an item exists.
    if (!known) {
        auto exists = co_await items_.exists(item);
        if (exists.status != outcome::ok)
            co_return exists.status;
        if (!exists.value)
            co_return outcome::not_found;
    }
    std::lock_guard lock(mutex_);
    auto& count = counts_[item];
    const sh::row values{{"item_id", item}, {"run_id", run_id_}, {"plays", count + 1}};
    const auto ec = buffer_->buffer_upsert("item_plays", values, {"item_id", "run_id"});
    if (!ec) {
        ++count;
        co_return outcome::ok;
    }
    if (ec == sh::errc::buffer_full || ec == sh::errc::closed)
        co_return outcome::busy;
    throw boost::system::system_error(ec, "buffering a play");
}

asio::awaitable<bool> play_counter::stop() {
    auto [ec, report] = co_await buffer_->async_stop(asio::as_tuple(asio::use_awaitable));
    bool ok = !ec && report.unwritten.empty();
    if (!ok)
        spdlog::error("stopping the play buffer: {} ({} rows of plays unwritten)",
                      ec ? ec.message() : "rows left", report.unwritten.size());

    // One transaction: a reader sees the plays either in the run's rows or in items.plays.
    auto fold = [run = run_id_](sh::connection& c) -> sh::result<void> {
        BOOST_OUTCOME_TRY(
            c.execute("UPDATE items SET plays = plays + (SELECT p.plays FROM "
                      "item_plays p WHERE p.item_id = items.id AND p.run_id = ?1) "
                      "WHERE id IN (SELECT item_id FROM item_plays WHERE run_id = ?1)",
                      run));
        BOOST_OUTCOME_TRY(c.execute("DELETE FROM item_plays WHERE run_id = ?", run));
        BOOST_OUTCOME_TRY(c.execute("UPDATE worker_runs SET stopped_at = "
                                    "strftime('%Y-%m-%dT%H:%M:%fZ') WHERE id = ?",
                                    run));
        return sh::outcome::success();
    };
    auto folded =
        co_await sh::with_retry([&](auto token) { return db_.async_write(fold, std::move(token)); },
                                maintenance_policy(), sh::as_result);
    if (!folded) {
        spdlog::error("folding the plays of run {}: {}", run_id_, folded.error().message());
        ok = false;
    }
    co_return ok;
}

sh::write_buffer_metrics play_counter::buffer_metrics() const {
    return buffer_->metrics();
}

} // namespace catalogue
