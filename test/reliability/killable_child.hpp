// A child process whose standard output the test reads line by line, and which is SIGKILLed at
// a chosen moment, or at the latest when its time limit is up (a hung child then fails its test
// instead of blocking the run). Never signals a process it has already reaped.
#pragma once

#include "support/c_strings.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace sqlite_hybrid::test {

class killable_child {
public:
    using clock = std::chrono::steady_clock;

    killable_child(std::vector<std::string> args, std::chrono::milliseconds limit)
        : kill_at_(clock::now() + limit) {
        auto argv = sqlite_hybrid::test::c_strings(args);
        int fds[2];
        if (pipe(fds) != 0)
            throw std::runtime_error("pipe failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, fds[0]);
        const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        close(fds[1]);
        out_ = fdopen(fds[0], "r");
        if (rc != 0) {
            pid_ = -1;
            throw std::runtime_error("cannot start " + args[0]);
        }
        killer_ = std::thread([this] { kill_when_due(); });
    }
    killable_child(const killable_child&) = delete;
    killable_child& operator=(const killable_child&) = delete;
    ~killable_child() {
        if (pid_ > 0) {
            kill_now();
            wait();
        }
        stop_killer();
        if (out_)
            fclose(out_);
    }

    // One line of the child's output without its newline; empty at the end of the output.
    std::string read_line() {
        std::string line;
        for (int c; out_ && (c = fgetc(out_)) != EOF && c != '\n';)
            line += static_cast<char>(c);
        return line;
    }

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
        if (pid_ <= 0)
            return -1;
        siginfo_t info{};
        // Waits without reaping, so that the pid cannot be reused while the killer may signal it.
        while (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) != 0 &&
               errno == EINTR) {
        }
        stop_killer();
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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

    pid_t pid_ = -1;
    FILE* out_ = nullptr;
    std::mutex mutex_;
    std::condition_variable cv_;
    clock::time_point kill_at_;
    bool reaped_ = false;
    std::thread killer_;
};

} // namespace sqlite_hybrid::test
