// SPDX-License-Identifier: BSL-1.0
//   reliability_child crash-writer DB RUN   see crash_writer()
//   reliability_child malloc-faults DIR     see malloc_faults()
#include "reliability/child_modes.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (argc == 4 && mode == "crash-writer")
        return sqlite_hybrid::test::crash_writer(argv[2], std::atoll(argv[3]));
    if (argc == 3 && mode == "malloc-faults")
        return sqlite_hybrid::test::malloc_faults(argv[2]);
    std::fprintf(stderr, "usage: reliability_child crash-writer DB RUN | malloc-faults DIR\n");
    return 64;
}
