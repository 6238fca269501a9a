// SPDX-License-Identifier: BSL-1.0
// Keeping passwords out of messages: libpq's own errors may quote a connection string's parts
// (a broken %-escape in a password, for one).
#pragma once

#include <string>
#include <string_view>

namespace sqlite_hybrid::detail {

// `text` with every password of the PostgreSQL connection string `url` (as written, and
// %-decoded) replaced by "***".
std::string without_secrets(std::string text, std::string_view url);

} // namespace sqlite_hybrid::detail
