// SPDX-License-Identifier: BSL-1.0
// The report for people (an aligned table, then numbered advice) and for programs (JSON).
#pragma once

#include "doctor/doctor_report.hpp"

#include <cstdio>
#include <string>

namespace sqlh::doctor {

void print_text(const report& r, std::FILE* out);

// One JSON object per run, on one line. A run that could not inspect the file has status
// "error", the message in "error" and no checks.
std::string report_json(const report& r);
std::string error_json(const std::string& file, const std::string& message);

} // namespace sqlh::doctor
