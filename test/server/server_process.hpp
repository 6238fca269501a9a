// SPDX-License-Identifier: BSL-1.0
// The catalogue server as a real process: started with a pipe on its stdout (where it says the
// port it listens on) and its stderr in a file, signalled, waited for with a bound.
#pragma once

#include "support/c_strings.hpp"

#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace sqlite_hybrid::test {

class server_process {
public:
    // Starts the server and waits (at most `startup`) for its "listening on HOST:PORT" line.
    server_process(std::vector<std::string> args, std::string stderr_path,
                   std::chrono::seconds startup = std::chrono::seconds(60))
        : stderr_path_(std::move(stderr_path)) {
        auto argv = sqlite_hybrid::test::c_strings(args);
        int out[2];
        if (pipe(out) != 0)
            throw std::runtime_error("pipe failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, out[0]);
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path_.c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        close(out[1]);
        stdout_ = out[0];
        if (rc != 0)
            throw std::runtime_error("cannot start " + args[0]);
        port_ = wait_for_port(startup);
    }
    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;
    ~server_process() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            wait(std::chrono::seconds(60));
        }
        close(stdout_);
    }

    unsigned short port() const { return port_; }
    void signal(int s) const { kill(pid_, s); }

    // The exit status, or -1 when it did not exit normally or not within `limit` (then it is
    // killed).
    int wait(std::chrono::seconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        int status = 0;
        while (waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                kill(pid_, SIGKILL);
                waitpid(pid_, &status, 0);
                pid_ = -1;
                return -1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    // What the server wrote on stderr (its console log).
    std::string log() const {
        std::ifstream in(stderr_path_);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

private:
    unsigned short wait_for_port(std::chrono::seconds limit) {
        const std::string marker = "listening on ";
        const auto deadline = std::chrono::steady_clock::now() + limit;
        std::string line;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            pollfd p{stdout_, POLLIN, 0};
            if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0)
                throw std::runtime_error("the server did not start:\n" + log());
            char c;
            if (read(stdout_, &c, 1) != 1)
                throw std::runtime_error("the server exited:\n" + log());
            if (c != '\n') {
                line += c;
                continue;
            }
            if (line.starts_with(marker))
                return static_cast<unsigned short>(std::stoi(line.substr(line.rfind(':') + 1)));
            line.clear();
        }
    }

    pid_t pid_ = -1;
    int stdout_ = -1;
    unsigned short port_ = 0;
    std::string stderr_path_;
};

} // namespace sqlite_hybrid::test
