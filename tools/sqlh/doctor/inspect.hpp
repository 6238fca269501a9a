// SPDX-License-Identifier: BSL-1.0
// Inspecting one database file without changing it.
#pragma once

#include "doctor/doctor_report.hpp"

#include <string>

namespace sqlh::doctor {

// Every check on `path`. Throws inspection_error when the file cannot be inspected: it does not
// exist (it is never created), is not a database, or cannot be read right now.
report inspect(const std::string& path);

} // namespace sqlh::doctor
