// SPDX-License-Identifier: BSL-1.0
#include <sqlite_hybrid/version.hpp>

namespace sqlite_hybrid {

const char* version() noexcept { return SQLITE_HYBRID_VERSION_STRING; }

} // namespace sqlite_hybrid
