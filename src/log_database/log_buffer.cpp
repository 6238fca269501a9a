// SPDX-License-Identifier: BSL-1.0
#include "log_buffer.hpp"

#include <algorithm>
#include <utility>

namespace sqlite_hybrid::detail {
namespace {

// Entries per segment (about 90 KB), and the emptied segments kept for reuse: enough for the
// flow of a few batches, little memory held by an idle log database.
constexpr std::size_t segment_items = 512;
constexpr std::size_t max_spare_segments = 8;

} // namespace

// ---- segments ------------------------------------------------------------------------------

log_buffer::slots log_buffer::spare_segments::get() {
    if (spare_.empty())
        return std::make_unique<item[]>(segment_items);
    auto s = std::move(spare_.back());
    spare_.pop_back();
    return s;
}

void log_buffer::spare_segments::put(slots s) {
    if (spare_.size() < max_spare_segments)
        spare_.push_back(std::move(s)); // its entries were moved out: they hold no memory
}

void log_buffer::level_queue::push_back(item&& it) {
    if (segments_.empty() || segments_.back().end == segment_items)
        segments_.push_back({spare_->get(), 0, 0});
    auto& s = segments_.back();
    s.at[s.end++] = std::move(it);
}

void log_buffer::level_queue::push_front(item&& it) {
    if (segments_.empty() || segments_.front().begin == 0)
        segments_.push_front({spare_->get(), segment_items, segment_items});
    auto& s = segments_.front();
    s.at[--s.begin] = std::move(it);
}

void log_buffer::level_queue::pop_front() {
    auto& s = segments_.front();
    if (++s.begin == s.end) {
        spare_->put(std::move(s.at));
        segments_.pop_front();
    }
}

// ---- buffer --------------------------------------------------------------------------------

log_buffer::log_buffer(std::size_t capacity)
    : levels_{level_queue(spare_), level_queue(spare_), level_queue(spare_),
              level_queue(spare_), level_queue(spare_), level_queue(spare_)},
      capacity_(capacity < 1 ? 1 : capacity) {}

std::size_t log_buffer::index_of(log_level level) noexcept {
    return std::min(static_cast<std::size_t>(level), log_level_count - 1);
}

bool log_buffer::make_room(std::size_t incoming, log_drop_counts& dropped) {
    std::size_t lowest = 0;
    while (lowest < log_level_count && levels_[lowest].empty())
        ++lowest;
    if (lowest == log_level_count || incoming < lowest) {
        ++dropped[incoming];
        return false;
    }
    levels_[lowest].front().entry = log_entry(); // its memory goes now, not when reused
    levels_[lowest].pop_front();
    --size_;
    ++dropped[lowest];
    return true;
}

void log_buffer::push(log_entry&& entry, log_drop_counts& dropped) {
    const std::size_t level = index_of(entry.level);
    if (size_ >= capacity_ && !make_room(level, dropped))
        return;
    levels_[level].push_back({next_seq_++, std::move(entry)});
    ++size_;
}

void log_buffer::take(std::size_t n, std::vector<log_entry>& out) {
    n = std::min(n, size_);
    out.reserve(out.size() + n);
    size_ -= n;
    // Usually a single level is buffered, and there is nothing to merge.
    std::size_t present = 0;
    level_queue* only = nullptr;
    for (auto& level : levels_)
        if (!level.empty()) {
            ++present;
            only = &level;
        }
    for (; n > 0; --n) {
        level_queue* oldest = present == 1 ? only : nullptr;
        if (!oldest)
            for (auto& level : levels_)
                if (!level.empty() && (!oldest || level.front().seq < oldest->front().seq))
                    oldest = &level;
        out.push_back(std::move(oldest->front().entry));
        oldest->pop_front();
        if (oldest->empty() && --present == 1)
            for (auto& level : levels_)
                if (!level.empty())
                    only = &level;
    }
}

void log_buffer::put_back(std::vector<log_entry>& entries, log_drop_counts& dropped) {
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
        const std::size_t level = index_of(it->level);
        levels_[level].push_front({front_seq_--, std::move(*it)});
        ++size_;
    }
    entries.clear();
    while (size_ > capacity_)
        make_room(log_level_count, dropped); // nothing incoming: the lowest level always pays
}

std::size_t log_buffer::clear() noexcept {
    for (auto& level : levels_)
        level.clear();
    return std::exchange(size_, 0);
}

} // namespace sqlite_hybrid::detail
