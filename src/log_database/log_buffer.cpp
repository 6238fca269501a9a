#include "log_buffer.hpp"

#include <algorithm>
#include <utility>

namespace sqlite_hybrid::detail {

// ---- ring ----------------------------------------------------------------------------------

void log_buffer::ring::grow() {
    std::vector<item> bigger;
    bigger.reserve(std::max<std::size_t>(16, slots_.size() * 2));
    for (std::size_t i = 0; i < count_; ++i)
        bigger.push_back(std::move(slots_[(head_ + i) % slots_.size()]));
    bigger.resize(bigger.capacity(), item{0, {}});
    slots_ = std::move(bigger);
    head_ = 0;
}

void log_buffer::ring::push_back(item&& it) {
    if (count_ == slots_.size())
        grow();
    slots_[(head_ + count_) % slots_.size()] = std::move(it);
    ++count_;
}

void log_buffer::ring::push_front(item&& it) {
    if (count_ == slots_.size())
        grow();
    head_ = (head_ + slots_.size() - 1) % slots_.size();
    slots_[head_] = std::move(it);
    ++count_;
}

log_buffer::item log_buffer::ring::pop_front() {
    item out = std::move(slots_[head_]);
    head_ = (head_ + 1) % slots_.size();
    if (--count_ == 0 && slots_.size() > 4096)
        clear(); // give a burst's memory back
    return out;
}

void log_buffer::ring::clear() noexcept {
    slots_ = {};
    head_ = 0;
    count_ = 0;
}

// ---- buffer --------------------------------------------------------------------------------

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
    for (; n > 0 && size_ > 0; --n) {
        ring* oldest = nullptr;
        for (auto& level : levels_)
            if (!level.empty() && (!oldest || level.front().seq < oldest->front().seq))
                oldest = &level;
        out.push_back(oldest->pop_front().entry);
        --size_;
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
