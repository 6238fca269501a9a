// SPDX-License-Identifier: BSL-1.0
#include "doctor/render.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <sqlite3.h>

namespace sqlh::doctor {
namespace {

namespace json = boost::json;

json::object check_json(const check& c) {
    json::object o;
    o["name"] = c.name;
    o["scope"] = to_string(c.scope);
    o["value"] = c.value;
    o["expected"] = c.expected;
    o["status"] = to_string(c.status);
    o["ok"] = c.status != check_status::finding;
    o["advice"] = c.advice;
    o["note"] = c.note;
    return o;
}

// Every run answers the same fields, whatever happened.
json::object base(const std::string& file, const std::string& sqlite_version) {
    json::object o;
    o["file"] = file;
    o["sqlite_version"] = sqlite_version;
    o["status"] = "healthy";
    o["findings"] = 0;
    o["error"] = nullptr;
    o["checks"] = json::array();
    o["wal"] = nullptr;
    return o;
}

} // namespace

std::string report_json(const report& r) {
    auto o = base(r.file, r.sqlite_version);
    const auto findings = r.findings();
    o["status"] = findings == 0 ? "healthy" : "findings";
    o["findings"] = findings;
    auto& checks = o["checks"].as_array();
    for (const auto& c : r.checks)
        checks.push_back(check_json(c));
    if (r.wal)
        o["wal"] = json::object{{"file_bytes", r.wal->file_bytes},
                                {"log_frames", r.wal->log_frames},
                                {"checkpointed_frames", r.wal->checkpointed_frames}};
    return json::serialize(o);
}

std::string error_json(const std::string& file, const std::string& message) {
    auto o = base(file, sqlite3_libversion());
    o["status"] = "error";
    o["error"] = message;
    return json::serialize(o);
}

} // namespace sqlh::doctor
