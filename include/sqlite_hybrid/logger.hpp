// SPDX-License-Identifier: BSL-1.0
// The logger hook: the library reports through a plain callable and depends on no logging API.
#pragma once

#include <functional>
#include <string_view>

namespace sqlite_hybrid {

enum class log_level { trace, debug, info, warn, error, critical };

using logger = std::function<void(log_level, std::string_view message)>;

// A logger that forwards to spdlog's default logger (the library's default when none is set).
logger default_logger();

// A logger that drops everything.
logger null_logger();

} // namespace sqlite_hybrid
