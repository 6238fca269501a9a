// SPDX-License-Identifier: BSL-1.0
// The mixed workload of one child process. API coroutines write an item and read two of their
// recently acknowledged items back, logging each write; workers produce a batch of stats
// upserts every 50 ms and log each batch; a 1 ms ticker measures how late the event loop runs.
#include "bench/bench_config.hpp"
#include "bench/strategy.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

namespace sqlh::bench {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

clock_type::duration from_seconds(double s) {
    return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(s));
}
double seconds(clock_type::duration d) { return std::chrono::duration<double>(d).count(); }

std::uint64_t wal_bytes(const std::string& db_path) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(db_path + "-wal", ec);
    return ec ? 0 : size;
}

// Anonymous resident memory: the heap, not the database file's mapped pages.
double rss_anon_mb() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.starts_with("RssAnon:"))
            return std::stod(line.substr(8)) / 1024; // kB
    return 0;
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Sleeps until the common start instant; returns how late this process was for it.
double wait_for_start(std::int64_t start_ms) {
    const auto start = std::chrono::system_clock::time_point(std::chrono::milliseconds(start_ms));
    std::this_thread::sleep_until(start);
    return std::max(0.0, std::chrono::duration<double, std::milli>(
                             std::chrono::system_clock::now() - start)
                             .count());
}

void log_outcome(strategy& s, op_record& logs, std::string_view logger, std::string_view message) {
    const auto t0 = clock_type::now();
    if (auto error = s.log(logger, message); error.empty())
        logs.succeeded(clock_type::now() - t0);
    else
        logs.failed(error);
}

asio::awaitable<void> ticker(clock_type::time_point start, clock_type::time_point deadline,
                             std::string db_path, child_report& out) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    out.rss_anon_mb_start = rss_anon_mb();
    const auto quarter = start + (deadline - start) / 4;
    for (int tick = 0; clock_type::now() < deadline; ++tick) {
        timer.expires_after(1ms);
        co_await timer.async_wait(asio::use_awaitable);
        const auto now = clock_type::now();
        const double lag = std::chrono::duration<double, std::milli>(now - timer.expiry()).count();
        if (lag > out.worst_lag_ms) {
            out.worst_lag_ms = lag;
            out.worst_lag_at_s = seconds(now - start);
        }
        if (tick % 50 == 0)
            out.wal_bytes_peak = std::max(out.wal_bytes_peak, wal_bytes(db_path));
        if (out.rss_anon_mb_quarter == 0 && now >= quarter)
            out.rss_anon_mb_quarter = rss_anon_mb();
    }
    out.rss_anon_mb_end = rss_anon_mb();
    out.wal_bytes_end = wal_bytes(db_path);
    out.wal_bytes_peak = std::max(out.wal_bytes_peak, out.wal_bytes_end);
}

asio::awaitable<void> api_coroutine(strategy& s, const child_config& c, int coroutine,
                                    clock_type::time_point deadline, child_report& out) {
    std::minstd_rand random(static_cast<unsigned>(c.process * max_coroutines + coroutine + 1));
    // The most recent acknowledged items, which the reads pick from: bounded, so that a long
    // run's memory stays flat.
    constexpr std::size_t recent = 4096;
    std::vector<std::int64_t> acknowledged;
    std::size_t next_slot = 0;
    std::int64_t key = c.process * process_item_keys + coroutine * coroutine_item_keys;
    for (; clock_type::now() < deadline; ++key) {
        auto t0 = clock_type::now();
        if (auto error = co_await s.write_item(coroutine, key); !error.empty()) {
            out[op_kind::api_write].failed(error);
        } else {
            out[op_kind::api_write].succeeded(clock_type::now() - t0);
            if (acknowledged.size() < recent)
                acknowledged.push_back(key);
            else
                acknowledged[next_slot++ % recent] = key;
            if (c.logs)
                log_outcome(s, out[op_kind::log], "api", "item " + std::to_string(key) + " created");
        }
        for (int r = 0; r < c.reads_per_write && !acknowledged.empty(); ++r) {
            const auto pick = acknowledged[random() % acknowledged.size()];
            t0 = clock_type::now();
            if (auto error = co_await s.read_item(coroutine, pick); !error.empty())
                out[op_kind::api_read].failed(error);
            else
                out[op_kind::api_read].succeeded(clock_type::now() - t0);
        }
    }
}

asio::awaitable<void> worker(strategy& s, const child_config& c, int worker_index,
                             clock_type::time_point deadline, child_report& out) {
    asio::steady_timer pace(co_await asio::this_coro::executor);
    const auto first_key = c.process * process_stat_keys + worker_index * worker_stat_keys;
    const auto acknowledged = out.stats_acknowledged.begin() + worker_index * worker_stat_keys;
    std::vector<stat_row> batch(bulk_batch_rows);
    std::int64_t sequence = 0;
    for (auto next = clock_type::now(); clock_type::now() < deadline;) {
        for (auto& row : batch) {
            ++sequence;
            row = {first_key + sequence % worker_stat_keys, sequence, now_ms()};
        }
        out.bulk_offered += batch.size();
        const auto t0 = clock_type::now();
        if (auto error = co_await s.write_stats(worker_index, batch); !error.empty()) {
            out[op_kind::bulk_write].failed(error);
        } else {
            out[op_kind::bulk_write].succeeded(clock_type::now() - t0, batch.size());
            for (const auto& row : batch)
                acknowledged[row.key - first_key] = row.value;
            if (c.logs)
                log_outcome(s, out[op_kind::log], "worker", "stats batch written");
        }
        // A fixed pace; a worker that fell behind starts its next batch at once.
        next = std::max(next + bulk_batch_interval, clock_type::now());
        pace.expires_at(next);
        co_await pace.async_wait(asio::use_awaitable);
    }
}

// The timed part, then the strategy's finish. The tasks' end is awaited explicitly: a log
// database's flusher keeps the io_context busy until it is stopped.
asio::awaitable<void> run_all(const child_config& c, strategy& s, child_report& out) {
    const auto ex = co_await asio::this_coro::executor;
    const auto start = clock_type::now();
    const auto deadline = start + from_seconds(c.duration_s);
    asio::steady_timer all_done(ex, clock_type::time_point::max());
    int running = 1 + c.coroutines + c.workers;
    auto finished = [&](std::exception_ptr e) {
        if (e)
            std::rethrow_exception(e); // out of io.run(): a bug in the benchmark
        if (--running == 0)
            all_done.cancel();
    };
    asio::co_spawn(ex, ticker(start, deadline, c.db_path, out), finished);
    for (int i = 0; i < c.coroutines; ++i)
        asio::co_spawn(ex, api_coroutine(s, c, i, deadline, out), finished);
    for (int w = 0; w < c.workers; ++w)
        asio::co_spawn(ex, worker(s, c, w, deadline, out), finished);
    co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    out.elapsed_s = seconds(clock_type::now() - start);
    co_await s.finish(out);
}

} // namespace

void run_workload(asio::io_context& io, const child_config& c, strategy& s, child_report& out) {
    out.stats_acknowledged.assign(static_cast<std::size_t>(c.workers) * worker_stat_keys, 0);
    out.start_skew_ms = wait_for_start(c.start_ms);
    asio::co_spawn(io, run_all(c, s, out), [&io](std::exception_ptr e) {
        io.stop();
        if (e)
            std::rethrow_exception(e);
    });
    io.restart();
    io.run();
}

} // namespace sqlh::bench
