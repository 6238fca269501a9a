// SPDX-License-Identifier: BSL-1.0
// The child the crash test SIGKILLs: group-commit writers and a write buffer on one database,
// each fact that must survive printed (and flushed to the pipe) only once the library said so.
#include "reliability/child_modes.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/write_buffer.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>

namespace sqlite_hybrid::test {

namespace asio = boost::asio;

namespace {

constexpr int writers = 6;
// The parent kills well before this; the limit only keeps a forgotten child from running on.
constexpr auto give_up_after = std::chrono::seconds(30);

void say(const char* format, long long a, long long b = 0) {
    std::printf(format, a, b);
    std::fflush(stdout); // in the pipe before the next write can be acknowledged
}

asio::awaitable<void> write_jobs(database& db, long long run, int writer,
                                 std::chrono::steady_clock::time_point until) {
    for (long long seq = 0; std::chrono::steady_clock::now() < until; ++seq) {
        auto r = co_await db.async_write(
            [=](connection& c) -> result<void> {
                for (int part = 0; part < 2; ++part)
                    if (auto inserted =
                            c.execute("INSERT INTO jobs(run, writer, seq, part, payload) "
                                      "VALUES(?, ?, ?, ?, randomblob(16))",
                                      run, writer, seq, part);
                        !inserted)
                        return inserted.error();
                return outcome::success();
            },
            as_result);
        if (r)
            say("A %lld %lld\n", writer, seq);
        else
            std::fprintf(stderr, "job %d/%lld failed: %s\n", writer, seq,
                         r.error().message().c_str());
    }
}

asio::awaitable<void> buffer_rows(write_buffer& buffer, long long run,
                                  std::chrono::steady_clock::time_point until) {
    for (long long i = 0; std::chrono::steady_clock::now() < until; ++i) {
        // Built before the co_await: GCC 12 rejects braced lists inside one.
        row r{{"k", run * buffered_keys_per_run + i}, {"v", "buffered"}};
        column_names key{"k"};
        auto accepted =
            co_await buffer.async_buffer_upsert("kv", std::move(r), std::move(key), as_result);
        if (!accepted) {
            std::fprintf(stderr, "buffering failed: %s\n", accepted.error().message().c_str());
            co_return;
        }
        if (i % 50 == 49) {
            if (auto flushed = co_await buffer.async_force_flush(as_result))
                say("F %lld\n", i);
        }
    }
}

} // namespace

int crash_writer(const std::string& path, long long run) {
    asio::io_context io;
    auto options = crash_writer_schema();
    options.log = null_logger();
    // Checkpoints often, so that kills land in them too.
    options.checkpoint_threshold_pages = 64;
    options.checkpoint_restart_pages = 512;
    int status = 1;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto db = co_await database::async_open(io.get_executor(), path, options);
            write_buffer_options bo;
            bo.flush_interval = std::chrono::milliseconds(5);
            bo.batch_size = 64;
            bo.log = null_logger();
            write_buffer buffer(db, bo);
            co_await buffer.async_start();
            std::printf("ready\n");
            std::fflush(stdout);
            const auto until = std::chrono::steady_clock::now() + give_up_after;
            int running = writers + 1;
            for (int w = 0; w < writers; ++w)
                asio::co_spawn(io, write_jobs(db, run, w, until),
                               [&](std::exception_ptr) { --running; });
            asio::co_spawn(io, buffer_rows(buffer, run, until),
                           [&](std::exception_ptr) { --running; });
            while (running > 0) {
                asio::steady_timer t(io, std::chrono::milliseconds(10));
                co_await t.async_wait(asio::use_awaitable);
            }
            co_await buffer.async_stop();
            co_await db.async_close();
            status = 0;
        },
        [&](std::exception_ptr e) {
            if (!e)
                return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::fprintf(stderr, "crash writer failed: %s\n", x.what());
            }
        });
    io.run();
    return status;
}

} // namespace sqlite_hybrid::test
