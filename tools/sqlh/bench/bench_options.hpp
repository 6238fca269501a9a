// SPDX-License-Identifier: BSL-1.0
// The options of `sqlh bench`.
#pragma once

#include "bench/bench_config.hpp"

#include <variant>

namespace sqlh::bench {

// The configuration, or the exit status when the command ends here (--help, invalid options).
std::variant<bench_config, int> parse_bench_options(int argc, char** argv);

} // namespace sqlh::bench
