// SPDX-License-Identifier: BSL-1.0
// Whether a file can be read as a log database, checked before the library opens it: opening
// would create a missing file, and would switch another kind of database to WAL.
#pragma once

#include <string>

namespace sqlh::logs {

struct log_file_problem {
    int status = 0;      // 0: none; else the exit status
    std::string message; // what is wrong, for stderr
};

// Looks at `path` read-only: never creates or changes it.
log_file_problem check_log_file(const std::string& path);

} // namespace sqlh::logs
