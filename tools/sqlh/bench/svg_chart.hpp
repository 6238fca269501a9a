// SPDX-License-Identifier: BSL-1.0
// Small self-contained SVG charts for the HTML report: no scripts, no external files.
#pragma once

#include <string>
#include <vector>

namespace sqlh::bench {

std::string html_escape(const std::string& text);

struct bar {
    std::string label;
    double value = 0;
};

// Horizontal bars, one per label; `reference` > 0 draws a dashed line (e.g. the raw baseline).
std::string bar_chart(const std::string& title, const std::string& unit,
                      const std::vector<bar>& bars, double reference = 0,
                      const std::string& reference_label = {});

struct series {
    std::string name;
    std::vector<std::pair<double, double>> points; // (x, y)
};

std::string line_chart(const std::string& title, const std::string& x_label,
                       const std::string& y_label, const std::vector<series>& lines);

} // namespace sqlh::bench
