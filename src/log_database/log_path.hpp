// SPDX-License-Identifier: BSL-1.0
// Which files may hold a log database: never the main database (nor its -wal, -shm or -journal
// file), and not an in-memory or private temporary database unless a test says so.
#pragma once

#include <sqlite_hybrid/log_database_options.hpp>
#include <sqlite_hybrid/result.hpp>

#include <string>

namespace sqlite_hybrid::detail {

// errc::path_refused with the reason in `why`, or success.
error_code check_log_path(const std::string& path, const log_database_options& options,
                          std::string& why);

} // namespace sqlite_hybrid::detail
