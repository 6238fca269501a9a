// SPDX-License-Identifier: BSL-1.0
// Items as JSON: reading a client's body (with the reason when it is not acceptable) and
// writing the stored item back.
#pragma once

#include "catalogue.hpp"

#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <variant>

namespace catalogue {

// The fields, or a message saying what is wrong with the body.
std::variant<item_fields, std::string> parse_item_fields(std::string_view body);

boost::json::value to_json(const item& i);

} // namespace catalogue
