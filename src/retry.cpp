// SPDX-License-Identifier: BSL-1.0
#include <sqlite_hybrid/lock_metrics.hpp>
#include <sqlite_hybrid/retry.hpp>

#include <algorithm>
#include <random>
#include <string>

namespace sqlite_hybrid {

std::uint64_t wait_histogram::total() const {
    std::uint64_t n = 0;
    for (auto c : counts)
        n += c;
    return n;
}

void lock_metrics::waited(std::chrono::microseconds total) noexcept {
    wait_us_.fetch_add(static_cast<std::uint64_t>(total.count()), std::memory_order_relaxed);
    std::size_t bucket = 0;
    while (bucket < wait_histogram::bounds.size() && total > wait_histogram::bounds[bucket])
        ++bucket;
    buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
}

lock_metrics_snapshot lock_metrics::snapshot() const noexcept {
    lock_metrics_snapshot s;
    s.lock_errors = lock_errors_.load(std::memory_order_relaxed);
    s.retries = retries_.load(std::memory_order_relaxed);
    s.failures = failures_.load(std::memory_order_relaxed);
    s.total_wait = std::chrono::microseconds(wait_us_.load(std::memory_order_relaxed));
    for (std::size_t i = 0; i < buckets_.size(); ++i)
        s.waits.counts[i] = buckets_[i].load(std::memory_order_relaxed);
    return s;
}

lock_metrics& global_lock_metrics() noexcept {
    static lock_metrics instance;
    return instance;
}

std::chrono::milliseconds retry_policy::delay_before(int retry) const noexcept {
    // Doubling stops at max_delay; the shift is bounded so it cannot overflow.
    const auto doubled = base_delay * (std::int64_t{1} << std::min(retry, 30));
    return std::min<std::chrono::milliseconds>(doubled, max_delay);
}

namespace detail {

namespace {
double jitter_factor() {
    thread_local std::minstd_rand rng(std::random_device{}());
    return std::uniform_real_distribution<double>(0.75, 1.25)(rng);
}

template <class F> void each_metrics(const retry_policy& p, F f) {
    f(global_lock_metrics());
    if (p.metrics)
        f(*p.metrics);
}
} // namespace

bool cancelled(boost::asio::cancellation_type t) noexcept {
    return t != boost::asio::cancellation_type::none;
}

retry_state::retry_state(retry_policy policy, retry_report* report)
    : policy_(std::move(policy)), report_(report) {
    if (policy_.deadline)
        deadline_ = started_ + *policy_.deadline;
}

std::optional<retry_state::clock::duration> retry_state::backoff_after(error_code& ec) {
    saw_lock_error_ = true;
    last_error_ = ec;
    each_metrics(policy_, [](lock_metrics& m) { m.lock_error(); });
    const int retry = attempts_ - 1;
    clock::duration delay = policy_.delay_before(retry);
    if (policy_.jitter)
        delay = std::chrono::duration_cast<clock::duration>(delay * jitter_factor());
    const auto now = clock::now();
    if (deadline_ && now >= *deadline_)
        deadline_reached_ = true;
    if (retry >= policy_.max_retries || deadline_reached_) {
        ec = make_error_code(errc::database_busy);
        return std::nullopt;
    }
    if (deadline_) // the last wait ends at the deadline, for one last attempt there
        delay = std::min<clock::duration>(delay, *deadline_ - now);
    each_metrics(policy_, [](lock_metrics& m) { m.retry(); });
    if (policy_.log)
        policy_.log(log_level::debug,
                    "lock error (" + last_error_.message() + "), retry " +
                        std::to_string(retry + 1) + " of " + std::to_string(policy_.max_retries) +
                        " in " +
                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(delay)
                                           .count()) +
                        " ms");
    return delay;
}

void retry_state::deadline_ended_attempt(error_code& ec) noexcept {
    if (is_lock_error(ec))
        last_error_ = ec;
    else if (!saw_lock_error_) // cancelled while it waited: the lock was not had in time
        last_error_ = make_error_code(errc::database_busy);
    saw_lock_error_ = true;
    deadline_reached_ = true;
    ec = make_error_code(errc::database_busy);
}

void retry_state::finish(const error_code& ec) {
    const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(waited_);
    if (saw_lock_error_)
        each_metrics(policy_, [&](lock_metrics& m) { m.waited(waited); });
    if (ec == errc::database_busy)
        each_metrics(policy_, [](lock_metrics& m) { m.failure(); });
    if (report_) {
        report_->attempts = attempts_;
        report_->waited = waited;
        report_->last_error = saw_lock_error_ && ec == errc::database_busy ? last_error_ : ec;
        report_->deadline_reached = deadline_reached_;
    }
}

} // namespace detail
} // namespace sqlite_hybrid
