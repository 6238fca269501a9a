// SPDX-License-Identifier: BSL-1.0
// Queries and follows over a log file: the batches a filter reads, the entries it keeps from
// them in its order, and the follow's poll loop.
#include "complete_later.hpp"
#include "log_batch_codec.hpp"
#include "log_schema.hpp"

#include <sqlite_hybrid/log_query.hpp>

#include <boost/asio/compose.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_executor.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

namespace sqlite_hybrid::detail {
namespace {

std::int64_t row_limit(const log_filter& filter) {
    return filter.limit == 0 ? std::numeric_limits<std::int64_t>::max()
                             : static_cast<std::int64_t>(filter.limit);
}

// A file of the first layout (one `logs` row per entry) that no log database has opened since
// to convert it: read as it is, so that a viewer reads older files without writing to them.
result<std::vector<log_entry>> query_row_layout(connection& conn, const log_filter& filter,
                                                bool follow) {
    std::string sql = std::string(row_layout_columns) + " FROM logs WHERE 1";
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
    if (follow)
        sql += " ORDER BY id";
    else if (filter.order == log_order::newest_first)
        sql += " ORDER BY ts DESC, id DESC";
    else
        sql += " ORDER BY ts, id";
    sql += " LIMIT ?";
    values.emplace_back(row_limit(filter));

    BOOST_OUTCOME_TRY(auto stmt, conn.prepare(sql));
    BOOST_OUTCOME_TRY(stmt.bind_all(values));
    std::vector<log_entry> out;
    for (;;) {
        BOOST_OUTCOME_TRY(bool has_row, stmt.step());
        if (!has_row)
            return out;
        out.push_back(read_row_layout_entry(stmt.native_handle()));
    }
}

// The batches that may hold matching entries, narrowed by the indexes on their time range and
// loggers, in the order they are to be read.
std::string batch_sql(const log_filter& filter, bool follow, params& values) {
    std::string sql = "SELECT id, first_ts, last_ts, entries FROM log_batches WHERE 1";
    if (filter.min_level) { // some entry at min_level or above: a bit at or above it
        sql += " AND levels >= ?";
        values.emplace_back(std::int64_t{1} << static_cast<int>(*filter.min_level));
    }
    if (filter.logger) {
        sql += " AND id IN (SELECT batch FROM log_batch_loggers WHERE logger = ?)";
        values.emplace_back(*filter.logger);
    }
    if (filter.since) {
        sql += " AND last_ts >= ?";
        values.emplace_back(filter.since->time_since_epoch().count());
    }
    if (filter.until) {
        sql += " AND first_ts < ?";
        values.emplace_back(filter.until->time_since_epoch().count());
    }
    if (filter.after_id > 0) {
        sql += " AND id >= ?";
        values.emplace_back(log_batch_of(filter.after_id));
    }
    if (follow)
        sql += " ORDER BY id";
    else if (filter.order == log_order::newest_first)
        sql += " ORDER BY last_ts DESC, id DESC";
    else
        sql += " ORDER BY first_ts, id";
    return sql;
}

bool matches(const log_filter& f, const log_entry_view& e, std::int64_t id) {
    return (!f.min_level || e.level >= static_cast<int>(*f.min_level)) &&
           (!f.logger || e.logger == *f.logger) &&
           (!f.since || e.ts >= f.since->time_since_epoch().count()) &&
           (!f.until || e.ts < f.until->time_since_epoch().count()) &&
           (!f.text || e.message.find(*f.text) != std::string_view::npos) && id > f.after_id;
}

// Entries of batches read so far, not yet returned: a heap whose top is the next to return
// (the newest or the oldest, by time then id).
class pending_entries {
    struct returned_after;

public:
    explicit pending_entries(bool newest_first) : newest_first_(newest_first) {}

    void push(log_entry e) {
        heap_.push_back(std::move(e));
        std::push_heap(heap_.begin(), heap_.end(), after());
    }
    // Moves entries to `out` while they come before every entry of the batches not read yet:
    // those have times within [first_ts, last_ts] of the next batch (`bound`: its last_ts newest
    // first, its first_ts oldest first; nullopt: there is none). True once `out` has `limit`.
    bool release(std::optional<std::int64_t> bound, std::vector<log_entry>& out,
                 std::size_t limit) {
        while (!heap_.empty() && out.size() < limit) {
            const auto ts = heap_.front().time.time_since_epoch().count();
            if (bound && (newest_first_ ? ts <= *bound : ts >= *bound))
                break;
            std::pop_heap(heap_.begin(), heap_.end(), after());
            out.push_back(std::move(heap_.back()));
            heap_.pop_back();
        }
        return out.size() >= limit;
    }

private:
    // "a is returned after b": the heap's top is returned first.
    struct returned_after {
        bool newest;
        bool operator()(const log_entry& a, const log_entry& b) const {
            const auto ka = std::pair(a.time, a.id);
            const auto kb = std::pair(b.time, b.id);
            return newest ? ka < kb : kb < ka;
        }
    };
    returned_after after() const;

    bool newest_first_;
    std::vector<log_entry> heap_;
};

pending_entries::returned_after pending_entries::after() const {
    return {newest_first_};
}

} // namespace

result<std::vector<log_entry>> log_query_job::operator()(connection& conn) const {
    BOOST_OUTCOME_TRY(auto batches,
                      conn.query_one<std::int64_t>("SELECT count(*) FROM sqlite_master WHERE "
                                                   "type = 'table' AND name = 'log_batches'"));
    if (batches.value_or(0) == 0)
        return query_row_layout(conn, filter, follow);

    params values;
    BOOST_OUTCOME_TRY(auto stmt, conn.prepare(batch_sql(filter, follow, values)));
    BOOST_OUTCOME_TRY(stmt.bind_all(values));
    const auto limit = static_cast<std::size_t>(row_limit(filter));
    const bool newest_first = !follow && filter.order == log_order::newest_first;
    pending_entries pending(newest_first);
    std::vector<log_entry> out;
    for (;;) {
        BOOST_OUTCOME_TRY(bool has_row, stmt.step());
        sqlite3_stmt* s = stmt.native_handle();
        if (!follow) {
            // Entries are in time order within no batch, and batches overlap in time: an entry
            // is returned once no batch still unread can hold one that comes before it.
            std::optional<std::int64_t> bound;
            if (has_row)
                bound = sqlite3_column_int64(s, newest_first ? 2 : 1);
            if (pending.release(bound, out, limit) || !has_row)
                return out;
        } else if (!has_row) {
            return out;
        }
        const std::int64_t batch = sqlite3_column_int64(s, 0);
        const auto* data = static_cast<const char*>(sqlite3_column_blob(s, 3));
        log_batch_reader reader(
            std::string_view(data, static_cast<std::size_t>(sqlite3_column_bytes(s, 3))));
        for (log_entry_view e; reader.next(e);) {
            if (!matches(filter, e, log_entry_id(batch, e.index)))
                continue;
            if (!follow) {
                pending.push(e.to_entry(batch));
            } else {
                // By id: a batch's entries are in the order of their ids.
                out.push_back(e.to_entry(batch));
                if (out.size() >= limit)
                    return out;
            }
        }
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
