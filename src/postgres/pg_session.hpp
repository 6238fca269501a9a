// SPDX-License-Identifier: BSL-1.0
// One libpq connection: connecting (and reconnecting with backoff after the server dropped
// it), prepared statements by SQL text, running them, and errors as SQLSTATE codes with the
// server's message in the diagnostics. Used on one strand at a time, like a SQLite handle.
// Every exchange with the server uses libpq's non-blocking calls and waits in slices, so that
// an interrupt or a scope nobody waits in any more (pg_wait_scope.hpp) ends it even while the
// server does not answer at all.
#pragma once

#include "pg_sql.hpp"

#include <sqlite_hybrid/diagnostics.hpp>
#include <sqlite_hybrid/logger.hpp>
#include <sqlite_hybrid/result.hpp>
#include <sqlite_hybrid/value.hpp>

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sqlite_hybrid::detail {

struct pg_result_deleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using pg_result = std::unique_ptr<PGresult, pg_result_deleter>;

struct pg_prepared {
    std::string name; // the server-side name, "s<n>"
    std::string sql;  // as sent to the server ($n placeholders)
    int parameters = 0;
    int columns = 0;
    // Whether it only reads, by its first word; on a read-only session (a reader, where it
    // decides the routing) also not when it calls a VOLATILE function of the database's own.
    bool read_only = false;
    // Why a caller's job may not run it ([1]: a write job with savepoints of its own), from
    // pg_sql.hpp; classified once, when the text is first prepared.
    std::optional<std::string> refused_in_job[2];
    std::uint64_t generation = 0; // the session it was prepared on; older: prepare again
    bool stale = false; // the server's plan no longer fits (0A000) or is gone (26000)
    int users = 0;      // statements open on it: it stays while there are any
    std::uint64_t last_used = 0;
};

struct pg_session_options {
    std::string conninfo; // a libpq URI or key=value string
    bool read_only = false;
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
    // After a cancel request, how long the server has to answer before the connection is
    // closed instead (a frozen server); its transaction then rolls back on the server.
    std::chrono::milliseconds cancel_grace{500};
    std::chrono::milliseconds reconnect_backoff_min{100};
    std::chrono::milliseconds reconnect_backoff_max{std::chrono::seconds(5)};
    std::string session_sql; // run after every (re)connect, e.g. SET statements
    std::chrono::milliseconds health_check_after{std::chrono::seconds(30)}; // 0: never
    std::size_t statement_cache_size = 64;
    logger notices; // unset: libpq's default (stderr)
};

class pg_session {
public:
    // Connects at once; a failure is returned with libpq's message in `diag`.
    static result<std::unique_ptr<pg_session>> connect(pg_session_options options,
                                                       diagnostics& diag);
    pg_session(const pg_session&) = delete;
    pg_session& operator=(const pg_session&) = delete;
    ~pg_session();

    // The prepared statement for `sql` (`?` placeholders become $n), prepared on a miss.
    // `in_job`: inside a caller's job (with savepoints of its own, or not), where statements
    // that belong to the library are refused (errc::statement_refused). Several statements are
    // refused always (errc::multiple_statements).
    result<pg_prepared*> prepare(std::string_view sql, std::optional<bool> in_job = std::nullopt);
    // Runs a prepared statement; rows come back as text, except bytea as the server sends it.
    result<pg_result> run(pg_prepared& p, std::span<const value> params);
    // Several statements without parameters (the simple query protocol).
    result<void> execute_script(std::string_view sql);

    bool in_transaction() const noexcept;
    bool transaction_failed() const noexcept; // only ROLLBACK is accepted now
    // From any thread, without waiting for the network: the exchange in progress, if any,
    // sends a cancel request and ends (SQLSTATE 57014).
    void interrupt() noexcept;
    // Before each job: when the server dropped the connection, connects again (no more often
    // than the backoff allows); the error when it is still down.
    error_code ensure_connected();

    void statement_opened(pg_prepared& p) noexcept {
        ++live_statements_;
        ++p.users;
    }
    void statement_closed(pg_prepared& p) noexcept {
        --live_statements_;
        --p.users;
    }
    void clear_statement_cache() noexcept;
    diagnostics& diag() noexcept { return *diag_; }
    void set_diagnostics(diagnostics* d) noexcept { diag_ = d; }
    const pg_session_options& options() const noexcept { return options_; }
    PGconn* native_handle() const noexcept { return conn_; }

private:
    explicit pg_session(pg_session_options options);
    error_code open(diagnostics& diag);
    // Sending a command went wrong (libpq's message), or the session was abandoned before.
    error_code not_sent(std::string_view sql);
    // The results of the command just sent: the last one, or the first error. Waits in slices;
    // gives up (57014, the connection closed) when interrupted or no longer wanted and the
    // server does not answer the cancel request in time, or at `limit`.
    result<pg_result> finish(std::string_view sql,
                             std::optional<std::chrono::steady_clock::time_point> limit = {});
    // finish() for a command that answers PGRES_COMMAND_OK (PREPARE, DESCRIBE); else its error.
    result<pg_result> finish_command(std::string_view sql);
    enum class wait_end { ready, interrupted, timed_out };
    // Until the socket is ready for `events` (poll's), `limit`, or, when interruptible (as
    // exchange number `interruptible_as`), an interrupt or the scope giving up.
    wait_end wait_socket(short events, std::optional<std::chrono::steady_clock::time_point> limit,
                         std::optional<std::uint64_t> interruptible_as);
    bool should_give_up(std::uint64_t wait) noexcept;
    // Sends the server a cancel request from a thread of its own; ready once it was delivered.
    std::future<void> send_cancel_request();
    void abandon() noexcept; // closes the connection without waiting for the server
    bool healthy(); // probes the server when the connection has been idle for long
    error_code fail(const PGresult* r, std::string_view sql);
    error_code lost(std::string_view sql);
    error_code prepare_on_server(pg_prepared& p);
    // Whether `sql` calls a VOLATILE function the database defines (outside pg_catalog): it may
    // write, and a reader would run it read-only, to no effect if it catches that error itself.
    bool calls_volatile_function(const std::string& sql);
    static void receive_notice(void* self, const PGresult* notice);
    // Makes room for one more statement: the least recently used one nobody holds goes.
    void evict_one();

    pg_session_options options_;
    PGconn* conn_ = nullptr;
    // Sent from a thread of its own: libpq's PQcancel waits for the server's postmaster.
    std::shared_ptr<PGcancel> cancel_;
    int wake_fd_ = -1; // an eventfd that interrupt() writes to, polled with the socket
    std::atomic<std::uint64_t> wait_id_{0};        // the exchange in progress (or the last one)
    std::atomic<std::uint64_t> interrupted_wait_{0}; // the exchange interrupt() meant
    diagnostics own_diag_;
    diagnostics* diag_ = &own_diag_;
    struct sql_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::unordered_map<std::string, pg_prepared, sql_hash, std::equal_to<>> prepared_;
    std::uint64_t generation_ = 1;
    std::uint64_t next_name_ = 1;
    std::uint64_t use_clock_ = 0;
    int live_statements_ = 0;
    std::chrono::steady_clock::time_point next_reconnect_{};
    std::chrono::steady_clock::time_point last_checked_ = std::chrono::steady_clock::now();
    std::chrono::milliseconds backoff_{0};
    std::string last_connect_failure_;
};

} // namespace sqlite_hybrid::detail
