// SPDX-License-Identifier: BSL-1.0
// The outputs of a run: the table on stdout, the JSON document, the HTML page.
#pragma once

#include "bench/results.hpp"

#include <boost/json/value.hpp>

#include <cstdio>
#include <string>

namespace sqlh::bench {

void print_table(std::FILE* out, const bench_results& r);
boost::json::value to_json(const bench_results& r);
std::string html_report(const bench_results& r);

// What the lock holder does in this run: "off", "2 s mid-run", "40 times at random, up to 8 s".
std::string describe_lock_holder(const bench_config& c);

} // namespace sqlh::bench
