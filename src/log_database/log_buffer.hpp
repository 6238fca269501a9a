// The log database's bounded buffer: entries leave in the order they arrived; when it is full,
// the lowest level present loses its oldest entry (or the newcomer goes, when its level is
// lower than everything buffered). Not synchronised: its owner holds a mutex.
#pragma once

#include <sqlite_hybrid/log_entry.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sqlite_hybrid::detail {

inline constexpr std::size_t log_level_count = 6;
using log_drop_counts = std::array<std::uint64_t, log_level_count>;

class log_buffer {
public:
    explicit log_buffer(std::size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

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
        std::int64_t seq; // arrival order across levels
        log_entry entry;
    };

    // A growable ring: cheap at both ends, and one allocation per doubling rather than per
    // few entries (a std::deque of entries this size allocates every two).
    class ring {
    public:
        bool empty() const noexcept { return count_ == 0; }
        item& front() noexcept { return slots_[head_]; }
        void push_back(item&& it);
        void push_front(item&& it);
        item pop_front();
        void clear() noexcept;

    private:
        void grow();
        std::vector<item> slots_;
        std::size_t head_ = 0;
        std::size_t count_ = 0;
    };

    static std::size_t index_of(log_level level) noexcept;
    // Drops one entry of the lowest level present, unless `incoming` is lower still; returns
    // false when it is the incoming entry that must go.
    bool make_room(std::size_t incoming, log_drop_counts& dropped);

    std::array<ring, log_level_count> levels_;
    std::size_t size_ = 0;
    std::size_t capacity_;
    std::int64_t next_seq_ = 0;
    std::int64_t front_seq_ = -1; // put_back numbers entries down from here
};

} // namespace sqlite_hybrid::detail
