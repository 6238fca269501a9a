// SPDX-License-Identifier: BSL-1.0
// The log database's bounded buffer: entries leave in the order they arrived; when it is full,
// the lowest level present loses its oldest entry (or the newcomer goes, when its level is
// lower than everything buffered). Not synchronised: its owner holds a mutex.
#pragma once

#include <sqlite_hybrid/log_entry.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

namespace sqlite_hybrid::detail {

inline constexpr std::size_t log_level_count = 6;
using log_drop_counts = std::array<std::uint64_t, log_level_count>;

class log_buffer {
public:
    explicit log_buffer(std::size_t capacity);
    log_buffer(const log_buffer&) = delete; // the levels point at the spare segments
    log_buffer& operator=(const log_buffer&) = delete;

    // Adds `entry`; what the bound drops is counted in `dropped`.
    void push(log_entry&& entry, log_drop_counts& dropped);
    // Moves up to `n` entries, oldest first, to the end of `out`.
    void take(std::size_t n, std::vector<log_entry>& out);
    // Puts entries taken earlier (in their order) back in front of the others, as after a
    // failed write; the bound then drops by the same policy.
    void put_back(std::vector<log_entry>& entries, log_drop_counts& dropped);
    // Empties the buffer; returns how many entries it held.
    std::size_t clear() noexcept;

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

private:
    struct item {
        std::int64_t seq = 0; // arrival order across levels
        log_entry entry;
    };
    using slots = std::unique_ptr<item[]>;

    // Emptied segments kept for reuse, so that a steady flow of entries allocates no slots.
    class spare_segments {
    public:
        slots get();
        void put(slots s);

    private:
        std::vector<slots> spare_;
    };

    // A FIFO of one level's entries in fixed-size segments: growing moves no entry already in
    // it (a growable array moved them all, under the mutex the logging threads wait on).
    class level_queue {
    public:
        explicit level_queue(spare_segments& spare) : spare_(&spare) {}
        bool empty() const noexcept { return segments_.empty(); }
        item& front() noexcept { return segments_.front().at[segments_.front().begin]; }
        void push_back(item&& it);
        void push_front(item&& it);
        void pop_front();
        void clear() noexcept { segments_.clear(); }

    private:
        struct segment {
            slots at;
            std::size_t begin = 0; // the items in use are [begin, end)
            std::size_t end = 0;
        };
        std::deque<segment> segments_;
        spare_segments* spare_;
    };

    static std::size_t index_of(log_level level) noexcept;
    // Drops one entry of the lowest level present, unless `incoming` is lower still; returns
    // false when it is the incoming entry that must go.
    bool make_room(std::size_t incoming, log_drop_counts& dropped);

    spare_segments spare_;
    std::array<level_queue, log_level_count> levels_;
    std::size_t size_ = 0;
    std::size_t capacity_;
    std::int64_t next_seq_ = 0;
    std::int64_t front_seq_ = -1; // put_back numbers entries down from here
};

} // namespace sqlite_hybrid::detail
