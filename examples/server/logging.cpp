// SPDX-License-Identifier: BSL-1.0
#include "logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sqlite_hybrid/log_database.hpp>
#include <sqlite_hybrid/log_database_sink.hpp>
#include <vector>

namespace catalogue {

std::shared_ptr<spdlog::logger> console_logger(const std::string& level, const std::string& who) {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_pattern("%Y-%m-%dT%H:%M:%S.%e [" + who + " %P] %l: %v");
    auto log = std::make_shared<spdlog::logger>(who, sink);
    log->set_level(spdlog::level::from_str(level));
    spdlog::set_default_logger(log);
    return log;
}

std::shared_ptr<spdlog::logger> worker_logger(sqlite_hybrid::log_database& logs, int worker,
                                              const std::string& level) {
    auto console = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    console->set_pattern("%Y-%m-%dT%H:%M:%S.%e [worker " + std::to_string(worker) +
                         " %P] [%n] %l: %v");
    // Time, level, logger, thread and source have columns of their own: the message is the
    // payload alone.
    auto database = std::make_shared<sqlite_hybrid::log_database_sink_mt>(logs.writer());
    const std::vector<spdlog::sink_ptr> sinks{console, database};

    auto make = [&](const char* name) {
        auto log = std::make_shared<spdlog::logger>(name, sinks.begin(), sinks.end());
        log->set_level(spdlog::level::from_str(level));
        log->flush_on(spdlog::level::warn); // asks the log database to write soon, never waits
        return log;
    };
    spdlog::set_default_logger(make("sqlite_hybrid"));
    return make("http");
}

} // namespace catalogue
