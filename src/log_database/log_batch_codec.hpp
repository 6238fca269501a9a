// SPDX-License-Identifier: BSL-1.0
// The binary form of a batch of log entries, one `entries` BLOB of a `log_batches` row, and what
// the row's other columns say about it (time range, levels, loggers).
//
// Layout: a format byte, then varints: the entry count, the loggers (count, then each as length
// and bytes), the first entry's time; then per entry: [its index in the batch, format 2 only],
// the time as a zigzag delta from the previous entry's, the level (one byte), the logger's
// number in the table, the message, extra and source (length and bytes; 0: empty) and the
// thread id (0: unknown). Format 1 numbers entries 0, 1, 2...; format 2, written when retention
// removes some of a batch's entries, keeps each entry's number (its id) as it was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <sqlite_hybrid/log_entry.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sqlite_hybrid::detail {

// An entry's id: its batch's row id and its number within the batch.
constexpr int log_batch_index_bits = 16;
constexpr std::size_t max_log_batch_entries = std::size_t{1} << log_batch_index_bits;

constexpr std::int64_t log_entry_id(std::int64_t batch, std::uint32_t index) noexcept {
    return batch * static_cast<std::int64_t>(max_log_batch_entries) + index;
}
constexpr std::int64_t log_batch_of(std::int64_t entry_id) noexcept {
    return entry_id >> log_batch_index_bits;
}

// What the row's columns hold besides the BLOB.
struct log_batch_summary {
    std::int64_t first_ts = 0; // the smallest time, microseconds
    std::int64_t last_ts = 0;  // the largest
    int levels = 0;            // bit L set: some entry has level L
    std::size_t count = 0;
    std::vector<std::string_view> loggers; // distinct, into the entries
};

// One entry as decoded: views into the BLOB (valid while it is).
struct log_entry_view {
    std::uint32_t index = 0;
    std::int64_t ts = 0;
    int level = 0;
    std::string_view logger;
    std::string_view message;
    std::string_view extra;
    std::string_view source;
    std::uint64_t thread = 0;

    log_entry to_entry(std::int64_t batch) const;
};

// At most max_log_batch_entries entries into `out` (replaced): log entries are numbered from 0
// (format 1), decoded ones keep their numbers (format 2, for a batch rewritten by retention).
void encode_log_batch(std::span<const log_entry> entries, std::string& out,
                      log_batch_summary& summary);
void encode_log_batch(std::span<const log_entry_view> entries, std::string& out,
                      log_batch_summary& summary);

// Reads a BLOB entry by entry. A malformed BLOB ends the reading (ok() turns false).
class log_batch_reader {
public:
    explicit log_batch_reader(std::string_view blob);
    bool next(log_entry_view& e); // false at the end or on malformed input
    bool ok() const noexcept { return ok_; }
    std::size_t count() const noexcept { return count_; }

private:
    bool read_varint(std::uint64_t& v);
    bool read_bytes(std::string_view& s);

    std::string_view in_;
    std::size_t pos_ = 0;
    bool ok_ = true;
    bool explicit_indexes_ = false;
    std::size_t count_ = 0;
    std::size_t read_ = 0;
    std::int64_t ts_ = 0;
    std::vector<std::string_view> loggers_;
};

} // namespace sqlite_hybrid::detail
