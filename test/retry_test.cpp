// SPDX-License-Identifier: BSL-1.0
// with_retry as a combinator: which errors it retries, how it backs off, when it gives up.
// The operations here are plain Asio operations that complete with a chosen code; the tests
// against real lock contention between processes are in contention_test.cpp.
#include "support/run.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/retry.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using asio::awaitable;
using sh::test::run;
using namespace std::chrono_literals;

namespace {

// An operation that fails with `failure` for its first `failures` attempts, then yields 42.
struct flaky {
    asio::io_context& io;
    int failures;
    sh::error_code failure = sh::make_sqlite_error(SQLITE_BUSY);
    int attempts = 0;

    template <class Token> auto operator()(Token&& token) {
        return asio::async_initiate<Token, void(sh::error_code, int)>(
            [this](auto handler) {
                const bool fail = attempts++ < failures;
                asio::post(io, [h = std::move(handler), fail, code = failure]() mutable {
                    std::move(h)(fail ? code : sh::error_code(), fail ? 0 : 42);
                });
            },
            token);
    }
};

sh::retry_policy fast_policy() {
    sh::retry_policy p;
    p.base_delay = 1ms;
    p.max_delay = 4ms;
    p.metrics = std::make_shared<sh::lock_metrics>();
    return p;
}

TEST(Retry, DelaysDoubleUpToTheMaximum) {
    sh::retry_policy p;
    EXPECT_EQ(p.delay_before(0), 100ms);
    EXPECT_EQ(p.delay_before(1), 200ms);
    EXPECT_EQ(p.delay_before(3), 800ms);
    EXPECT_EQ(p.delay_before(4), 1600ms);
    EXPECT_EQ(p.delay_before(5), 2000ms);
    EXPECT_EQ(p.delay_before(100), 2000ms);
}

TEST(Retry, LockErrorsAreRetriedUntilTheOperationSucceeds) {
    asio::io_context io;
    flaky op{io, 2};
    auto policy = fast_policy();
    sh::retry_report report;
    auto value = run(io, sh::with_retry(std::ref(op), policy, &report));
    EXPECT_EQ(value, 42);
    EXPECT_EQ(op.attempts, 3);
    EXPECT_EQ(report.attempts, 3);
    auto m = policy.metrics->snapshot();
    EXPECT_EQ(m.lock_errors, 2u);
    EXPECT_EQ(m.retries, 2u);
    EXPECT_EQ(m.failures, 0u);
    EXPECT_EQ(m.waits.total(), 1u);
}

TEST(Retry, EveryBusyAndLockedCodeCountsAsALockError) {
    for (int code : {SQLITE_BUSY, SQLITE_BUSY_RECOVERY, SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_TIMEOUT,
                     SQLITE_LOCKED, SQLITE_LOCKED_SHAREDCACHE, SQLITE_LOCKED_VTAB}) {
        asio::io_context io;
        flaky op{io, 1, sh::make_sqlite_error(code)};
        EXPECT_EQ(run(io, sh::with_retry(std::ref(op), fast_policy())), 42) << code;
        EXPECT_EQ(op.attempts, 2) << code;
    }
}

TEST(Retry, OtherErrorsReturnAtOnceUntouched) {
    asio::io_context io;
    flaky op{io, 5, sh::make_sqlite_error(SQLITE_CONSTRAINT_UNIQUE)};
    auto policy = fast_policy();
    auto r = run(io, sh::with_retry(std::ref(op), policy, sh::as_result));
    EXPECT_EQ(r.error().value(), SQLITE_CONSTRAINT_UNIQUE);
    EXPECT_EQ(op.attempts, 1);
    EXPECT_EQ(policy.metrics->snapshot().lock_errors, 0u);
}

TEST(Retry, ExhaustedRetriesGiveDatabaseBusyWithAReport) {
    asio::io_context io;
    flaky op{io, 100};
    auto policy = fast_policy();
    policy.max_retries = 3;
    sh::retry_report report;
    auto r = run(io, sh::with_retry(std::ref(op), policy, &report, sh::as_result));
    EXPECT_EQ(r.error(), sh::errc::database_busy);
    EXPECT_EQ(r.error(), sh::condition::busy);
    EXPECT_EQ(op.attempts, 4);
    EXPECT_EQ(report.attempts, 4);
    EXPECT_EQ(report.last_error.value(), SQLITE_BUSY);
    EXPECT_GT(report.waited, 0us);
    EXPECT_FALSE(report.deadline_reached);
    EXPECT_EQ(policy.metrics->snapshot().failures, 1u);
}

TEST(Retry, TheDeadlineBoundsTheWholeOperation) {
    asio::io_context io;
    flaky op{io, 1000};
    sh::retry_policy policy;
    policy.max_retries = 1000;
    policy.base_delay = 5ms;
    policy.max_delay = 5ms;
    policy.deadline = 60ms;
    sh::retry_report report;
    auto r = run(io, sh::with_retry(std::ref(op), policy, &report, sh::as_result));
    EXPECT_EQ(r.error(), sh::errc::database_busy);
    EXPECT_TRUE(report.deadline_reached);
    EXPECT_LT(op.attempts, 1000);
    EXPECT_GE(report.waited, 40ms); // it did wait until about the deadline
}

TEST(Retry, CancellationDuringABackoffEndsAtOnce) {
    using namespace asio::experimental::awaitable_operators;
    asio::io_context io;
    flaky op{io, 1};
    sh::retry_policy policy;
    policy.base_delay = std::chrono::hours(1);
    policy.max_delay = std::chrono::hours(1);
    policy.jitter = false;
    auto winner = run(io, [&]() -> awaitable<std::size_t> {
        asio::steady_timer timeout(io, 20ms);
        auto v = co_await (sh::with_retry(std::ref(op), policy, sh::as_result) ||
                           timeout.async_wait(asio::use_awaitable));
        if (v.index() == 0)
            ADD_FAILURE() << "the retry finished first";
        co_return v.index();
    }());
    EXPECT_EQ(winner, 1u);
    EXPECT_EQ(op.attempts, 1);
}

TEST(Retry, CancelledRetryReportsOperationAborted) {
    asio::io_context io;
    flaky op{io, 1};
    sh::retry_policy policy;
    policy.base_delay = std::chrono::hours(1);
    asio::cancellation_signal signal;
    sh::error_code seen;
    sh::with_retry(std::ref(op), policy,
                   asio::bind_cancellation_slot(
                       signal.slot(), asio::bind_executor(io, [&](sh::error_code ec, int) { seen = ec; })));
    io.run_for(20ms);
    signal.emit(asio::cancellation_type::terminal);
    io.restart();
    io.run();
    EXPECT_EQ(seen, asio::error::operation_aborted);
}

TEST(Retry, AwaitableOperationsWork) {
    asio::io_context io;
    int attempts = 0;
    auto op = [&]() -> awaitable<int> {
        if (attempts++ < 2)
            throw boost::system::system_error(sh::make_sqlite_error(SQLITE_LOCKED));
        co_return 7;
    };
    EXPECT_EQ(run(io, sh::with_retry(op, fast_policy())), 7);
    EXPECT_EQ(attempts, 3);
}

TEST(Retry, GlobalMetricsCountEveryPolicy) {
    asio::io_context io;
    const auto before = sh::global_lock_metrics().snapshot();
    flaky op{io, 1};
    run(io, sh::with_retry(std::ref(op), fast_policy()));
    const auto after = sh::global_lock_metrics().snapshot();
    EXPECT_EQ(after.lock_errors - before.lock_errors, 1u);
    EXPECT_EQ(after.retries - before.retries, 1u);
}

TEST(Retry, RetriesAreLoggedAtDebugLevel) {
    asio::io_context io;
    flaky op{io, 2};
    auto policy = fast_policy();
    std::vector<std::string> lines;
    policy.log = [&](sh::log_level level, std::string_view message) {
        EXPECT_EQ(level, sh::log_level::debug);
        lines.emplace_back(message);
    };
    run(io, sh::with_retry(std::ref(op), policy));
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find("retry 1 of 3"), std::string::npos) << lines[0];
}

} // namespace
