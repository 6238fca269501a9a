// SPDX-License-Identifier: BSL-1.0
// A throwaway PostgreSQL cluster of a test's own (scripts/postgres.sh, on 127.0.0.1), for
// faults that would disturb other tests: freezing every server process with SIGSTOP, a
// restart.
// SQLITE_HYBRID_POSTGRES_SCRIPT names the script (set by test/CMakeLists.txt).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <signal.h>
#include <sys/types.h>

namespace sqlite_hybrid::test {

class postgres_cluster {
public:
    postgres_cluster() {
        const char* script = std::getenv("SQLITE_HYBRID_POSTGRES_SCRIPT");
        if (!script || !*script)
            throw std::runtime_error("SQLITE_HYBRID_POSTGRES_SCRIPT is not set");
        script_ = script;
        char pattern[] = "/tmp/sqlh-pg-own.XXXXXX";
        if (!::mkdtemp(pattern))
            throw std::runtime_error("mkdtemp failed");
        dir_ = pattern;
        url_ = shell("bash " + script_ + " start " + dir_);
        while (!url_.empty() && (url_.back() == '\n' || url_.back() == ' '))
            url_.pop_back();
        if (url_.rfind("postgresql://", 0) != 0) {
            stop();
            throw std::runtime_error("the cluster did not start: " + url_);
        }
    }
    postgres_cluster(const postgres_cluster&) = delete;
    postgres_cluster& operator=(const postgres_cluster&) = delete;
    ~postgres_cluster() {
        thaw();
        stop();
    }

    const std::string& url() const noexcept { return url_; }

    // Stops the postmaster and every process it started: the server neither answers nor
    // accepts connections (the kernel still completes their handshakes), as in a long stall.
    void freeze() {
        frozen_ = server_processes();
        for (pid_t pid : frozen_)
            ::kill(pid, SIGSTOP);
    }
    void thaw() {
        for (pid_t pid : frozen_)
            ::kill(pid, SIGCONT);
        frozen_.clear();
    }
    // pg_ctl restart -m fast: every session is ended, every commit kept; true when it is up.
    bool restart() {
        return shell("bash " + script_ + " restart " + dir_ + " > /dev/null 2>&1 && echo up")
                   .rfind("up", 0) == 0;
    }

private:
    static std::string shell(const std::string& command) {
        std::string out;
        if (FILE* p = ::popen(command.c_str(), "r")) {
            char buf[512];
            while (std::fgets(buf, sizeof buf, p))
                out += buf;
            ::pclose(p);
        }
        return out;
    }
    void stop() { shell("bash " + script_ + " stop " + dir_ + " 2>&1"); }

    // The postmaster (first line of postmaster.pid) first, so that it starts no more, then
    // its children as /proc lists them.
    std::vector<pid_t> server_processes() const {
        std::vector<pid_t> pids;
        std::ifstream pidfile(dir_ + "/data/postmaster.pid");
        pid_t postmaster = 0;
        if (!(pidfile >> postmaster) || postmaster <= 0)
            throw std::runtime_error("no postmaster.pid in " + dir_);
        pids.push_back(postmaster);
        for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
            std::ifstream stat(entry.path() / "stat");
            std::string line;
            if (!std::getline(stat, line))
                continue;
            // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
            const auto close = line.rfind(')');
            if (close == std::string::npos)
                continue;
            char state = 0;
            pid_t ppid = 0;
            if (std::sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) == 2 &&
                ppid == postmaster)
                pids.push_back(static_cast<pid_t>(std::atoi(entry.path().filename().c_str())));
        }
        return pids;
    }

    std::string script_;
    std::string dir_;
    std::string url_;
    std::vector<pid_t> frozen_;
};

} // namespace sqlite_hybrid::test
