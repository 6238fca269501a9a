// SPDX-License-Identifier: BSL-1.0
// sqlh doctor FILE [--json]: the lock checklist as a command. Exit status 0 healthy, 1 findings,
// 2 the file could not be inspected (or the options were wrong).
#include "commands.hpp"
#include "doctor/doctor_connection.hpp"
#include "doctor/inspect.hpp"
#include "doctor/render.hpp"
#include "parse_options.hpp"

#include <cstdio>
#include <string>

namespace sqlh {

namespace {
constexpr int exit_healthy = 0;
constexpr int exit_findings = 1;
constexpr int exit_cannot_inspect = 2;
} // namespace

int run_doctor(int argc, char** argv) {
    CLI::App app("Inspects a SQLite database for lock problems and says what to do about each "
                 "finding. It changes no data and never creates the database file.\n"
                 "Exit status: 0 healthy, 1 findings, 2 could not inspect.",
                 "sqlh doctor");
    std::string file;
    bool json = false;
    app.add_option("FILE", file, "the database file (must exist)")->required();
    app.add_flag("--json", json, "print one JSON object instead of the report");
    if (auto status = parse_options(app, argc, argv))
        return *status;

    try {
        const auto r = doctor::inspect(file);
        if (json)
            std::printf("%s\n", doctor::report_json(r).c_str());
        else
            doctor::print_text(r, stdout);
        return r.findings() == 0 ? exit_healthy : exit_findings;
    } catch (const doctor::inspection_error& e) {
        std::fprintf(stderr, "sqlh doctor: %s: %s\n", file.c_str(), e.what());
        if (json)
            std::printf("%s\n", doctor::error_json(file, e.what()).c_str());
        return exit_cannot_inspect;
    }
}

} // namespace sqlh
