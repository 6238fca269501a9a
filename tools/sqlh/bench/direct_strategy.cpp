// SPDX-License-Identifier: BSL-1.0
// naive, busy_timeout and seed: what applications write without the library. A connection per
// coroutine and per worker, each transaction (BEGIN IMMEDIATE ... COMMIT) run synchronously on
// the event loop's thread, logs inserted into the main database.
//   naive         busy_timeout 0: SQLITE_BUSY is surfaced at once.
//   busy_timeout  busy_timeout 5000 ms: few errors, but the event loop blocks while it waits.
//   seed          the original Python design: busy_timeout 500 ms, writes wrapped in with_retry
//                 (default policy: 3 retries with backoff on a timer).
#include "bench/bench_schema.hpp"
#include "bench/raw_workload.hpp"
#include "bench/strategy.hpp"
#include "bench/strategy_metrics.hpp"

#include <sqlite_hybrid/error.hpp>
#include <sqlite_hybrid/retry.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <stdexcept>
#include <vector>

namespace sqlh::bench {

namespace asio = boost::asio;
namespace sh = sqlite_hybrid;
using namespace std::chrono_literals;

namespace {

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class direct_strategy final : public strategy {
public:
    direct_strategy(asio::io_context& io, const child_config& c,
                    std::chrono::milliseconds busy_timeout, bool retry)
        : io_(io), retry_(retry), log_conn_(c.db_path, busy_timeout),
          insert_log_(log_conn_.get(), insert_log_sql) {
        for (int i = 0; i < c.coroutines; ++i)
            api_.push_back(std::make_unique<api_connection>(c.db_path, busy_timeout));
        for (int w = 0; w < c.workers; ++w)
            workers_.push_back(std::make_unique<worker_connection>(c.db_path, busy_timeout));
    }

    asio::awaitable<std::string> write_item(int coroutine, std::int64_t key) override {
        auto& conn = *api_[static_cast<std::size_t>(coroutine)];
        co_return co_await run_write([&conn, key] { return conn.write(key); });
    }

    asio::awaitable<std::string> read_item(int coroutine, std::int64_t key) override {
        co_await asio::post(io_, asio::use_awaitable); // a handler runs when the loop is free
        co_return api_[static_cast<std::size_t>(coroutine)]->read(key);
    }

    asio::awaitable<std::string> write_stats(int worker, std::span<const stat_row> rows) override {
        auto& conn = *workers_[static_cast<std::size_t>(worker)];
        co_return co_await run_write([&conn, rows] { return conn.write(rows); });
    }

    std::string log(std::string_view logger, std::string_view message) override {
        sqlite3_bind_int64(insert_log_.get(), 1, now_us());
        sqlite3_bind_text(insert_log_.get(), 2, "info", -1, SQLITE_STATIC);
        sqlite3_bind_text(insert_log_.get(), 3, logger.data(), static_cast<int>(logger.size()),
                          SQLITE_TRANSIENT);
        sqlite3_bind_text(insert_log_.get(), 4, message.data(), static_cast<int>(message.size()),
                          SQLITE_TRANSIENT);
        return sqlite_error(insert_log_.run());
    }

    asio::awaitable<void> finish(child_report& out) override {
        if (retry_)
            out.metrics = retry_metrics();
        co_return;
    }

private:
    // The blocking transaction on the loop's thread; the seed's is retried by with_retry.
    template <class Write> asio::awaitable<std::string> run_write(Write write) {
        co_await asio::post(io_, asio::use_awaitable);
        if (!retry_)
            co_return sqlite_error(write());
        auto attempt = [write]() -> asio::awaitable<void> {
            if (const int rc = write(); rc != SQLITE_OK)
                throw boost::system::system_error(sh::make_sqlite_error(rc));
            co_return;
        };
        auto [ec] = co_await sh::with_retry(attempt, sh::retry_policy{},
                                            asio::as_tuple(asio::use_awaitable));
        co_return ec ? ec.message() : std::string();
    }

    asio::io_context& io_;
    bool retry_;
    std::vector<std::unique_ptr<api_connection>> api_;
    std::vector<std::unique_ptr<worker_connection>> workers_;
    raw_connection log_conn_;
    raw_statement insert_log_;
};

} // namespace

std::unique_ptr<strategy> make_direct_strategy(asio::io_context& io, const child_config& c) {
    if (c.strategy == "naive")
        return std::make_unique<direct_strategy>(io, c, 0ms, false);
    if (c.strategy == "busy_timeout")
        return std::make_unique<direct_strategy>(io, c, 5000ms, false);
    if (c.strategy == "seed")
        return std::make_unique<direct_strategy>(io, c, 500ms, true);
    throw std::invalid_argument("not a direct strategy: " + c.strategy);
}

} // namespace sqlh::bench
