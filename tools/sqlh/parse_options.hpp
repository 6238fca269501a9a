// SPDX-License-Identifier: BSL-1.0
// Option parsing shared by the subcommands: --help exits 0, an invalid option exits 2 with
// CLI11's message (what was wrong and where to read more).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>

namespace sqlh {

inline constexpr int exit_usage = 2;

// Parses argv into `app`; an exit status when the command must end here, nothing to go on.
inline std::optional<int> parse_options(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
        return std::nullopt;
    } catch (const CLI::CallForHelp&) {
        std::fputs(app.help().c_str(), stdout);
        return 0;
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "%s: %s\nRun '%s --help' for the options.\n", app.get_name().c_str(),
                     e.what(), app.get_name().c_str());
        return exit_usage;
    }
}

} // namespace sqlh
