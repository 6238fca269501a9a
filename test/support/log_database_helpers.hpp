// SPDX-License-Identifier: BSL-1.0
// For log database tests: options that are quiet and quick to flush, with failure reports
// collected instead of printed, and looks at a log file (through the log database or from
// outside).
#pragma once

#include "run.hpp"

#include <sqlite_hybrid/connection.hpp>
#include <sqlite_hybrid/log_database.hpp>
#include <sqlite_hybrid/log_query.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sqlite_hybrid::test {

class report_log {
public:
    std::function<void(std::string_view)> collector() {
        return [self = state_](std::string_view text) {
            std::lock_guard lock(self->mutex);
            self->lines.emplace_back(text);
        };
    }
    std::vector<std::string> lines() const {
        std::lock_guard lock(state_->mutex);
        return state_->lines;
    }
    std::size_t size() const { return lines().size(); }

private:
    struct state {
        std::mutex mutex;
        std::vector<std::string> lines;
    };
    std::shared_ptr<state> state_ = std::make_shared<state>();
};

inline log_database_options quiet_log_options(report_log& reports) {
    log_database_options o;
    o.flush_interval = std::chrono::milliseconds(20);
    o.retry_interval = std::chrono::milliseconds(50);
    o.report = reports.collector();
    o.database_settings.log = null_logger();
    return o;
}

// Every entry written so far, oldest first.
inline std::vector<log_entry> read_all(boost::asio::io_context& io, log_database& logs) {
    log_filter f;
    f.order = log_order::oldest_first;
    f.limit = 0;
    return run(io, logs.async_query_logs(f));
}

// A synchronous look at a log file from outside the log database: every entry, in the order of
// their ids (the order they were written in).
inline std::vector<log_entry> read_log_file(const std::string& path) {
    auto conn = connection::open(path, open_mode::read_only, {}).value();
    log_filter all;
    all.limit = 0;
    return detail::log_query_job{all, true}(conn).value();
}

// How many entries of the log file `match` accepts (all without one).
inline std::int64_t count_log_rows(const std::string& path,
                                   const std::function<bool(const log_entry&)>& match = {}) {
    const auto entries = read_log_file(path);
    return match ? std::count_if(entries.begin(), entries.end(), match)
                 : static_cast<std::int64_t>(entries.size());
}

inline std::function<bool(const log_entry&)> message_is(std::string text) {
    return [text = std::move(text)](const log_entry& e) { return e.message == text; };
}

inline std::int64_t log_pragma(const std::string& path, const std::string& pragma) {
    auto conn = connection::open(path, open_mode::read_only, {}).value();
    return conn.query_one<std::int64_t>("PRAGMA " + pragma).value().value_or(-1);
}

} // namespace sqlite_hybrid::test
