// SPDX-License-Identifier: BSL-1.0
#include "bench/bench_schema.hpp"

#include "bench/bench_config.hpp"

#include <sqlite_hybrid/connection.hpp>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <tuple>

namespace sqlh::bench {

namespace sh = sqlite_hybrid;
using namespace std::chrono_literals;

std::string item_name(std::int64_t key) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "item-%013lld", static_cast<long long>(key));
    return buf;
}

std::int64_t item_price(std::int64_t key) { return 100 + key % 9900; }

namespace {

// The library's own connection: it opens the SQLite file and the PostgreSQL server alike.
sh::connection open_connection(const std::string& db) {
    sh::connection_options o;
    o.busy_timeout = 5000ms;
    sh::diagnostics why; // libpq's reason: SQLSTATE 08001 alone says nothing
    auto c = sh::connection::open(db, sh::open_mode::read_write_create, o, &why);
    if (!c)
        throw std::runtime_error("cannot open " + sh::redact_database_url(db) + ": " +
                                 (why.message.empty() ? c.error().message() : why.message));
    return std::move(c).value();
}

template <class T> T checked(sh::connection& c, sh::result<T> r, const char* what) {
    if (!r)
        throw std::runtime_error(std::string(what) + ": " + c.last_diagnostics().message);
    if constexpr (!std::is_void_v<T>)
        return std::move(r).value();
}

} // namespace

void reset_database(const std::string& db, const std::string& log_path) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
        std::error_code ec;
        std::filesystem::remove(log_path + suffix, ec);
    }
    auto conn = open_connection(db);
    const bool sqlite = conn.engine() == sh::backend::sqlite;
    checked(conn, conn.execute_script("DROP TABLE IF EXISTS items; DROP TABLE IF EXISTS stats;"
                                      "CREATE TABLE items(k BIGINT PRIMARY KEY, name TEXT NOT NULL,"
                                      " price BIGINT NOT NULL);"
                                      "CREATE TABLE stats(key BIGINT PRIMARY KEY, value BIGINT NOT NULL,"
                                      " updated_ms BIGINT NOT NULL)"),
            "create the tables");
    // The strategies that log into the main database; VACUUM and the WAL: files only. On a
    // server the bench touches only its own two tables: a `logs` table there is the user's.
    if (sqlite)
        checked(conn, conn.execute_script("DROP TABLE IF EXISTS logs; CREATE TABLE logs(id INTEGER PRIMARY KEY, ts_us INTEGER NOT NULL, "
                                          "level TEXT NOT NULL, logger TEXT NOT NULL, message TEXT NOT NULL);"
                                          "VACUUM; PRAGMA wal_checkpoint(TRUNCATE)"),
                "create the logs table");
}

std::vector<std::uint64_t> items_per_process(const std::string& db, int processes) {
    auto conn = open_connection(db);
    auto counts = checked(conn,
                          conn.query<std::tuple<std::int64_t, std::int64_t>>(
                              "SELECT k / " + std::to_string(process_item_keys) +
                              ", count(*) FROM items GROUP BY 1"),
                          "count items");
    std::vector<std::uint64_t> rows(static_cast<std::size_t>(processes) + 1);
    for (const auto& [p, n] : counts)
        rows[p >= 0 && p < processes ? static_cast<std::size_t>(p) : rows.size() - 1] +=
            static_cast<std::uint64_t>(n);
    return rows;
}

std::vector<std::int64_t> stats_of_process(const std::string& db, int process, int workers) {
    auto conn = open_connection(db);
    const std::int64_t first = process * process_stat_keys;
    auto rows = checked(conn,
                        conn.query<std::tuple<std::int64_t, std::int64_t>>(
                            "SELECT key, value FROM stats WHERE key >= $1 AND key < $2", first,
                            first + process_stat_keys),
                        "read stats");
    std::vector<std::int64_t> values(static_cast<std::size_t>(workers) * worker_stat_keys);
    for (const auto& [key, value] : rows)
        if (const auto index = key - first; index >= 0 && static_cast<std::size_t>(index) < values.size())
            values[static_cast<std::size_t>(index)] = value;
    return values;
}

} // namespace sqlh::bench
