// SPDX-License-Identifier: BSL-1.0
// catalogue_server: an HTTP/1.1 catalogue service on one SQLite file, served by several worker
// processes that share the port and the database (docs/server.md).
//
//   catalogue_server --db catalogue.db --port 8080 --workers 2
//
// Prints "listening on ADDRESS:PORT" on stdout once every worker accepts connections; SIGTERM
// or SIGINT stops it gracefully (exit status 0 when every worker stopped cleanly).
#include "server_options.hpp"
#include "supervisor.hpp"

#include <sqlite_hybrid/version.hpp>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace {

void milliseconds_option(CLI::App& cli, const char* name, std::chrono::milliseconds& target,
                         const char* help) {
    cli.add_option_function<std::int64_t>(
           name, [&target](std::int64_t ms) { target = std::chrono::milliseconds(ms); }, help)
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}))
        ->default_str(std::to_string(target.count()));
}

} // namespace

int main(int argc, char** argv) {
    catalogue::server_options o;
    CLI::App cli{"A catalogue HTTP service on one SQLite file, served by several processes."};
    cli.add_option("--address", o.address, "IP address to listen on")->capture_default_str();
    cli.add_option("--port", o.port, "TCP port; 0 picks a free one")->capture_default_str();
    cli.add_option("--workers", o.workers, "worker processes sharing the port and the database")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    cli.add_option("--db", o.database, "the SQLite database file")->capture_default_str();
    cli.add_option("--log-db", o.log_database,
                   "the log database file (default: the database's name with -logs)");
    cli.add_option("--log-level", o.log_level, "trace, debug, info, warn, error, critical, off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
        ->capture_default_str();
    milliseconds_option(cli, "--request-timeout-ms", o.request_timeout,
                        "a request must arrive within this; idle connections close after it");
    milliseconds_option(cli, "--write-deadline-ms", o.write_deadline,
                        "immediate writes answer 503 after waiting this long for the lock");
    milliseconds_option(cli, "--shutdown-timeout-ms", o.shutdown_timeout,
                        "on SIGTERM, requests in flight get this long");
    milliseconds_option(cli, "--flush-interval-ms", o.flush_interval,
                        "how often buffered play counters are written");
    cli.add_option("--max-body-bytes", o.max_body_bytes)->capture_default_str();
    cli.add_option("--max-header-bytes", o.max_header_bytes)->capture_default_str();
    cli.add_option("--max-header-fields", o.max_header_fields)->capture_default_str();
    cli.add_option("--max-connections", o.max_connections, "per worker")->capture_default_str();
    cli.set_version_flag("--version", std::string("catalogue_server ") + sqlite_hybrid::version());
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version end here too, with status 0; a bad option is a usage error (2).
        return cli.exit(e) == 0 ? 0 : 2;
    }
    return catalogue::run_supervisor(o);
}
