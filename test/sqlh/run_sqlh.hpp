// SPDX-License-Identifier: BSL-1.0
// Runs a program (the sqlh binary unless told) as a real process and collects what it printed
// and how it ended.
#pragma once

#include "support/c_strings.hpp"
#include "support/temp_dir.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace sqlite_hybrid::test {

struct sqlh_result {
    int status = -1; // exit status, -1 when killed by a signal
    std::string out;
    std::string err;
};

inline std::string read_whole_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

inline sqlh_result run_program(const std::string& binary, std::vector<std::string> args) {
    temp_dir dir;
    const auto out_path = (dir.path() / "out").string();
    const auto err_path = (dir.path() / "err").string();
    args.insert(args.begin(), binary);
    auto argv = sqlite_hybrid::test::c_strings(args);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        throw std::runtime_error("cannot start " + args[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_whole_file(out_path),
            read_whole_file(err_path)};
}

#ifdef SQLH_BINARY
inline sqlh_result run_sqlh(std::vector<std::string> args) { return run_program(SQLH_BINARY, std::move(args)); }
#endif

} // namespace sqlite_hybrid::test
