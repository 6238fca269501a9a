// SPDX-License-Identifier: BSL-1.0
// Reading a log file: a filtered query, newest or oldest first, and a follow that completes once
// new entries exist. Both run on any `database` opened on a log file, so that a viewer needs no
// log_database (and writes nothing); log_database offers the same through its own file.
#pragma once

#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/log_filter.hpp>

#include <boost/asio/any_completion_handler.hpp>

#include <chrono>
#include <memory>
#include <vector>

namespace sqlite_hybrid {

namespace detail {

// Runs on a reader: the entries `filter` selects (by id, oldest first, when `follow`).
struct log_query_job {
    log_filter filter;
    bool follow = false;
    result<std::vector<log_entry>> operator()(connection& conn) const;
};

using log_entries_handler = asio::any_completion_handler<void(error_code, std::vector<log_entry>)>;

// `keep_alive` holds whatever owns `db` for as long as the follow runs.
void start_log_follow(database& db, std::shared_ptr<void> keep_alive, log_filter filter,
                      std::chrono::milliseconds poll_interval, log_entries_handler handler);

} // namespace detail

// The entries that match `filter`, in its order, at most filter.limit of them.
// Completes with (error_code, std::vector<log_entry>).
template <class Token = default_token>
auto async_query_logs(database& db, log_filter filter, Token&& token = {}) {
    return db.async_read(detail::log_query_job{std::move(filter)}, std::forward<Token>(token));
}

// Waits until entries with an id above filter.after_id match `filter`, polling every
// `poll_interval` on a timer, then completes with them (oldest first, at most filter.limit).
// To keep following, call again with after_id set to the last id received. Honours
// per-operation cancellation (operation_aborted). `db` must outlive the operation.
template <class Token = default_token>
auto async_follow_logs(database& db, log_filter filter, std::chrono::milliseconds poll_interval,
                       Token&& token = {}) {
    return asio::async_initiate<Token, void(error_code, std::vector<log_entry>)>(
        [](auto handler, database* db, log_filter filter, std::chrono::milliseconds interval) {
            detail::start_log_follow(*db, nullptr, std::move(filter), interval,
                                     detail::log_entries_handler(std::move(handler)));
        },
        token, &db, std::move(filter), poll_interval);
}

} // namespace sqlite_hybrid
