// SPDX-License-Identifier: BSL-1.0
// What `sqlh doctor` found: one row per check, in a fixed order, plus the WAL's raw figures.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sqlh::doctor {

// Where a setting lives: in the file (every connection sees it), per connection (each opener
// sets it; sqlite_hybrid applies its defaults at open), or the state of the file right now.
enum class check_scope { file, connection, now };

// info: a per-connection setting where a plain connection differs from the library's value,
// which is no fault of the file. skipped: the check does not apply or could not run.
enum class check_status { ok, finding, info, skipped };

struct check {
    check(std::string name_, check_scope scope_, std::string value_ = {},
          std::string expected_ = {})
        : name(std::move(name_)), scope(scope_), value(std::move(value_)),
          expected(std::move(expected_)) {}

    std::string name;
    check_scope scope = check_scope::file;
    std::string value;
    std::string expected; // empty: nothing to compare against
    check_status status = check_status::ok;
    std::string advice; // what to do; set for findings
    std::string note;   // what the value means for other programs; may be empty
};

struct wal_figures {
    std::int64_t file_bytes = 0;
    std::int64_t log_frames = -1;          // -1: the checkpoint did not run
    std::int64_t checkpointed_frames = -1; // -1: the checkpoint did not run
};

struct report {
    std::string file;
    std::string sqlite_version;
    std::vector<check> checks;
    std::optional<wal_figures> wal; // set when the file is in WAL mode

    std::size_t findings() const {
        std::size_t n = 0;
        for (const auto& c : checks)
            n += c.status == check_status::finding ? 1 : 0;
        return n;
    }
};

inline std::string_view to_string(check_scope s) {
    switch (s) {
    case check_scope::file:
        return "file";
    case check_scope::connection:
        return "connection";
    case check_scope::now:
        return "now";
    }
    return "file";
}

inline std::string_view to_string(check_status s) {
    switch (s) {
    case check_status::ok:
        return "ok";
    case check_status::finding:
        return "finding";
    case check_status::info:
        return "info";
    case check_status::skipped:
        return "skipped";
    }
    return "ok";
}

} // namespace sqlh::doctor
