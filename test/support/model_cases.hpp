// SPDX-License-Identifier: BSL-1.0
// How many generated cases a model-based test runs and from which seed: a fixed budget
// (SQLITE_HYBRID_MODEL_CASES, or the test's default) from a fresh seed unless
// SQLITE_HYBRID_MODEL_SEED replays one.
#pragma once

#include <cstdlib>
#include <random>

namespace sqlite_hybrid::test {

inline int model_cases(int fallback) {
    if (const char* n = std::getenv("SQLITE_HYBRID_MODEL_CASES"))
        return std::atoi(n);
    return fallback;
}

inline unsigned model_seed() {
    if (const char* s = std::getenv("SQLITE_HYBRID_MODEL_SEED"))
        return static_cast<unsigned>(std::strtoul(s, nullptr, 10));
    return std::random_device{}();
}

} // namespace sqlite_hybrid::test
