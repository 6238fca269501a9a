// SPDX-License-Identifier: BSL-1.0
#include "postgres/pg_cursor.hpp"
#include "postgres/pg_statement_guard.hpp"
#include "statement_cache.hpp"

#include <sqlite_hybrid/connection.hpp>

#include <algorithm>
#include <cctype>
#include <thread>
#include <string>
#include <utility>

namespace sqlite_hybrid {

namespace detail {

// SQLite's default busy handler sleeps 1, 2, 5 ... up to 100 ms, so a waiter that has waited
// long polls rarely while a newcomer polls often: unfair, with worst cases of hundreds of ms.
// This one polls at one short interval for everyone, until its limit.
struct busy_wait {
    using clock = std::chrono::steady_clock;
    clock::duration timeout{0};
    clock::duration poll{0};
    std::optional<clock::duration> limit;
    std::optional<clock::time_point> deadline;
    clock::time_point started{};
    connection::lock_waits waits;

    static int handler(void* self, int count) {
        auto& w = *static_cast<busy_wait*>(self);
        const auto now = clock::now();
        if (count == 0)
            w.started = now;
        auto end = w.started + (w.limit ? std::min(*w.limit, w.timeout) : w.timeout);
        if (w.deadline)
            end = std::min(end, *w.deadline);
        if (now >= end)
            return 0;
        std::this_thread::sleep_for(std::min<clock::duration>(w.poll, end - now));
        ++w.waits.count;
        w.waits.time += clock::now() - now;
        return 1;
    }
};

struct connection_state {
    sqlite3* db = nullptr;
    std::string path;
    applied_settings settings;
    diagnostics diag;
    statement_cache cache;
    busy_wait busy;
    std::unique_ptr<pg_session> pg; // set on PostgreSQL, where `db` is null

    connection_state(sqlite3* handle, std::string p, std::size_t cache_size)
        : db(handle), path(std::move(p)), cache(cache_size) {}
    connection_state(const connection_state&) = delete;
    connection_state& operator=(const connection_state&) = delete;
    ~connection_state() {
        cache.clear();
        sqlite3_close_v2(db);
    }

    error_code fail(int rc, std::string_view sql = {}) {
        const int code = sqlite3_extended_errcode(db);
        diag.message = sqlite3_errmsg(db);
        diag.error_offset = sqlite3_error_offset(db);
        diag.sql = std::string(sql);
        return make_sqlite_error(code != SQLITE_OK ? code : rc);
    }
};
} // namespace detail

namespace {

bool only_separators(std::string_view s) {
    for (char c : s)
        if (!std::isspace(static_cast<unsigned char>(c)) && c != ';')
            return false;
    return true;
}

// Pragmas, in the documented order. journal_mode comes right after busy_timeout so that
// switching to WAL can wait for other openers instead of failing at once.
} // namespace

result<void> connection::apply_pragmas(connection& c, const connection_options& o, bool read_only) {
    auto& s = c.state_->settings;
    if (!read_only) {
        BOOST_OUTCOME_TRY(auto mode, c.query_one<std::string>(
                                         "PRAGMA journal_mode=" + std::string(to_string(o.journal))));
        s.journal_mode = mode.value_or("");
        if (o.journal == journal_mode::wal && s.journal_mode != "wal" && o.require_wal) {
            c.last_diagnostics().message = "journal_mode=WAL was asked for, SQLite answered '" +
                                           s.journal_mode + "' (e.g. :memory: cannot use WAL)";
            return make_error_code(errc::wal_unavailable);
        }
    }
    std::string script;
    script += "PRAGMA synchronous=" + std::string(to_string(o.synchronous)) + ";";
    script += "PRAGMA cache_size=" + std::to_string(o.cache_size) + ";";
    script += std::string("PRAGMA temp_store=") + (o.temp_store_memory ? "MEMORY" : "DEFAULT") + ";";
    script += "PRAGMA mmap_size=" + std::to_string(o.mmap_size) + ";";
    script += std::string("PRAGMA foreign_keys=") + (o.foreign_keys ? "ON" : "OFF") + ";";
    if (!read_only)
        script += "PRAGMA journal_size_limit=" + std::to_string(o.journal_size_limit) + ";";
    if (o.secure_delete)
        script += std::string("PRAGMA secure_delete=") + (*o.secure_delete ? "ON" : "OFF") + ";";
    BOOST_OUTCOME_TRY(c.execute_script(script));

    // Read everything back: the settings say what SQLite really runs with.
    auto int_pragma = [&c](const char* sql) -> result<std::int64_t> {
        BOOST_OUTCOME_TRY(auto v, c.query_one<std::int64_t>(sql));
        return v.value_or(0);
    };
    BOOST_OUTCOME_TRY(auto mode, c.query_one<std::string>("PRAGMA journal_mode"));
    s.journal_mode = mode.value_or("");
    // The fair busy handler enforces the timeout (PRAGMA busy_timeout only knows SQLite's own).
    s.busy_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(c.state_->busy.timeout);
    BOOST_OUTCOME_TRY(auto sync, int_pragma("PRAGMA synchronous"));
    s.synchronous = static_cast<int>(sync);
    BOOST_OUTCOME_TRY(auto cache, int_pragma("PRAGMA cache_size"));
    s.cache_size = static_cast<int>(cache);
    BOOST_OUTCOME_TRY(auto temp, int_pragma("PRAGMA temp_store"));
    s.temp_store = static_cast<int>(temp);
    BOOST_OUTCOME_TRY(s.mmap_size, int_pragma("PRAGMA mmap_size"));
    BOOST_OUTCOME_TRY(auto fk, int_pragma("PRAGMA foreign_keys"));
    s.foreign_keys = fk != 0;
    BOOST_OUTCOME_TRY(s.journal_size_limit, int_pragma("PRAGMA journal_size_limit"));
    BOOST_OUTCOME_TRY(auto sd, int_pragma("PRAGMA secure_delete"));
    s.secure_delete = sd != 0;
    s.read_only = read_only;
    return outcome::success();
}

result<connection> connection::open_postgres(const std::string& url, open_mode mode,
                                             const connection_options& options,
                                             diagnostics* diag) {
    detail::pg_session_options o;
    o.conninfo = parse_database_url(url).target;
    o.read_only = mode == open_mode::read_only;
    o.connect_timeout = options.postgres.connect_timeout;
    o.reconnect_backoff_min = options.postgres.reconnect_backoff_min;
    o.reconnect_backoff_max = options.postgres.reconnect_backoff_max;
    o.session_sql = options.postgres.session_sql;
    o.health_check_after = options.postgres.health_check_after;
    o.statement_cache_size = options.statement_cache_size;
    o.notices = options.postgres.notices;
    diagnostics why;
    auto session = detail::pg_session::connect(std::move(o), why);
    if (!session) {
        if (diag)
            *diag = why;
        return session.error();
    }
    auto state = std::make_unique<detail::connection_state>(nullptr, redact_database_url(url), 0);
    state->pg = std::move(session).value();
    state->pg->set_diagnostics(&state->diag);
    state->settings.read_only = mode == open_mode::read_only;
    return connection(std::move(state));
}

result<connection> connection::open(const std::string& name, open_mode mode,
                                    const connection_options& options, diagnostics* diag) {
    auto url = parse_database_url(name);
    if (url.engine == backend::postgresql)
        return open_postgres(name, mode, options, diag);
    const std::string& path = url.target;
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI | SQLITE_OPEN_EXRESCODE;
    switch (mode) {
    case open_mode::read_write_create: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE; break;
    case open_mode::read_write: flags |= SQLITE_OPEN_READWRITE; break;
    case open_mode::read_only: flags |= SQLITE_OPEN_READONLY; break;
    }
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    auto state = std::make_unique<detail::connection_state>(db, path, options.statement_cache_size);
    if (rc != SQLITE_OK || db == nullptr) {
        error_code ec = db ? state->fail(rc) : make_sqlite_error(SQLITE_NOMEM);
        state->diag.message += " (" + path + ")";
        if (diag)
            *diag = state->diag;
        return ec;
    }
    sqlite3_extended_result_codes(db, 1);
    state->busy.timeout = options.busy_timeout;
    state->busy.poll = std::max<std::chrono::microseconds>(options.busy_poll_interval,
                                                           std::chrono::microseconds(10));
    sqlite3_busy_handler(db, &detail::busy_wait::handler, &state->busy);

    connection c(std::move(state));
    if (auto r = apply_pragmas(c, options, mode == open_mode::read_only); !r) {
        if (diag)
            *diag = c.last_diagnostics();
        return r.error();
    }
    return c;
}

connection::connection(std::unique_ptr<detail::connection_state> state) noexcept
    : state_(std::move(state)) {}
connection::connection(connection&&) noexcept = default;
connection& connection::operator=(connection&&) noexcept = default;
connection::~connection() = default;

namespace {
// SQLite would stop reading at the NUL and run only what comes before it.
bool refuse_embedded_nul(std::string_view sql, diagnostics& diag) {
    const auto at = sql.find('\0');
    if (at == std::string_view::npos)
        return false;
    diag = {"the SQL text holds a NUL character at offset " + std::to_string(at) +
                ": SQLite would run only what comes before it",
            static_cast<int>(at), std::string(sql.substr(0, at))};
    return true;
}

// What the library refuses inside a job on PostgreSQL (see pg_statement_guard.hpp).
bool refuse_on_postgres(const connection& conn, std::string_view sql, diagnostics& diag) {
    auto why = detail::postgres_statement_guard::refusal(conn, sql);
    if (!why)
        return false;
    diag = {std::move(*why), -1, std::string(sql)};
    return true;
}
} // namespace

result<statement> connection::prepare(std::string_view sql) {
    auto& st = *state_;
    if (refuse_embedded_nul(sql, st.diag))
        return make_sqlite_error(SQLITE_MISUSE);
    if (st.pg) {
        BOOST_OUTCOME_TRY(auto* prepared,
                          st.pg->prepare(sql, detail::postgres_statement_guard::in_job(*this)));
        return statement(new detail::pg_cursor(*st.pg, *prepared), &st.diag);
    }
    if (auto* entry = st.cache.take(sql))
        return statement(entry->stmt, &st.diag, entry);

    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v3(st.db, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK)
        return st.fail(rc, sql);
    if (stmt == nullptr) {
        st.diag = {"no SQL statement in the text (empty, or only comments)", -1, std::string(sql)};
        return make_sqlite_error(SQLITE_MISUSE);
    }
    const std::string_view rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
    if (!only_separators(rest)) {
        // Anything but comments after the first statement is a second statement.
        sqlite3_stmt* next = nullptr;
        const int next_rc = sqlite3_prepare_v2(st.db, rest.data(), static_cast<int>(rest.size()),
                                               &next, nullptr);
        if (next_rc != SQLITE_OK || next != nullptr) {
            sqlite3_finalize(next);
            sqlite3_finalize(stmt);
            st.diag = {"only one statement is allowed here; use execute_script for several",
                       static_cast<int>(tail - sql.data()), std::string(sql)};
            return make_error_code(errc::multiple_statements);
        }
    }
    return statement(stmt, &st.diag, st.cache.insert(sql, stmt));
}

result<void> connection::execute_script(std::string_view sql) {
    if (refuse_embedded_nul(sql, state_->diag))
        return make_sqlite_error(SQLITE_MISUSE);
    if (state_->pg) {
        if (refuse_on_postgres(*this, sql, state_->diag))
            return make_error_code(errc::statement_refused);
        return state_->pg->execute_script(sql);
    }
    const std::string text(sql);
    char* message = nullptr;
    const int rc = sqlite3_exec(state_->db, text.c_str(), nullptr, nullptr, &message);
    sqlite3_free(message);
    if (rc != SQLITE_OK)
        return state_->fail(rc, sql);
    return outcome::success();
}

backend connection::engine() const noexcept {
    return state_->pg ? backend::postgresql : backend::sqlite;
}
bool connection::in_transaction() const noexcept {
    return state_->pg ? state_->pg->in_transaction() : !sqlite3_get_autocommit(state_->db);
}
bool connection::transaction_failed() const noexcept {
    return state_->pg && state_->pg->transaction_failed();
}
result<void> connection::check_connection() {
    if (state_->pg)
        if (auto ec = state_->pg->ensure_connected())
            return ec;
    return outcome::success();
}
bool connection::read_only() const noexcept { return state_->settings.read_only; }
const applied_settings& connection::settings() const noexcept { return state_->settings; }
const diagnostics& connection::last_diagnostics() const noexcept { return state_->diag; }
diagnostics& connection::last_diagnostics() noexcept { return state_->diag; }
const std::string& connection::path() const noexcept { return state_->path; }
std::int64_t connection::last_insert_rowid() const noexcept {
    return state_->db ? sqlite3_last_insert_rowid(state_->db) : 0;
}
sqlite3* connection::native_handle() const noexcept { return state_->db; }
void connection::interrupt() noexcept {
    if (state_->pg)
        state_->pg->interrupt();
    else
        sqlite3_interrupt(state_->db);
}

void connection::limit_lock_wait(std::optional<std::chrono::steady_clock::duration> limit,
                                 std::optional<std::chrono::steady_clock::time_point> deadline) noexcept {
    state_->busy.limit = limit;
    state_->busy.deadline = deadline;
}

connection::lock_waits connection::take_lock_waits() noexcept {
    return std::exchange(state_->busy.waits, lock_waits{});
}
void connection::clear_statement_cache() noexcept {
    state_->cache.clear();
    if (state_->pg)
        state_->pg->clear_statement_cache();
}

} // namespace sqlite_hybrid
