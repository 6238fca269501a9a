// Queries and follows over a log file: the SQL a filter makes, reading entries, and the follow's
// poll loop.
#include "complete_later.hpp"

#include <sqlite_hybrid/log_query.hpp>

#include <boost/asio/compose.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_executor.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <limits>

namespace sqlite_hybrid::detail {
namespace {

std::string column_text(sqlite3_stmt* s, int col) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
    return text ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(s, col)))
                : std::string();
}

log_entry read_entry(sqlite3_stmt* s) {
    log_entry e;
    e.id = sqlite3_column_int64(s, 0);
    e.time = log_time(std::chrono::microseconds(sqlite3_column_int64(s, 1)));
    e.level = static_cast<log_level>(std::clamp(sqlite3_column_int(s, 2), 0, 5));
    e.logger = column_text(s, 3);
    e.message = column_text(s, 4);
    e.extra = column_text(s, 5);
    e.thread = static_cast<std::uint64_t>(sqlite3_column_int64(s, 6));
    e.source = column_text(s, 7);
    return e;
}

} // namespace

result<std::vector<log_entry>> log_query_job::operator()(connection& conn) const {
    std::string sql = "SELECT id, ts, level, logger, message, extra, thread, source FROM logs "
                      "WHERE 1";
    params values;
    if (filter.min_level) {
        sql += " AND level >= ?";
        values.emplace_back(static_cast<int>(*filter.min_level));
    }
    if (filter.logger) {
        sql += " AND logger = ?";
        values.emplace_back(*filter.logger);
    }
    if (filter.since) {
        sql += " AND ts >= ?";
        values.emplace_back(filter.since->time_since_epoch().count());
    }
    if (filter.until) {
        sql += " AND ts < ?";
        values.emplace_back(filter.until->time_since_epoch().count());
    }
    if (filter.text) { // instr: a literal match, no LIKE wildcards to escape
        sql += " AND instr(message, ?) > 0";
        values.emplace_back(*filter.text);
    }
    if (filter.after_id > 0) {
        sql += " AND id > ?";
        values.emplace_back(filter.after_id);
    }
    // A follow resumes by id, which is the order entries were written in; a query orders by
    // time, which the indexes on (ts), (level, ts) and (logger, ts) serve.
    if (follow)
        sql += " ORDER BY id";
    else if (filter.order == log_order::newest_first)
        sql += " ORDER BY ts DESC, id DESC";
    else
        sql += " ORDER BY ts, id";
    sql += " LIMIT ?";
    values.emplace_back(filter.limit == 0 ? std::numeric_limits<std::int64_t>::max()
                                          : static_cast<std::int64_t>(filter.limit));

    BOOST_OUTCOME_TRY(auto stmt, conn.prepare(sql));
    BOOST_OUTCOME_TRY(stmt.bind_all(values));
    std::vector<log_entry> out;
    for (;;) {
        BOOST_OUTCOME_TRY(bool has_row, stmt.step());
        if (!has_row)
            return out;
        out.push_back(read_entry(stmt.native_handle()));
    }
}

namespace {

// Query; when nothing is new, wait poll_interval and query again; complete with the first
// non-empty answer, an error, or operation_aborted when cancelled while waiting.
struct follow_op {
    database& db;
    std::shared_ptr<void> keep_alive;
    log_filter filter;
    std::chrono::milliseconds poll_interval;
    std::unique_ptr<asio::steady_timer> timer;

    template <class Self> void operator()(Self& self) { query(self); }

    template <class Self>
    void operator()(Self& self, error_code ec, std::vector<log_entry> entries) {
        if (ec || !entries.empty()) {
            self.complete(ec, std::move(entries));
            return;
        }
        if (self.get_cancellation_state().cancelled() != asio::cancellation_type::none) {
            self.complete(asio::error::operation_aborted, {}); // cancelled while it read
            return;
        }
        timer->expires_after(poll_interval);
        timer->async_wait(std::move(self));
    }

    template <class Self> void operator()(Self& self, error_code ec) {
        if (ec || self.get_cancellation_state().cancelled() != asio::cancellation_type::none) {
            self.complete(asio::error::operation_aborted, {});
            return;
        }
        query(self);
    }

    template <class Self> void query(Self& self) {
        db.async_read(log_query_job{filter, true}, std::move(self));
    }
};

} // namespace

void start_log_follow(database& db, std::shared_ptr<void> keep_alive, log_filter filter,
                      std::chrono::milliseconds poll_interval, log_entries_handler handler) {
    if (!db.is_open()) { // no executor to wait on: fail the way a query would
        complete_later(asio::system_executor(), std::move(handler), make_error_code(errc::closed),
                       std::vector<log_entry>());
        return;
    }
    auto timer = std::make_unique<asio::steady_timer>(db.get_executor());
    asio::async_compose<log_entries_handler, void(error_code, std::vector<log_entry>)>(
        follow_op{db, std::move(keep_alive), std::move(filter), poll_interval, std::move(timer)},
        handler, db.get_executor());
}

} // namespace sqlite_hybrid::detail
