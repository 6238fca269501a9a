// SPDX-License-Identifier: BSL-1.0
// Where the server's messages go: stderr always (stdout carries the "listening on" line), and in
// a worker also the log database, through its spdlog sink.
#pragma once

#include <memory>
#include <spdlog/logger.h>
#include <string>

namespace sqlite_hybrid {
class log_database;
}

namespace catalogue {

// A logger on stderr alone, also made spdlog's default logger; `who` names the process in each
// line. `level`: spdlog's names.
std::shared_ptr<spdlog::logger> console_logger(const std::string& level, const std::string& who);

// A worker's logger "http", on stderr and into `logs`. spdlog's default logger becomes
// "sqlite_hybrid" with the same sinks, so that the library's own messages (its default logger
// hook) are kept the same way.
std::shared_ptr<spdlog::logger> worker_logger(sqlite_hybrid::log_database& logs, int worker,
                                              const std::string& level);

} // namespace catalogue
