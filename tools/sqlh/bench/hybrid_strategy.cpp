// SPDX-License-Identifier: BSL-1.0
// hybrid: the library as the README recommends it. One database per process (one writer with
// group commit, read-only readers); API writes through with_retry with a 5 s deadline; workers
// hand their rows to a write buffer; logs go through spdlog into a log database of their own.
#include "bench/bench_schema.hpp"
#include "bench/strategy.hpp"
#include "bench/strategy_metrics.hpp"

#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/log_database.hpp>
#include <sqlite_hybrid/log_database_sink.hpp>
#include <sqlite_hybrid/logger.hpp>
#include <sqlite_hybrid/retry.hpp>
#include <sqlite_hybrid/write_buffer.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <spdlog/logger.h>

#include <future>
#include <tuple>

namespace sqlh::bench {

namespace asio = boost::asio;
namespace json = boost::json;
namespace sh = sqlite_hybrid;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Runs `io` until the operation behind `f` completes (before the workload starts). Not until
// `io` runs out of work: the log database's flusher keeps it busy.
template <class T> T wait(asio::io_context& io, std::future<T> f) {
    io.restart();
    while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
        io.run_one();
    return f.get();
}

json::object database_metrics(const sh::metrics_snapshot& m) {
    return {{"groups", m.groups},
            {"grouped_jobs", m.grouped_jobs},
            {"max_group", m.largest_group},
            {"max_write_queue", m.max_write_queue_depth},
            {"busy_waits", m.busy_waits},
            {"busy_wait_ms", static_cast<double>(m.busy_wait_time.count()) / 1e3},
            {"db_errors", m.errors},
            {"checkpoints", m.checkpoints},
            {"checkpoints_incomplete", m.checkpoints_incomplete}};
}

class hybrid_strategy final : public strategy {
public:
    hybrid_strategy(asio::io_context& io, const child_config& c)
        : db_(wait(io, sh::database::async_open(io.get_executor(), c.db_path,
                                                database_options(), asio::use_future))),
          buffer_(db_), logs_(io.get_executor(), c.log_path, log_options(c)),
          sink_(std::make_shared<sh::log_database_sink_st>(logs_.writer())),
          api_log_("api", sink_), worker_log_("worker", sink_) {
        wait(io, buffer_.async_start(asio::use_future));
        policy_.deadline = 5s;
    }

    asio::awaitable<std::string> write_item(int, std::int64_t key) override {
        auto [ec, result] = co_await sh::with_retry(
            [this, key](auto token) {
                return db_.async_execute(insert_item_sql,
                                         sh::args(key, item_name(key), item_price(key)),
                                         std::move(token));
            },
            policy_, use_tuple);
        co_return ec ? ec.message() : std::string();
    }

    asio::awaitable<std::string> read_item(int, std::int64_t key) override {
        auto [ec, rows] = co_await db_.async_query<std::tuple<std::string, std::int64_t>>(
            select_item_sql, sh::args(key), use_tuple);
        if (ec)
            co_return ec.message();
        co_return rows.empty() ? "an acknowledged item is missing" : std::string();
    }

    asio::awaitable<std::string> write_stats(int, std::span<const stat_row> rows) override {
        for (const auto& r : rows) {
            sh::row row{{"key", r.key}, {"value", r.value}, {"updated_ms", r.updated_ms}};
            auto ec = buffer_.buffer_upsert("stats", row, key_columns_);
            if (ec == sh::errc::buffer_full) // wait for room rather than fail the worker
                std::tie(ec) = co_await buffer_.async_buffer_upsert("stats", std::move(row),
                                                                    key_columns_, use_tuple);
            if (ec)
                co_return ec.message();
        }
        co_return std::string();
    }

    std::string log(std::string_view logger, std::string_view message) override {
        auto& target = logger == "api" ? api_log_ : worker_log_;
        target.log(spdlog::level::info, spdlog::string_view_t(message.data(), message.size()));
        return {}; // best effort: logging never fails the caller
    }

    asio::awaitable<void> finish(child_report& out) override {
        auto [stop_ec, stopped] = co_await buffer_.async_stop(use_tuple);
        co_await logs_.async_stop(use_tuple);
        out.metrics = retry_metrics();
        for (auto& [k, v] : database_metrics(db_.metrics()))
            out.metrics[k] = v;
        const auto b = buffer_.metrics();
        out.metrics["buffer_coalesced"] = b.coalesced;
        out.metrics["buffer_flushed"] = b.flushed;
        out.metrics["buffer_flushes"] = b.flushes;
        out.metrics["buffer_failures"] = b.failures;
        out.metrics["buffer_dead_letters"] = b.dead_letters;
        out.metrics["buffer_unwritten"] = stopped.unwritten.size() + (stop_ec ? 1 : 0);
        out.metrics["max_flush_ms"] = static_cast<double>(b.max_flush_latency.count()) / 1e3;
        // Logs are best effort: what reached the file counts as committed, the rest as errors.
        const auto l = logs_.metrics();
        auto& logs = out[op_kind::log];
        logs.committed = l.written;
        logs.errors = l.accepted > l.written ? l.accepted - l.written : 0;
        if (l.failures)
            logs.first_error = l.last_error.message();
        out.metrics["log_batches"] = l.batches;
        out.metrics["log_dropped"] = l.dropped;
        co_await db_.async_close(use_tuple);
    }

private:
    // The library's own messages: warnings and errors on stderr; the routine ones (a log file
    // created, migrated) would only clutter the benchmark's output.
    static sh::logger warnings_only() {
        return [log = sh::default_logger()](sh::log_level level, std::string_view message) {
            if (level >= sh::log_level::warn)
                log(level, message);
        };
    }
    static sh::database_options database_options() {
        sh::database_options o;
        o.log = warnings_only();
        return o;
    }
    static sh::log_database_options log_options(const child_config& c) {
        sh::log_database_options o;
        o.main_database_path = c.db_path;
        o.database_settings.log = warnings_only();
        return o;
    }

    sh::database db_;
    sh::write_buffer buffer_;
    sh::log_database logs_;
    std::shared_ptr<sh::log_database_sink_st> sink_;
    spdlog::logger api_log_, worker_log_;
    sh::retry_policy policy_;
    const sh::column_names key_columns_{"key"};
};

} // namespace

std::unique_ptr<strategy> make_hybrid_strategy(asio::io_context& io, const child_config& c) {
    return std::make_unique<hybrid_strategy>(io, c);
}

} // namespace sqlh::bench
