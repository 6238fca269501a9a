// SPDX-License-Identifier: BSL-1.0
// The order writes enter the writer's queue in: the order of their tickets, whatever the order
// they settle in, and a ticket settled as "not a write" only gives up its turn.
#include "submission_order.hpp"

#include "../support/model_cases.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

namespace {

using order = sqlite_hybrid::detail::submission_order<std::unique_ptr<int>>;

TEST(SubmissionOrder, AWriteSettledEarlyWaitsForTheRoutedStatementBeforeIt) {
    order o;
    std::vector<int> queue;
    auto admit = [&](std::unique_ptr<int> op) { queue.push_back(*op); };
    const auto routed = o.take();
    const auto write = o.take();
    o.settle(write, std::make_unique<int>(2), admit);
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(o.waiting(), 1u);
    o.settle(routed, std::make_unique<int>(1), admit); // it writes: it goes first
    EXPECT_EQ(queue, (std::vector<int>{1, 2}));
    EXPECT_EQ(o.waiting(), 0u);
}

TEST(SubmissionOrder, AStatementThatTurnsOutToReadGivesUpItsTurnOnly) {
    order o;
    std::vector<int> queue;
    auto admit = [&](std::unique_ptr<int> op) { queue.push_back(*op); };
    const auto routed = o.take();
    const auto write = o.take();
    o.settle(write, std::make_unique<int>(2), admit);
    o.settle(routed, nullptr, admit);
    EXPECT_EQ(queue, (std::vector<int>{2}));
    o.settle(o.take(), std::make_unique<int>(3), admit); // nobody before it: straight in
    EXPECT_EQ(queue, (std::vector<int>{2, 3}));
}

// Against the model (every ticket, in order, the writes among them): tickets settled in a
// random order, each admitted exactly once and never before an earlier ticket settled.
TEST(SubmissionOrder, WritesEnterInTicketOrderWhateverTheOrderTheySettleIn) {
    const unsigned seed = sqlite_hybrid::test::model_seed();
    const int cases = sqlite_hybrid::test::model_cases(2000);
    for (int c = 0; c < cases; ++c) {
        std::mt19937 rng(seed + static_cast<unsigned>(c));
        order o;
        const int n = 1 + static_cast<int>(rng() % 40);
        std::vector<order::ticket> tickets(static_cast<std::size_t>(n));
        for (auto& t : tickets)
            t = o.take();
        std::vector<bool> writes(tickets.size());
        for (std::size_t i = 0; i < writes.size(); ++i)
            writes[i] = rng() % 3 != 0;
        std::vector<std::size_t> settle_order(tickets.size());
        std::iota(settle_order.begin(), settle_order.end(), 0);
        std::shuffle(settle_order.begin(), settle_order.end(), rng);
        std::vector<bool> settled(tickets.size());
        std::vector<int> queue;
        for (auto i : settle_order) {
            settled[i] = true;
            o.settle(tickets[i], writes[i] ? std::make_unique<int>(static_cast<int>(i)) : nullptr,
                     [&](std::unique_ptr<int> op) {
                         const auto at = static_cast<std::size_t>(*op);
                         ASSERT_TRUE(std::all_of(settled.begin(), settled.begin() + static_cast<long>(at),
                                                 [](bool s) { return s; }))
                             << "seed " << seed + static_cast<unsigned>(c);
                         queue.push_back(*op);
                     });
        }
        std::vector<int> expected;
        for (std::size_t i = 0; i < writes.size(); ++i)
            if (writes[i])
                expected.push_back(static_cast<int>(i));
        ASSERT_EQ(queue, expected) << "replay with SQLITE_HYBRID_MODEL_SEED="
                                   << seed + static_cast<unsigned>(c) << " SQLITE_HYBRID_MODEL_CASES=1";
        ASSERT_EQ(o.waiting(), 0u);
    }
}

} // namespace
