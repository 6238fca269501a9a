// SPDX-License-Identifier: BSL-1.0
// The child processes of `sqlh bench`: the arguments a parent starts them with, and their entry.
#pragma once

#include "bench/strategy.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sqlh::bench {

bool is_child_mode(int argc, char** argv); // argv[0] is "bench"
int run_child_mode(int argc, char** argv);

std::vector<std::string> child_arguments(const child_config& c);
std::vector<std::string> hold_arguments(const std::string& db_path, std::int64_t start_ms,
                                        double duration_s, double hold_s, int holds,
                                        const std::string& out_path);

} // namespace sqlh::bench
