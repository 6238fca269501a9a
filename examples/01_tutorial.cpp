// SPDX-License-Identifier: BSL-1.0
// Tutorial: open a database, write concurrently, read back, close.
//
//   ./01_tutorial [PATH]        (default: tutorial.db in the current directory)
//
// Many coroutines write at once; the library queues their writes in front of the single writer
// connection and commits them in shared transactions, so none of them sees "database is locked".
#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <string>

namespace asio = boost::asio;
namespace sh = sqlite_hybrid;

struct note {
    std::int64_t id = 0;
    std::string text;
};

// Rows of `SELECT id, text FROM notes` map onto `note` member by member.
template <> struct sqlite_hybrid::row_traits<note> {
    static constexpr auto members = std::make_tuple(&note::id, &note::text);
};

asio::awaitable<void> add_notes(sh::database& db, int writer) {
    for (int i = 0; i < 10; ++i)
        co_await db.async_execute("INSERT INTO notes(text) VALUES(?)",
                                  sh::args("note " + std::to_string(i) + " from writer " +
                                           std::to_string(writer)));
}

asio::awaitable<int> tutorial(asio::io_context& io, std::string path) {
    sh::database_options options;
    options.migrations = {"CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT NOT NULL)"};
    auto db = co_await sh::database::async_open(io.get_executor(), path, options);
    std::printf("opened %s (journal_mode=%s)\n", path.c_str(),
                db.writer_settings().journal_mode.c_str());

    // Eight writers at once: their inserts share transactions (group commit).
    int finished = 0;
    for (int w = 0; w < 8; ++w)
        asio::co_spawn(io, add_notes(db, w), [&](std::exception_ptr) { ++finished; });
    // Reads run on read-only connections and see the last committed state.
    while (finished < 8)
        co_await db.async_query<int>("SELECT count(*) FROM notes");

    auto last = co_await db.async_query<note>("SELECT id, text FROM notes ORDER BY id DESC LIMIT 3");
    for (const auto& n : last)
        std::printf("#%lld %s\n", static_cast<long long>(n.id), n.text.c_str());

    // Errors come back as error codes; as_result turns them into values instead of exceptions.
    auto bad = co_await db.async_execute("INSERT INTO notes(text) VALUES(NULL)", {}, sh::as_result);
    std::printf("inserting NULL: %s\n", bad.error().message().c_str());

    auto m = db.metrics();
    std::printf("writes=%llu transactions=%llu largest group=%llu\n",
                static_cast<unsigned long long>(m.writes),
                static_cast<unsigned long long>(m.groups),
                static_cast<unsigned long long>(m.largest_group));
    co_await db.async_close();
    co_return last.size() == 3 ? 0 : 1;
}

int main(int argc, char** argv) {
    asio::io_context io;
    int status = 1;
    asio::co_spawn(io, tutorial(io, argc > 1 ? argv[1] : "tutorial.db"),
                   [&](std::exception_ptr e, int result) {
                       status = result;
                       if (e) {
                           try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                               std::fprintf(stderr, "error: %s\n", ex.what());
                           }
                       }
                   });
    io.run();
    return status;
}
