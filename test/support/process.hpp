// SPDX-License-Identifier: BSL-1.0
// Starting the test helper as a real process and waiting for it.
#pragma once

#include "support/c_strings.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace sqlite_hybrid::test {

class child_process {
public:
    // With `capture_stdout`, the child's standard output can be read with read_line().
    explicit child_process(std::vector<std::string> args, bool capture_stdout = false) {
        auto argv = sqlite_hybrid::test::c_strings(args);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        int fds[2] = {-1, -1};
        if (capture_stdout) {
            if (pipe(fds) != 0)
                throw std::runtime_error("pipe failed");
            posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
            posix_spawn_file_actions_addclose(&actions, fds[0]);
        }
        const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (capture_stdout) {
            close(fds[1]);
            out_ = fdopen(fds[0], "r");
        }
        if (rc != 0)
            throw std::runtime_error("cannot start " + args[0]);
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process() {
        if (pid_ > 0)
            wait();
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

    // Nothing once the child was waited for: its pid may belong to another process by then.
    void kill() {
        if (pid_ > 0)
            ::kill(pid_, SIGKILL);
    }

    // -1 once the child was waited for.
    pid_t pid() const noexcept { return pid_; }

    // Blocks until the child has ended, without reaping it: its pid cannot be reused (and
    // signalled by mistake) until wait().
    void await_exit() const {
        siginfo_t info{};
        while (pid_ > 0 && waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) != 0 &&
               errno == EINTR) {
        }
    }

    // The exit status, or -1 when it did not exit normally (or was waited for already).
    int wait() {
        if (pid_ <= 0)
            return -1;
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    pid_t pid_ = -1;
    FILE* out_ = nullptr;
};

} // namespace sqlite_hybrid::test
