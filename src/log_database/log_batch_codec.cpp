// SPDX-License-Identifier: BSL-1.0
#include "log_batch_codec.hpp"

#include <algorithm>
#include <limits>

namespace sqlite_hybrid::detail {
namespace {

constexpr char format_numbered_from_zero = 1;
constexpr char format_explicit_indexes = 2;

void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out += static_cast<char>(static_cast<unsigned char>(v | 0x80));
        v >>= 7;
    }
    out += static_cast<char>(v);
}

void put_bytes(std::string& out, std::string_view s) {
    put_varint(out, s.size());
    out.append(s);
}

std::uint64_t zigzag(std::int64_t v) noexcept {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}

std::int64_t unzigzag(std::uint64_t v) noexcept {
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// The fields of either kind of entry, so that one encoder serves both.
struct fields {
    std::int64_t ts;
    int level;
    std::string_view logger, message, extra, source;
    std::uint64_t thread;
    std::uint32_t index;
};

fields fields_of(const log_entry& e, std::size_t i) {
    return {e.time.time_since_epoch().count(),
            static_cast<int>(e.level),
            e.logger,
            e.message,
            e.extra,
            e.source,
            e.thread,
            static_cast<std::uint32_t>(i)};
}

fields fields_of(const log_entry_view& e, std::size_t) {
    return {e.ts, e.level, e.logger, e.message, e.extra, e.source, e.thread, e.index};
}

template <class Entry>
void encode(std::span<const Entry> entries, char format, std::string& out,
            log_batch_summary& summary) {
    summary = {};
    summary.count = entries.size();
    summary.first_ts = std::numeric_limits<std::int64_t>::max();
    summary.last_ts = std::numeric_limits<std::int64_t>::min();
    // A batch holds few loggers: a linear search, remembering the last match, beats a map.
    std::vector<std::uint32_t> logger_of(entries.size());
    std::size_t last = 0;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto f = fields_of(entries[i], i);
        summary.first_ts = std::min(summary.first_ts, f.ts);
        summary.last_ts = std::max(summary.last_ts, f.ts);
        summary.levels |= 1 << std::clamp(f.level, 0, 5);
        auto& loggers = summary.loggers;
        if (last >= loggers.size() || loggers[last] != f.logger) {
            last = static_cast<std::size_t>(std::find(loggers.begin(), loggers.end(), f.logger) -
                                            loggers.begin());
            if (last == loggers.size())
                loggers.push_back(f.logger);
        }
        logger_of[i] = static_cast<std::uint32_t>(last);
    }
    out.clear();
    out += format;
    put_varint(out, entries.size());
    put_varint(out, summary.loggers.size());
    for (auto name : summary.loggers)
        put_bytes(out, name);
    std::int64_t previous = entries.empty() ? 0 : fields_of(entries[0], 0).ts;
    put_varint(out, zigzag(previous));
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto f = fields_of(entries[i], i);
        if (format == format_explicit_indexes)
            put_varint(out, f.index);
        put_varint(out, zigzag(static_cast<std::int64_t>(static_cast<std::uint64_t>(f.ts) -
                                                         static_cast<std::uint64_t>(previous))));
        previous = f.ts;
        out += static_cast<char>(std::clamp(f.level, 0, 5));
        put_varint(out, logger_of[i]);
        put_bytes(out, f.message);
        put_bytes(out, f.extra);
        put_bytes(out, f.source);
        put_varint(out, f.thread);
    }
}

} // namespace

log_entry log_entry_view::to_entry(std::int64_t batch) const {
    log_entry e;
    e.id = log_entry_id(batch, index);
    e.time = log_time(std::chrono::microseconds(ts));
    e.level = static_cast<log_level>(level);
    e.logger.assign(logger);
    e.message.assign(message);
    e.extra.assign(extra);
    e.thread = thread;
    e.source.assign(source);
    return e;
}

void encode_log_batch(std::span<const log_entry> entries, std::string& out,
                      log_batch_summary& summary) {
    encode(entries, format_numbered_from_zero, out, summary);
}

void encode_log_batch(std::span<const log_entry_view> entries, std::string& out,
                      log_batch_summary& summary) {
    encode(entries, format_explicit_indexes, out, summary);
}

log_batch_reader::log_batch_reader(std::string_view blob) : in_(blob) {
    std::uint64_t count = 0;
    std::uint64_t loggers = 0;
    std::uint64_t first = 0;
    ok_ =
        !in_.empty() && (in_[0] == format_numbered_from_zero || in_[0] == format_explicit_indexes);
    if (!ok_)
        return;
    explicit_indexes_ = in_[0] == format_explicit_indexes;
    pos_ = 1;
    if (!read_varint(count) || !read_varint(loggers) || count > max_log_batch_entries ||
        loggers > count) {
        ok_ = false;
        return;
    }
    for (std::uint64_t i = 0; i < loggers && ok_; ++i) {
        std::string_view name;
        if (read_bytes(name))
            loggers_.push_back(name);
    }
    if (ok_ && read_varint(first)) {
        count_ = static_cast<std::size_t>(count);
        ts_ = unzigzag(first);
    }
}

bool log_batch_reader::read_varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && pos_ < in_.size(); shift += 7) {
        const auto byte = static_cast<unsigned char>(in_[pos_++]);
        v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0)
            return true;
    }
    ok_ = false;
    return false;
}

bool log_batch_reader::read_bytes(std::string_view& s) {
    std::uint64_t size = 0;
    if (!read_varint(size))
        return false;
    if (size > in_.size() - pos_) {
        ok_ = false;
        return false;
    }
    s = in_.substr(pos_, static_cast<std::size_t>(size));
    pos_ += static_cast<std::size_t>(size);
    return true;
}

bool log_batch_reader::next(log_entry_view& e) {
    if (!ok_ || read_ >= count_)
        return false;
    std::uint64_t index = read_;
    std::uint64_t delta = 0;
    std::uint64_t logger = 0;
    if (explicit_indexes_ && !read_varint(index))
        return false;
    if (!read_varint(delta) || pos_ >= in_.size())
        return false;
    e.level = std::clamp(static_cast<int>(static_cast<unsigned char>(in_[pos_++])), 0, 5);
    if (!read_varint(logger) || logger >= loggers_.size() || !read_bytes(e.message) ||
        !read_bytes(e.extra) || !read_bytes(e.source) || !read_varint(e.thread) ||
        index >= max_log_batch_entries) {
        ok_ = false;
        return false;
    }
    ts_ = static_cast<std::int64_t>(static_cast<std::uint64_t>(ts_) +
                                    static_cast<std::uint64_t>(unzigzag(delta)));
    e.ts = ts_;
    e.index = static_cast<std::uint32_t>(index);
    e.logger = loggers_[static_cast<std::size_t>(logger)];
    ++read_;
    return true;
}

} // namespace sqlite_hybrid::detail
