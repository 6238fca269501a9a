// SPDX-License-Identifier: BSL-1.0
// How `sqlh logs` prints entries: aligned columns (coloured on a terminal) for people, or one
// JSON object per line for programs.
#pragma once

#include <sqlite_hybrid/log_entry.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace sqlh::logs {

enum class output_format { human, json };

class log_printer {
public:
    log_printer(output_format format, bool color) : format_(format), color_(color) {}

    // Appends `entries`, in their order, one line each, to `out`. The logger column keeps the
    // width it grew to in earlier calls, so that followed entries stay aligned.
    void print(const std::vector<sqlite_hybrid::log_entry>& entries, std::string& out);

private:
    void print_human(const sqlite_hybrid::log_entry& e, std::string& out) const;

    output_format format_;
    bool color_;
    std::size_t logger_width_ = 0;
};

// One entry as a JSON object, without a newline. Field names are stable: id, time (ISO 8601 UTC
// with microseconds), level, logger, message, extra (an object, {} when none), thread (null when
// unknown) and source (only when known).
std::string log_entry_json(const sqlite_hybrid::log_entry& e);

} // namespace sqlh::logs
