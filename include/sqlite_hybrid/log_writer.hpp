// SPDX-License-Identifier: BSL-1.0
// The non-blocking entry point of a log database: log() copies the entry into a bounded
// in-memory buffer and returns; it never waits for I/O and never throws. Cheap to copy, safe from
// any thread, and it may outlive its log_database and the io_context that ran it: once that has
// stopped, entries are counted (dropped_after_stop) and ignored.
#pragma once

#include <sqlite_hybrid/log_entry.hpp>

#include <initializer_list>
#include <memory>
#include <span>
#include <string_view>

namespace sqlite_hybrid {

namespace detail {
class log_state;
}

class log_writer {
public:
    log_writer() = default; // not attached to a log database: log() does nothing

    // Time, thread and `extra` (encoded as a JSON object) are taken now.
    void log(log_level level, std::string_view logger, std::string_view message,
             std::initializer_list<log_field> extra = {}) const noexcept {
        log(level, logger, message, std::span<const log_field>(extra.begin(), extra.size()));
    }
    void log(log_level level, std::string_view logger, std::string_view message,
             std::span<const log_field> extra) const noexcept;
    // An entry with every column given (time, thread and source as they are; id is ignored).
    void log(log_entry entry) const noexcept;

    // Asks the flusher to write what is buffered now, without waiting for it.
    void request_flush() const noexcept;

    bool attached() const noexcept { return state_ != nullptr; }

private:
    friend class log_database;
    explicit log_writer(std::shared_ptr<detail::log_state> state) noexcept
        : state_(std::move(state)) {}

    std::shared_ptr<detail::log_state> state_;
};

} // namespace sqlite_hybrid
