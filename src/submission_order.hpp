// SPDX-License-Identifier: BSL-1.0
// Writes enter the writer's queue in the order they were submitted. A statement routed for the
// first time is prepared on a reader before anyone knows whether it writes; it takes a ticket
// when it is submitted, and the writes submitted after it wait here until it has settled: as a
// write (it enters the queue in its turn) or as anything else (its turn is skipped). A routed
// statement settles as soon as its routing is decided, not when a read it turned out to be ends.
//
// Not thread-safe: used under the writer queue's mutex.
#pragma once

#include <cstdint>
#include <map>

namespace sqlite_hybrid::detail {

template <class Op>
class submission_order {
public:
    using ticket = std::uint64_t;
    static constexpr ticket no_ticket = UINT64_MAX;

    ticket take() noexcept { return next_ticket_++; }

    // Settles ticket `t` with `op` (empty: not a write) and passes every op whose turn has come
    // to `admit`, in ticket order.
    template <class Admit>
    void settle(ticket t, Op op, Admit&& admit) {
        if (t == next_turn_ && waiting_.empty()) { // nobody before it: the common case
            ++next_turn_;
            if (op)
                admit(std::move(op));
            return;
        }
        waiting_.emplace(t, std::move(op));
        while (!waiting_.empty() && waiting_.begin()->first == next_turn_) {
            auto node = waiting_.extract(waiting_.begin());
            ++next_turn_;
            if (node.mapped())
                admit(std::move(node.mapped()));
        }
    }

    // Takes back the op settled with ticket `t` while it still waits for an earlier ticket
    // (empty if it has gone on, or was not a write); its turn stays settled, as skipped.
    Op withdraw(ticket t) {
        auto it = waiting_.find(t);
        return it == waiting_.end() ? Op() : std::move(it->second);
    }

    // Settled tickets waiting for an earlier one.
    std::size_t waiting() const noexcept { return waiting_.size(); }

private:
    ticket next_ticket_ = 0;
    ticket next_turn_ = 0;
    std::map<ticket, Op> waiting_;
};

} // namespace sqlite_hybrid::detail
