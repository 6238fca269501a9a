// SPDX-License-Identifier: BSL-1.0
// What a worker's request handlers share: the stores, the log database, the worker's logger.
#pragma once

#include "server_options.hpp"

#include <spdlog/logger.h>

namespace sqlite_hybrid {
class database;
class log_database;
} // namespace sqlite_hybrid

namespace catalogue {

class catalogue_store;
class play_counter;

struct app {
    const server_options& options;
    int worker = 0;
    sqlite_hybrid::database& db;
    catalogue_store& items;
    play_counter& plays;
    sqlite_hybrid::log_database& logs;
    spdlog::logger& log;
    bool stopping = false; // SIGTERM seen: no new connections, no keep-alive
};

} // namespace catalogue
