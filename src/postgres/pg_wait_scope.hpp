// Who still waits for what the server is doing. The database sets a scope on the thread that
// talks to the server, around the waits it makes for jobs: connecting for a batch, a group's
// BEGIN, a job's statements. A wait whose scope says nobody wants its answer any more (every
// job it serves was cancelled or passed its deadline) ends at its next slice, however long
// the server takes: a frozen server never holds a caller past its cancellation.
#pragma once

#include <functional>
#include <utility>

namespace sqlite_hybrid::detail {

class server_wait_scope {
public:
    explicit server_wait_scope(std::function<bool()> still_wanted)
        : still_wanted_(std::move(still_wanted)), previous_(active_) {
        active_ = this;
    }
    ~server_wait_scope() { active_ = previous_; }
    server_wait_scope(const server_wait_scope&) = delete;
    server_wait_scope& operator=(const server_wait_scope&) = delete;

    // Outside every scope a wait is always wanted.
    static bool wanted() { return active_ == nullptr || active_->still_wanted_(); }

private:
    std::function<bool()> still_wanted_;
    server_wait_scope* previous_;
    static inline thread_local server_wait_scope* active_ = nullptr;
};

} // namespace sqlite_hybrid::detail
