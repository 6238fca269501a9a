// SPDX-License-Identifier: BSL-1.0
// Uses the installed package: opens a database, writes, reads back, prints the count.
#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/version.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    namespace asio = boost::asio;
    if (argc != 2)
        return 2;
    asio::io_context io;
    int rows = -1;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            sqlite_hybrid::database_options options;
            options.migrations = {"CREATE TABLE t(x INTEGER)"};
            auto db = co_await sqlite_hybrid::database::async_open(io.get_executor(), argv[1], options);
            co_await db.async_execute("INSERT INTO t VALUES(?)", sqlite_hybrid::args(42));
            rows = co_await db.async_read([](sqlite_hybrid::connection& c) {
                return c.query_one<int>("SELECT count(*) FROM t").value().value_or(0);
            });
            co_await db.async_close();
        },
        asio::detached);
    io.run();
    std::printf("rows=%d sqlite_hybrid %s\n", rows, sqlite_hybrid::version());
    return rows == 1 ? 0 : 1;
}
