// SPDX-License-Identifier: BSL-1.0
// What the catalogue server is told on its command line (main.cpp parses it).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace catalogue {

struct server_options {
    std::string address = "127.0.0.1";
    unsigned short port = 8080; // 0: an ephemeral port, printed once every worker listens
    int workers = 1;            // processes sharing the port (SO_REUSEPORT) and the database
    std::string database = "catalogue.db";
    std::string log_database; // "": the database's name with "-logs" before the extension
    std::string log_level = "info";

    // A request's headers and body must arrive within this; an idle keep-alive connection is
    // closed after it.
    std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
    // Immediate writes give up with 503 after this (with_retry deadline).
    std::chrono::milliseconds write_deadline{std::chrono::seconds(2)};
    // On SIGTERM, requests in flight get this long before their connections are closed.
    std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(10)};
    // How often the write buffer flushes play counters.
    std::chrono::milliseconds flush_interval{std::chrono::seconds(1)};

    std::size_t max_body_bytes = 64 * 1024;
    std::size_t max_header_bytes = 8 * 1024;
    std::size_t max_header_fields = 64;
    std::size_t max_connections = 4096; // per worker; more are closed at once
};

} // namespace catalogue
