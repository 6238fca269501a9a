// SPDX-License-Identifier: BSL-1.0
// Who still waits for what the server is doing. The database sets a scope on the thread that
// talks to the server, around the waits it makes for jobs: connecting for a batch, a group's
// BEGIN, a job's statements. A wait whose scope says nobody wants its answer any more (every
// job it serves was cancelled or passed its deadline) ends at its next slice, however long
// the server takes: a frozen server never holds a caller past its cancellation.
#pragma once

#include <utility>

namespace sqlite_hybrid::detail {

// The scope that is active on this thread, whatever its predicate.
class server_wait {
public:
    // Outside every scope a wait is always wanted.
    static bool wanted() { return active_ == nullptr || active_->ask_(active_->predicate_); }

    server_wait(const server_wait&) = delete;
    server_wait& operator=(const server_wait&) = delete;

protected:
    server_wait(const void* predicate, bool (*ask)(const void*))
        : predicate_(predicate), ask_(ask), previous_(active_) {
        active_ = this;
    }
    ~server_wait() { active_ = previous_; }

private:
    const void* predicate_;
    bool (*ask_)(const void*);
    server_wait* previous_;
    static inline thread_local server_wait* active_ = nullptr;
};

// Keeps its predicate in place: setting a scope allocates nothing on the path every job takes,
// on either engine.
template <class Predicate>
class server_wait_scope : public server_wait {
public:
    explicit server_wait_scope(Predicate still_wanted)
        : server_wait(&still_wanted_, [](const void* p) { return (*static_cast<const Predicate*>(p))(); }),
          still_wanted_(std::move(still_wanted)) {}

private:
    Predicate still_wanted_;
};

} // namespace sqlite_hybrid::detail
