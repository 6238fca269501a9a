// SPDX-License-Identifier: BSL-1.0
#include "doctor/render.hpp"

#include <algorithm>
#include <string_view>

namespace sqlh::doctor {
namespace {

constexpr std::size_t max_value_width = 40;
constexpr std::size_t line_width = 100;

std::string_view group_title(check_scope s) {
    switch (s) {
    case check_scope::file:
        return "in the file";
    case check_scope::now:
        return "right now";
    case check_scope::connection:
        return "per connection: sqlite_hybrid applies 'expected' at every open, other programs "
               "get 'value'";
    }
    return "";
}

// `text` in lines of at most line_width, the first after `first`, the next after `indent`.
void print_wrapped(std::FILE* out, std::string_view first, std::string_view text,
                   std::size_t indent) {
    std::string line(first);
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find(' ', pos);
        if (end == std::string_view::npos)
            end = text.size();
        const auto word = text.substr(pos, end - pos);
        if (line.size() > indent && line.size() + 1 + word.size() > line_width) {
            std::fprintf(out, "%s\n", line.c_str());
            line.assign(indent, ' ');
        } else if (line.size() > indent && line.back() != ' ') {
            line += ' ';
        }
        line += word;
        pos = end + 1;
    }
    std::fprintf(out, "%s\n", line.c_str());
}

} // namespace

void print_text(const report& r, std::FILE* out) {
    std::size_t name_width = 5;
    std::size_t value_width = 5;
    std::size_t expected_width = 8;
    for (const auto& c : r.checks) {
        name_width = std::max(name_width, c.name.size());
        value_width = std::min(max_value_width, std::max(value_width, c.value.size()));
        expected_width = std::max(expected_width, c.expected.size());
    }
    const int nw = static_cast<int>(name_width);
    const int vw = static_cast<int>(value_width);
    const int ew = static_cast<int>(expected_width);

    std::fprintf(out, "sqlh doctor %s (SQLite %s)\n\n", r.file.c_str(), r.sqlite_version.c_str());
    std::fprintf(out, "  %-*s  %-*s  %-*s  %s\n", nw, "check", vw, "value", ew, "expected",
                 "status");
    bool first = true;
    check_scope scope{};
    for (const auto& c : r.checks) {
        if (first || c.scope != scope)
            std::fprintf(out, "%.*s\n", static_cast<int>(group_title(c.scope).size()),
                         group_title(c.scope).data());
        first = false;
        scope = c.scope;
        const auto status = to_string(c.status);
        std::fprintf(out, "  %-*s  %-*s  %-*s  %.*s\n", nw, c.name.c_str(), vw, c.value.c_str(), ew,
                     c.expected.c_str(), static_cast<int>(status.size()), status.data());
    }

    const auto findings = r.findings();
    if (findings == 0) {
        std::fprintf(out, "\nhealthy: no findings\n");
        return;
    }
    std::fprintf(out, "\n%zu finding%s:\n", findings, findings == 1 ? "" : "s");
    std::size_t n = 0;
    for (const auto& c : r.checks) {
        if (c.status != check_status::finding)
            continue;
        const auto label = std::to_string(++n) + ". " + c.name + ": ";
        print_wrapped(out, label, c.advice, 3);
    }
}

} // namespace sqlh::doctor
