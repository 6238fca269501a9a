// SPDX-License-Identifier: BSL-1.0
#include <sqlite_hybrid/logger.hpp>

#include <spdlog/spdlog.h>

namespace sqlite_hybrid {

logger default_logger() {
    return [](log_level level, std::string_view message) {
        spdlog::default_logger_raw()->log(static_cast<spdlog::level::level_enum>(level),
                                          "sqlite_hybrid: {}", message);
    };
}

logger null_logger() {
    return [](log_level, std::string_view) {};
}

} // namespace sqlite_hybrid
