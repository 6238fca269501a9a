// SPDX-License-Identifier: BSL-1.0
#include "supervisor.hpp"

#include "logging.hpp"
#include "worker.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/logger.h>
#include <stdexcept>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

namespace catalogue {
namespace {

[[noreturn]] void fail(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// A socket bound with SO_REUSEPORT but not listening: it holds the port (port 0: the kernel
// picks one) while taking no connection itself; the workers' listeners join its port.
struct reserved_port {
    int fd = -1;
    unsigned short port = 0;
};

reserved_port reserve(const std::string& address, unsigned short port) {
    sockaddr_storage storage{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    socklen_t length = 0;
    if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        length = sizeof *v4;
    } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        length = sizeof *v6;
    } else {
        throw std::invalid_argument("not an IP address: " + address);
    }
    const int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail("socket");
    const int on = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
        fail("SO_REUSEPORT");
    if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0)
        fail("binding " + address + ":" + std::to_string(port));
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0)
        fail("getsockname");
    return {fd, ntohs(storage.ss_family == AF_INET ? v4->sin_port : v6->sin6_port)};
}

class supervisor {
public:
    supervisor(const server_options& o, std::shared_ptr<spdlog::logger> log)
        : options_(o), log_(std::move(log)) {}

    int run() {
        // Blocked before forking: the workers take SIGTERM/SIGINT over with their own handlers,
        // this process reads all three from a signalfd.
        sigset_t signals;
        sigemptyset(&signals);
        for (int s : {SIGTERM, SIGINT, SIGCHLD})
            sigaddset(&signals, s);
        sigprocmask(SIG_BLOCK, &signals, nullptr);

        const auto reserved = reserve(options_.address, options_.port);
        int ready[2];
        if (::pipe2(ready, O_CLOEXEC) != 0)
            fail("pipe");
        for (int i = 0; i < options_.workers; ++i) {
            std::fflush(nullptr); // nothing buffered may be written twice
            const pid_t pid = ::fork();
            if (pid == 0) {
                ::close(ready[0]);
                ::close(reserved.fd);
                int status = 1;
                try {
                    status = run_worker(options_, {i, reserved.port, ready[1]});
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "worker %d: %s\n", i, e.what());
                }
                std::exit(status); // a worker never returns into the supervisor's code
            }
            if (pid < 0) {
                log_->critical("fork: {}", std::strerror(errno));
                stop(SIGTERM);
                failed_ = true;
                break;
            }
            workers_[pid] = i;
        }
        ::close(ready[1]);
        const int signal_fd = ::signalfd(-1, &signals, SFD_CLOEXEC);
        if (signal_fd < 0)
            fail("signalfd");

        int ready_fd = ready[0];
        int ready_count = 0;
        while (!workers_.empty()) {
            pollfd fds[2] = {{signal_fd, POLLIN, 0}, {ready_fd, POLLIN, 0}};
            if (::poll(fds, ready_fd >= 0 ? 2 : 1, -1) < 0) {
                if (errno == EINTR)
                    continue;
                fail("poll");
            }
            if (ready_fd >= 0 && fds[1].revents) {
                char bytes[64];
                const auto n = ::read(ready_fd, bytes, sizeof bytes);
                if (n <= 0) {
                    ::close(ready_fd);
                    ready_fd = -1;
                } else if ((ready_count += static_cast<int>(n)) == options_.workers && !stopping_) {
                    announce(reserved.port);
                }
            }
            if (fds[0].revents & POLLIN) {
                signalfd_siginfo info{};
                if (::read(signal_fd, &info, sizeof info) == sizeof info)
                    on_signal(static_cast<int>(info.ssi_signo));
            }
        }
        ::close(signal_fd);
        ::close(reserved.fd);
        log_->info("all workers stopped{}", failed_ ? "; some failed" : "");
        return failed_ ? 1 : 0;
    }

private:
    void announce(unsigned short port) {
        const bool v6 = options_.address.find(':') != std::string::npos;
        std::printf("listening on %s%s%s:%u\n", v6 ? "[" : "", options_.address.c_str(),
                    v6 ? "]" : "", static_cast<unsigned>(port));
        std::fflush(stdout);
        log_->info("{} workers serving {}", options_.workers, options_.database);
    }

    void on_signal(int signal) {
        if (signal == SIGCHLD) {
            reap();
        } else if (!stopping_) {
            log_->info("signal {}: stopping the workers", signal);
            stop(SIGTERM);
        } else {
            log_->warn("signal {} again: killing the workers", signal);
            stop(SIGKILL);
        }
    }

    void stop(int signal) {
        stopping_ = true;
        for (const auto& [pid, index] : workers_)
            ::kill(pid, signal);
    }

    void reap() {
        int status = 0;
        for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
            const auto it = workers_.find(pid);
            if (it == workers_.end())
                continue;
            const int index = it->second;
            workers_.erase(it);
            const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            if (clean && stopping_)
                continue;
            failed_ = true;
            if (WIFEXITED(status))
                log_->error("worker {} exited with status {}", index, WEXITSTATUS(status));
            else
                log_->error("worker {} was killed by signal {}", index,
                            WIFSIGNALED(status) ? WTERMSIG(status) : 0);
            if (!stopping_) {
                log_->error("stopping the other workers");
                stop(SIGTERM);
            }
        }
    }

    const server_options& options_;
    std::shared_ptr<spdlog::logger> log_;
    std::map<pid_t, int> workers_; // pid -> worker index
    bool stopping_ = false;
    bool failed_ = false;
};

} // namespace

int run_supervisor(const server_options& options) {
    std::signal(SIGPIPE, SIG_IGN);
    auto log = console_logger(options.log_level, "supervisor");
    try {
        return supervisor(options, log).run();
    } catch (const std::exception& e) {
        log->critical("{}", e.what());
        return 1;
    }
}

} // namespace catalogue
