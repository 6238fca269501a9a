// SPDX-License-Identifier: BSL-1.0
// A benchmark's figures written to a JSON file (--json FILE).
#pragma once

#include <boost/json.hpp>

#include <fstream>
#include <stdexcept>
#include <string>

namespace bench {

inline void write_json_file(const std::string& path, const boost::json::value& doc) {
    std::ofstream out(path);
    out << boost::json::serialize(doc) << '\n';
    if (!out)
        throw std::runtime_error("cannot write " + path);
}

} // namespace bench
