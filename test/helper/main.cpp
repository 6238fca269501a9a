// SPDX-License-Identifier: BSL-1.0
// A separate process for the cross-process tests:
//   test_helper migrate DB START_MS   open DB with the shared migrations at START_MS (epoch ms)
//   test_helper hold-lock DB HOLD_MS  take the write lock (BEGIN IMMEDIATE), say "locked", hold it
//   test_helper write-load DB ID COROUTINES WRITES START_MS
//       at START_MS, COROUTINES coroutines each write WRITES rows with keys ID * 1e6 + n through
//       with_retry; prints "acknowledged=N errors=E" and exits 0 when E is 0
//   test_helper buffer-stream DB
//       buffers rows k = 0, 1, 2 ... into kv through a write buffer, forcing a flush every 100
//       rows and printing the last k it reported flushed; runs until killed
#include "migrations.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/retry.hpp>
#include <sqlite_hybrid/write_buffer.hpp>

#include <boost/asio/detached.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;

namespace {

void sleep_until_epoch_ms(long long start_ms) {
    std::this_thread::sleep_until(
        std::chrono::system_clock::time_point(std::chrono::milliseconds(start_ms)));
}

int migrate(const std::string& path, long long start_ms) {
    sleep_until_epoch_ms(start_ms);
    asio::io_context io;
    sh::database_options o;
    o.migrations = sh::test::shared_migrations();
    o.log = sh::null_logger();
    sh::diagnostics diag;
    auto f = sh::database::async_open(io.get_executor(), path, o, diag, asio::use_future);
    io.run();
    try {
        auto db = f.get();
        return db.is_open() ? 0 : 1;
    } catch (const boost::system::system_error& e) {
        std::fprintf(stderr, "open failed: %s (%s)\n", e.what(), diag.message.c_str());
        return 1;
    }
}

int hold_lock(const std::string& path, long long hold_ms) {
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK)
        return 2;
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
        std::fprintf(stderr, "BEGIN IMMEDIATE failed: %s\n", sqlite3_errmsg(db));
        return 3;
    }
    std::printf("locked\n");
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    return 0;
}

int write_load(const std::string& path, long long id, int coroutines, int writes,
               long long start_ms) {
    asio::io_context io;
    sh::database_options o;
    o.migrations = sh::test::shared_migrations();
    o.log = sh::null_logger();
    auto f = sh::database::async_open(io.get_executor(), path, o, asio::use_future);
    io.run();
    auto db = f.get();
    sleep_until_epoch_ms(start_ms);
    int acknowledged = 0, errors = 0;
    sh::retry_policy policy;
    policy.deadline = std::chrono::seconds(20);
    policy.max_retries = 100;
    policy.base_delay = std::chrono::milliseconds(1);
    for (int c = 0; c < coroutines; ++c)
        asio::co_spawn(
            io,
            [&, c]() -> asio::awaitable<void> {
                for (int i = 0; i < writes; ++i) {
                    const long long key = id * 1000000 + c * 1000 + i;
                    auto r = co_await sh::with_retry(
                        [&](auto token) {
                            return db.async_execute("INSERT INTO kv(k, v) VALUES(?, 'w')",
                                                    sh::args(key), std::move(token));
                        },
                        policy, sh::as_result);
                    if (r)
                        ++acknowledged;
                    else {
                        ++errors;
                        std::fprintf(stderr, "write %lld failed: %s\n", key,
                                     r.error().message().c_str());
                    }
                }
            },
            asio::detached);
    io.restart();
    io.run();
    std::printf("acknowledged=%d errors=%d\n", acknowledged, errors);
    return errors == 0 ? 0 : 1;
}

int buffer_stream(const std::string& path) {
    asio::io_context io;
    sh::database_options o;
    o.migrations = sh::test::shared_migrations();
    o.log = sh::null_logger();
    int status = 1;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto db = co_await sh::database::async_open(io.get_executor(), path, o);
            sh::write_buffer_options bo;
            bo.flush_interval = std::chrono::milliseconds(10);
            bo.log = sh::null_logger();
            sh::write_buffer buffer(db, bo);
            co_await buffer.async_start();
            for (long long k = 0;; ++k) {
                if (buffer.buffer_upsert("kv", {{"k", k}, {"v", "streamed"}}, {"k"}))
                    co_return;
                if (k % 100 == 99) {
                    co_await buffer.async_force_flush();
                    std::printf("%lld\n", k);
                    std::fflush(stdout);
                }
            }
        },
        [&](std::exception_ptr) { status = 1; });
    io.run();
    return status;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::string(argv[1]) == "migrate")
        return migrate(argv[2], std::atoll(argv[3]));
    if (argc == 4 && std::string(argv[1]) == "hold-lock")
        return hold_lock(argv[2], std::atoll(argv[3]));
    if (argc == 3 && std::string(argv[1]) == "buffer-stream")
        return buffer_stream(argv[2]);
    if (argc == 7 && std::string(argv[1]) == "write-load")
        return write_load(argv[2], std::atoll(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]),
                          std::atoll(argv[6]));
    std::fprintf(stderr, "usage: test_helper migrate DB START_MS | hold-lock DB HOLD_MS | "
                         "write-load DB ID COROUTINES WRITES START_MS | buffer-stream DB\n");
    return 64;
}
