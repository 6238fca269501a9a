// SPDX-License-Identifier: BSL-1.0
// sqlh: the sqlite_hybrid command-line tool.
#include "commands.hpp"
#include "parse_options.hpp"

#include <sqlite_hybrid/version.hpp>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <cstdio>
#include <cstring>
#include <string_view>

namespace {

constexpr const char* kUsage =
    "usage: sqlh <command> [options]\n"
    "\n"
    "commands:\n"
    "  bench    the contention benchmark: strategies side by side on one SQLite file\n"
    "  doctor   inspect a database file for lock problems and advise (never modifies it)\n"
    "  logs     read a log database: filter, follow, JSON\n"
    "\n"
    "'sqlh <command> --help' describes a command's options; 'sqlh --version' the versions.\n";

} // namespace

int main(int argc, char** argv) {
    // Standard output is for results (tables, JSON): the library's warnings go to stderr.
    spdlog::set_default_logger(spdlog::stderr_color_mt("sqlh"));
    if (argc < 2) {
        std::fputs(kUsage, stderr);
        return sqlh::exit_usage;
    }
    const std::string_view command = argv[1];
    if (command == "--help" || command == "-h" || command == "help") {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (command == "--version" || command == "version") {
        std::printf("sqlh %s (SQLite %s)\n", sqlite_hybrid::version(), sqlite3_libversion());
        return 0;
    }
    if (command == "bench")
        return sqlh::run_bench(argc - 1, argv + 1);
    if (command == "doctor")
        return sqlh::run_doctor(argc - 1, argv + 1);
    if (command == "logs")
        return sqlh::run_logs(argc - 1, argv + 1);
    std::fprintf(stderr, "sqlh: unknown command '%s'\n\n%s", argv[1], kUsage);
    return sqlh::exit_usage;
}
