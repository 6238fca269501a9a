// SPDX-License-Identifier: BSL-1.0
// The fuzz targets' assertion: a property that failed stops the run with what it was, so that
// libFuzzer keeps the input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

inline void check(bool ok, std::string_view what = "a property of the input") {
    if (ok)
        return;
    std::fprintf(stderr, "check failed: %.*s\n", static_cast<int>(what.size()), what.data());
    std::abort();
}
