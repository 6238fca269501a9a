#include "bench/bench_schema.hpp"

#include "bench/bench_config.hpp"
#include "bench/raw_sqlite.hpp"

#include <cstdio>
#include <filesystem>

namespace sqlh::bench {

using namespace std::chrono_literals;

std::string item_name(std::int64_t key) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "item-%013lld", static_cast<long long>(key));
    return buf;
}

std::int64_t item_price(std::int64_t key) { return 100 + key % 9900; }

void reset_database(const std::string& path, const std::string& log_path) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
        std::error_code ec;
        std::filesystem::remove(log_path + suffix, ec);
    }
    raw_connection conn(path, 5000ms);
    conn.exec("DROP TABLE IF EXISTS items");
    conn.exec("DROP TABLE IF EXISTS stats");
    conn.exec("DROP TABLE IF EXISTS logs");
    conn.exec("CREATE TABLE items(k INTEGER PRIMARY KEY, name TEXT NOT NULL, "
              "price INTEGER NOT NULL)");
    conn.exec("CREATE TABLE stats(key INTEGER PRIMARY KEY, value INTEGER NOT NULL, "
              "updated_ms INTEGER NOT NULL)");
    conn.exec("CREATE TABLE logs(id INTEGER PRIMARY KEY, ts_us INTEGER NOT NULL, "
              "level TEXT NOT NULL, logger TEXT NOT NULL, message TEXT NOT NULL)");
    conn.exec("VACUUM");
    conn.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

std::vector<std::uint64_t> items_per_process(const std::string& path, int processes) {
    raw_connection conn(path, 5000ms);
    raw_statement count(conn.get(), "SELECT k / " + std::to_string(process_item_keys) +
                                        ", count(*) FROM items GROUP BY 1");
    std::vector<std::uint64_t> rows(static_cast<std::size_t>(processes) + 1);
    int rc;
    while ((rc = sqlite3_step(count.get())) == SQLITE_ROW) {
        const auto p = sqlite3_column_int64(count.get(), 0);
        const auto n = static_cast<std::uint64_t>(sqlite3_column_int64(count.get(), 1));
        rows[p >= 0 && p < processes ? static_cast<std::size_t>(p) : rows.size() - 1] += n;
    }
    if (rc != SQLITE_DONE)
        fail_sqlite(conn.get(), "count items");
    return rows;
}

std::vector<std::int64_t> stats_of_process(const std::string& path, int process, int workers) {
    raw_connection conn(path, 5000ms);
    raw_statement select(conn.get(), "SELECT key, value FROM stats WHERE key >= ? AND key < ?");
    const std::int64_t first = process * process_stat_keys;
    sqlite3_bind_int64(select.get(), 1, first);
    sqlite3_bind_int64(select.get(), 2, first + process_stat_keys);
    std::vector<std::int64_t> values(static_cast<std::size_t>(workers) * worker_stat_keys);
    int rc;
    while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
        const auto index = sqlite3_column_int64(select.get(), 0) - first;
        if (index >= 0 && static_cast<std::size_t>(index) < values.size())
            values[static_cast<std::size_t>(index)] = sqlite3_column_int64(select.get(), 1);
    }
    if (rc != SQLITE_DONE)
        fail_sqlite(conn.get(), "read stats");
    return values;
}

} // namespace sqlh::bench
