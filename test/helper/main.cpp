// A separate process for the cross-process tests:
//   test_helper migrate DB START_MS   open DB with the shared migrations at START_MS (epoch ms)
//   test_helper hold-lock DB HOLD_MS  take the write lock (BEGIN IMMEDIATE), say "locked", hold it
#include "migrations.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>

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

int migrate(const std::string& path, long long start_ms) {
    std::this_thread::sleep_until(std::chrono::system_clock::time_point(
        std::chrono::milliseconds(start_ms)));
    asio::io_context io;
    sh::database_options o;
    o.migrations = sh::test::shared_migrations();
    o.log = sh::null_logger();
    sh::diagnostics diag;
    auto f = sh::database::async_open(io.get_executor(), path, o, &diag, asio::use_future);
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

} // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::string(argv[1]) == "migrate")
        return migrate(argv[2], std::atoll(argv[3]));
    if (argc == 4 && std::string(argv[1]) == "hold-lock")
        return hold_lock(argv[2], std::atoll(argv[3]));
    std::fprintf(stderr, "usage: test_helper migrate DB START_MS | hold-lock DB HOLD_MS\n");
    return 64;
}
