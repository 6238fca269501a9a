// SPDX-License-Identifier: BSL-1.0
// Settings for connections and databases, with the defaults the design asks for.
#pragma once

#include <sqlite_hybrid/logger.hpp>
#include <sqlite_hybrid/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio {
class thread_pool;
}

namespace sqlite_hybrid {

class connection;

enum class journal_mode { wal, delete_mode, truncate, persist, memory, off };
enum class synchronous_mode { off, normal, full, extra };

// The names SQLite's pragmas take and answer: "wal", "delete", ...; "off", "normal", ...
constexpr std::string_view to_string(journal_mode m) noexcept {
    switch (m) {
    case journal_mode::wal: return "wal";
    case journal_mode::delete_mode: return "delete";
    case journal_mode::truncate: return "truncate";
    case journal_mode::persist: return "persist";
    case journal_mode::memory: return "memory";
    case journal_mode::off: return "off";
    }
    return "wal";
}
constexpr std::string_view to_string(synchronous_mode m) noexcept {
    switch (m) {
    case synchronous_mode::off: return "off";
    case synchronous_mode::normal: return "normal";
    case synchronous_mode::full: return "full";
    case synchronous_mode::extra: return "extra";
    }
    return "normal";
}

// PostgreSQL connections (the SQLite settings below do not apply to them).
struct postgres_options {
    // Added to the connection string unless it sets connect_timeout itself (whole seconds).
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
    // After the server dropped a connection: the first reconnect waits at least `min`, each
    // failed one doubles the wait, up to `max`. Jobs meanwhile fail with connection_lost.
    std::chrono::milliseconds reconnect_backoff_min{100};
    std::chrono::milliseconds reconnect_backoff_max{std::chrono::seconds(5)};
    // Run on every (re)connect, e.g. "SET statement_timeout = '30s'".
    std::string session_sql;
    // A connection unused for this long is probed (one round trip) before its next job, so
    // that a server restarted meanwhile costs a reconnect instead of a failed job. 0: never.
    std::chrono::milliseconds health_check_after{std::chrono::seconds(30)};
    // Where the server's warnings go (RAISE WARNING, deprecations; client_min_messages is
    // warning), with their level. Unset: libpq prints them on stderr; a database passes its
    // database_options::log.
    logger notices;
};

// Applied at open in this order: busy_timeout, journal_mode (writer only), synchronous,
// cache_size, temp_store, mmap_size, foreign_keys, journal_size_limit, secure_delete.
struct connection_options {
    // How long one statement waits for another connection's lock. The wait is a fair poll
    // every `busy_poll_interval` (SQLite's own handler sleeps up to 100 ms and favours
    // newcomers); values over 1 s park a thread for long and are warned about.
    std::chrono::milliseconds busy_timeout{500};
    std::chrono::microseconds busy_poll_interval{250};
    journal_mode journal = journal_mode::wal;
    synchronous_mode synchronous = synchronous_mode::normal;
    int cache_size = -64000; // negative: KiB, as in PRAGMA cache_size
    bool temp_store_memory = true;
    std::int64_t mmap_size = 256 * 1024 * 1024;
    bool foreign_keys = true;
    std::int64_t journal_size_limit = 64 * 1024 * 1024;
    std::optional<bool> secure_delete; // unset: keep the build's default (on in Debian)
    std::size_t statement_cache_size = 64;
    bool require_wal = false; // fail the open when WAL cannot be set, instead of a warning
    postgres_options postgres;
};

// What a connection really runs with, read back from SQLite after the pragmas were applied.
struct applied_settings {
    std::string journal_mode; // as SQLite answered, e.g. "wal", "memory", "delete"
    std::chrono::milliseconds busy_timeout{0};
    int synchronous = -1;
    int cache_size = 0;
    int temp_store = -1;
    std::int64_t mmap_size = 0;
    bool foreign_keys = false;
    std::int64_t journal_size_limit = 0;
    bool secure_delete = false;
    bool read_only = false;
};

struct database_options {
    connection_options connection;

    // Read-only connections next to the single writer. 0: every read runs on the writer.
    std::size_t readers = 4;

    // A user-supplied pool to run the connections on; null: the database owns a pool.
    boost::asio::thread_pool* pool = nullptr;
    // Threads of the database's own pool; 0: one per connection (on SQLite no more than the
    // cores, at least two; on PostgreSQL, whose connections wait for the server, all of them).
    std::size_t pool_threads = 0;

    // Group commit bounds: jobs per transaction, and how long one transaction may hold the
    // write lock before it stops taking more jobs.
    std::size_t max_group_size = 512;
    std::chrono::microseconds max_group_duration{std::chrono::milliseconds(10)};

    // Ordered schema steps, applied at open under PRAGMA user_version (step i makes it i+1).
    std::vector<std::string> migrations;

    // WAL pages after which a PASSIVE checkpoint runs (on a connection of its own, off the
    // writer's path); from `checkpoint_restart_pages` on, the writer runs a RESTART checkpoint
    // between two groups, which waits for readers so that the WAL starts over.
    std::int64_t checkpoint_threshold_pages = 4000;
    std::int64_t checkpoint_restart_pages = 16000;

    // How long opening may wait for other processes (WAL switch, migrations).
    std::chrono::milliseconds open_timeout{std::chrono::seconds(10)};

    // How long a write may wait for another process's write lock before it fails with
    // SQLITE_BUSY. The writer waits in short slices on its thread and between them on a timer,
    // so that the thread serves others meanwhile; a with_retry deadline shortens it.
    std::chrono::milliseconds lock_timeout{std::chrono::seconds(5)};

    logger log; // empty: default_logger()

    // Runs on every connection the database opens (the writer, then each reader), after the
    // pragmas above and before any job: for per-connection settings the options do not name
    // (PRAGMA recursive_triggers=ON), ATTACH, or functions registered through native_handle().
    // Routed statements and jobs may not change such settings (errc::statement_refused), since
    // they would reach one connection of several. An error fails the open with that error.
    // PostgreSQL: use connection.postgres.session_sql, which also runs on every reconnect.
    std::function<result<void>(sqlite_hybrid::connection&)> on_connect;
};

} // namespace sqlite_hybrid
