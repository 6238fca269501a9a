// SPDX-License-Identifier: BSL-1.0
// write_buffer_bench: the write buffer against raw sqlite3, measured in the same run.
//
//   throughput  1M buffered upserts over 100k keys from 16 producer coroutines, end to end
//               (including the final flush); raw: the same upserts in ONE transaction with one
//               prepared statement (the fastest way to write them by hand).
//   memory      heap bytes per pending row: 100k rows of 3 integers and a 20-byte string.
//   api-p99     single-row API writes (16 coroutines) while the buffer flushes 100k rows.
//
// Usage: write_buffer_bench [--batch-size N] [--rows N] [--keys N] [--only throughput|memory|api]
#include "support/command_line.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/write_buffer.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <malloc.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace sh = sqlite_hybrid;
using clock_type = std::chrono::steady_clock;

struct config {
    std::size_t rows = 1'000'000;
    std::int64_t keys = 100'000;
    std::size_t batch_size = 1000;
    int producers = 16;
    std::string only; // empty: every part
};

const char* kSchema = "CREATE TABLE items(id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, name TEXT);"
                      "CREATE TABLE api(id INTEGER PRIMARY KEY, v TEXT)";

// The same pseudo-random key sequence for the library and the raw baseline.
std::vector<std::int64_t> key_sequence(const config& cfg) {
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::int64_t> dist(0, cfg.keys - 1);
    std::vector<std::int64_t> keys(cfg.rows);
    for (auto& k : keys)
        k = dist(rng);
    return keys;
}

std::string name_for(std::int64_t key) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "item-%015lld", static_cast<long long>(key)); // 20 bytes
    return buf;
}

double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

double raw_rows_per_second(const std::string& path, const std::vector<std::int64_t>& keys) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-64000",
                 nullptr, nullptr, nullptr);
    sqlite3_exec(db, kSchema, nullptr, nullptr, nullptr);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db,
                       "INSERT INTO items(id, a, b, name) VALUES(?, ?, ?, ?) ON CONFLICT(id) DO "
                       "UPDATE SET a = excluded.a, b = excluded.b, name = excluded.name",
                       -1, &stmt, nullptr);
    const auto start = clock_type::now();
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const auto name = name_for(keys[i]);
        sqlite3_bind_int64(stmt, 1, keys[i]);
        sqlite3_bind_int64(stmt, 2, static_cast<std::int64_t>(i));
        sqlite3_bind_int64(stmt, 3, keys[i] * 2);
        sqlite3_bind_text(stmt, 4, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
        sqlite3_step(stmt);
        sqlite3_reset(stmt);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    const double rate = static_cast<double>(keys.size()) / seconds_since(start);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return rate;
}

sh::database open(asio::io_context& io, const std::string& path) {
    sh::database_options o;
    o.migrations = {kSchema};
    o.log = sh::null_logger();
    auto f = sh::database::async_open(io.get_executor(), path, o, asio::use_future);
    io.restart();
    io.run();
    return f.get();
}

// Runs io until `f` is ready (the flusher keeps io busy for as long as the buffer runs).
template <class T> T wait(asio::io_context& io, std::future<T> f) {
    io.restart();
    while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
        io.run_one_for(std::chrono::milliseconds(10));
    return f.get();
}

sh::row item_row(std::int64_t key, std::int64_t a) {
    return {{"id", key}, {"a", a}, {"b", key * 2}, {"name", name_for(key)}};
}

// Producers buffer their share of the keys; they wait when the buffer is full and give the
// thread to others (and to the flusher) now and then.
asio::awaitable<void> produce(sh::write_buffer& buffer, const std::vector<std::int64_t>& keys,
                              std::size_t first, std::size_t step) {
    const sh::column_names key{"id"};
    for (std::size_t i = first; i < keys.size(); i += step) {
        auto r = item_row(keys[i], static_cast<std::int64_t>(i));
        if (buffer.buffer_upsert("items", r, key) == sh::errc::buffer_full)
            co_await buffer.async_buffer_upsert("items", std::move(r), key);
        if ((i / step) % 512 == 0)
            co_await asio::post(asio::use_awaitable);
    }
}

struct throughput_result {
    double rows_per_s;
    double producing_s; // until the last producer returned
    double stopping_s;  // the final flush
    sh::write_buffer_metrics metrics;
};

throughput_result library_rows_per_second(const std::string& path, const config& cfg,
                                          const std::vector<std::int64_t>& keys) {
    asio::io_context io(1);
    auto db = open(io, path);
    sh::write_buffer_options o;
    o.batch_size = cfg.batch_size;
    o.flush_interval = std::chrono::milliseconds(100);
    o.log = sh::null_logger();
    sh::write_buffer buffer(db, o);
    wait(io, asio::co_spawn(io, buffer.async_start(), asio::use_future));
    const auto start = clock_type::now();
    int done = 0;
    for (int p = 0; p < cfg.producers; ++p)
        asio::co_spawn(io, produce(buffer, keys, static_cast<std::size_t>(p),
                                   static_cast<std::size_t>(cfg.producers)),
                       [&](std::exception_ptr e) {
                           ++done;
                           if (e)
                               std::rethrow_exception(e);
                       });
    io.restart();
    while (done < cfg.producers)
        io.run_one();
    const double producing = seconds_since(start);
    auto report = wait(io, asio::co_spawn(io, buffer.async_stop(), asio::use_future));
    const double total = seconds_since(start);
    if (!report.unwritten.empty())
        std::fprintf(stderr, "unwritten rows: %zu\n", report.unwritten.size());
    return {static_cast<double>(keys.size()) / total, producing, total - producing,
            buffer.metrics()};
}

// Heap in use, including blocks large enough to be mapped on their own (which uordblks leaves out).
std::size_t heap_in_use() {
    const auto m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

double bytes_per_pending_row(const std::string& path, std::int64_t rows) {
    asio::io_context io(1);
    auto db = open(io, path);
    sh::write_buffer_options o;
    o.flush_interval = std::chrono::hours(1);
    o.max_pending = static_cast<std::size_t>(rows) + 1;
    o.batch_size = o.max_pending;
    o.log = sh::null_logger();
    sh::write_buffer buffer(db, o);
    wait(io, asio::co_spawn(io, buffer.async_start(), asio::use_future));
    std::vector<sh::row> prepared; // built beforehand, so that only the buffer's heap counts
    prepared.reserve(static_cast<std::size_t>(rows));
    for (std::int64_t k = 0; k < rows; ++k)
        prepared.push_back(item_row(k, k));
    const sh::column_names key{"id"};
    malloc_trim(0);
    const auto before = heap_in_use();
    for (const auto& r : prepared)
        (void)buffer.buffer_upsert("items", r, key);
    const auto after = heap_in_use();
    wait(io, asio::co_spawn(io, buffer.async_stop(), asio::use_future));
    return static_cast<double>(after - before) / static_cast<double>(rows);
}

struct api_latency {
    double p50_ms, p99_ms, max_ms;
    std::size_t writes;
};

api_latency api_writes_during_flush(const std::string& path, const config& cfg) {
    asio::io_context io(1);
    auto db = open(io, path);
    sh::write_buffer_options o;
    o.flush_interval = std::chrono::hours(1);
    o.batch_size = cfg.batch_size;
    o.max_pending = static_cast<std::size_t>(cfg.keys) + 1;
    o.log = sh::null_logger();
    sh::write_buffer buffer(db, o);
    wait(io, asio::co_spawn(io, buffer.async_start(), asio::use_future));
    const sh::column_names key{"id"};
    for (std::int64_t k = 0; k < cfg.keys; ++k)
        (void)buffer.buffer_upsert("items", item_row(k, k + 1), key);
    std::vector<double> latencies;
    bool flushing = true;
    std::int64_t next_id = 0;
    asio::co_spawn(io, buffer.async_force_flush(),
                   [&](std::exception_ptr, std::size_t) { flushing = false; });
    for (int w = 0; w < 16; ++w)
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                while (flushing) {
                    const auto t0 = clock_type::now();
                    co_await db.async_execute("INSERT INTO api(id, v) VALUES(?, 'x')",
                                              sh::args(next_id++));
                    latencies.push_back(std::chrono::duration<double, std::milli>(
                                            clock_type::now() - t0)
                                            .count());
                }
            },
            asio::detached);
    io.restart();
    while (flushing)
        io.run_one();
    wait(io, asio::co_spawn(io, buffer.async_stop(), asio::use_future));
    std::sort(latencies.begin(), latencies.end());
    auto at = [&](double q) {
        return latencies.empty() ? 0.0
                                 : latencies[std::min(latencies.size() - 1,
                                                      static_cast<std::size_t>(q * static_cast<double>(latencies.size())))];
    };
    return {at(0.5), at(0.99), latencies.empty() ? 0.0 : latencies.back(), latencies.size()};
}

constexpr const char* kUsage =
    "usage: write_buffer_bench [--batch-size N] [--rows N] [--keys N] "
    "[--only throughput|memory|api]\n";

std::optional<config> parse_args(int argc, char** argv) {
    config cfg;
    const bool run = bench::for_each_option(argc, argv, [&](const std::string& opt,
                                                            const std::string& val) {
        const auto n = [&] { return static_cast<std::int64_t>(bench::parse_number(val, opt)); };
        if (opt == "--batch-size")
            cfg.batch_size = static_cast<std::size_t>(n());
        else if (opt == "--rows")
            cfg.rows = static_cast<std::size_t>(n());
        else if (opt == "--keys")
            cfg.keys = n();
        else if (opt == "--only" && (val == "throughput" || val == "memory" || val == "api"))
            cfg.only = val;
        else
            throw std::invalid_argument("unknown option or value: " + opt + " " + val);
    });
    return run ? std::optional<config>(std::move(cfg)) : std::nullopt;
}

int run(const config& cfg) {
    bench::temp_dir work("write_buffer_bench");
    const auto& dir = work.path();
    const auto keys = key_sequence(cfg);
    auto part = [&](const char* name) { return cfg.only.empty() || cfg.only == name; };

    std::printf("write_buffer_bench: %zu upserts over %lld keys, %d producers, batch_size %zu\n\n",
                cfg.rows, static_cast<long long>(cfg.keys), cfg.producers, cfg.batch_size);
    if (part("throughput")) {
        const double raw = raw_rows_per_second((dir / "raw.db").string(), keys);
        const auto lib = library_rows_per_second((dir / "buffer.db").string(), cfg, keys);
        std::printf("%-34s %12.0f rows/s\n", "raw sqlite3, one transaction", raw);
        std::printf("%-34s %12.0f rows/s   %.2fx raw (goal >= 0.80x)\n", "write buffer, end to end",
                    lib.rows_per_s, lib.rows_per_s / raw);
        std::printf("%-34s %12.2f s producing, %.2f s final flush\n", "", lib.producing_s,
                    lib.stopping_s);
        std::printf("%-34s %12llu coalesced, %llu written, %llu flushes\n", "",
                    static_cast<unsigned long long>(lib.metrics.coalesced),
                    static_cast<unsigned long long>(lib.metrics.flushed),
                    static_cast<unsigned long long>(lib.metrics.flushes));
    }
    if (part("memory")) {
        const double bytes = bytes_per_pending_row((dir / "memory.db").string(), cfg.keys);
        std::printf("%-34s %12.0f bytes (goal <= 256)\n", "heap per pending row", bytes);
    }
    if (part("api")) {
        const auto api = api_writes_during_flush((dir / "api.db").string(), cfg);
        std::printf("%-34s %12.2f ms p50, %.2f ms p99 (goal <= 20), %.2f ms max, %zu writes\n",
                    "API writes during a 100k-row flush", api.p50_ms, api.p99_ms, api.max_ms,
                    api.writes);
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    return bench::run_main("write_buffer_bench", kUsage, argc, argv, parse_args, run);
}
