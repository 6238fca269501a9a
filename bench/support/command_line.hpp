// SPDX-License-Identifier: BSL-1.0
// What the benchmarks' command lines share: options given as "--name value" pairs, numbers
// checked, and one shape of main(): --help prints the usage and exits 0, a usage error prints it
// and exits 2, any other failure its message and exits 1.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

namespace bench {

// `text` as a number >= 0; `option` names it in the error.
inline double parse_number(const std::string& text, const std::string& option) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(v >= 0))
        throw std::invalid_argument(option + " wants a number >= 0");
    return v;
}

// Calls on_option(name, value) for each pair, in order; false when --help or -h was given.
template <class OnOption> bool for_each_option(int argc, char** argv, OnOption on_option) {
    for (int i = 1; i < argc; ++i) {
        const std::string name = argv[i];
        if (name == "--help" || name == "-h")
            return false;
        if (i + 1 >= argc)
            throw std::invalid_argument("missing value after " + name);
        on_option(name, std::string(argv[++i]));
    }
    return true;
}

// parse(argc, argv) gives an optional configuration (none: --help), run(configuration) the exit
// status.
template <class Parse, class Run>
int run_main(const char* name, const char* usage, int argc, char** argv, Parse parse, Run run) {
    try {
        auto cfg = parse(argc, argv);
        if (!cfg) {
            std::fputs(usage, stdout);
            return 0;
        }
        return run(std::move(*cfg));
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "%s: %s\n%s", name, e.what(), usage);
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", name, e.what());
        return 1;
    }
}

} // namespace bench
