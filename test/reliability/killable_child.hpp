// SPDX-License-Identifier: BSL-1.0
// A child process whose standard output the test reads line by line, and which is SIGKILLed at
// a chosen moment, or at the latest when its time limit is up (a hung child then fails its test
// instead of blocking the run). Never signals a process it has already reaped.
#pragma once

#include "support/process.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sqlite_hybrid::test {

class killable_child {
public:
    using clock = std::chrono::steady_clock;

    killable_child(std::vector<std::string> args, std::chrono::milliseconds limit)
        : child_(std::move(args), /*capture_stdout=*/true), pid_(child_.pid()),
          kill_at_(clock::now() + limit) {
        killer_ = std::thread([this] { kill_when_due(); });
    }
    killable_child(const killable_child&) = delete;
    killable_child& operator=(const killable_child&) = delete;
    ~killable_child() {
        if (child_.pid() > 0) {
            kill_now();
            wait();
        }
        stop_killer();
    }

    // One line of the child's output without its newline; empty at the end of the output.
    std::string read_line() { return child_.read_line(); }

    void kill_at(clock::time_point when) {
        {
            std::lock_guard lock(mutex_);
            kill_at_ = std::min(kill_at_, when);
        }
        cv_.notify_all();
    }
    void kill_now() { kill_at(clock::now()); }

    // Waits for the child: its exit status, or -1 when a signal ended it.
    int wait() {
        child_.await_exit(); // not reaped yet: the killer may still signal its pid
        stop_killer();
        return child_.wait();
    }

private:
    void kill_when_due() {
        std::unique_lock lock(mutex_);
        while (!reaped_) {
            if (clock::now() >= kill_at_) {
                ::kill(pid_, SIGKILL);
                return;
            }
            cv_.wait_until(lock, kill_at_);
        }
    }
    void stop_killer() {
        {
            std::lock_guard lock(mutex_);
            reaped_ = true;
        }
        cv_.notify_all();
        if (killer_.joinable())
            killer_.join();
    }

    child_process child_;
    const pid_t pid_; // the killer's copy: child_ forgets it once reaped
    std::mutex mutex_;
    std::condition_variable cv_;
    clock::time_point kill_at_;
    bool reaped_ = false;
    std::thread killer_;
};

} // namespace sqlite_hybrid::test
