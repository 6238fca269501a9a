// SPDX-License-Identifier: BSL-1.0
#include "bench/svg_chart.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sqlh::bench {

namespace {

constexpr const char* palette[] = {"#d1495b", "#edae49", "#66a182", "#00798c", "#30638e",
                                   "#8d6a9f"};

std::string number(double v) {
    char buf[32];
    if (v >= 100 || v == std::floor(v))
        std::snprintf(buf, sizeof buf, "%.0f", v);
    else
        std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

// A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten.
double axis_max(double v) {
    if (v <= 0)
        return 1;
    const double p = std::pow(10, std::floor(std::log10(v)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (v <= m * p)
            return m * p;
    return 10 * p;
}

} // namespace

std::string html_escape(const std::string& text) {
    std::string out;
    for (char c : text) {
        switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string bar_chart(const std::string& title, const std::string& unit,
                      const std::vector<bar>& bars, double reference,
                      const std::string& reference_label) {
    const double left = 110, width = 420, row = 28, top = 30;
    const double height = top + row * static_cast<double>(bars.size()) + 30;
    double max = reference;
    for (const auto& b : bars)
        max = std::max(max, b.value);
    const double scale = width / axis_max(max);
    std::string svg = "<svg xmlns='http://www.w3.org/2000/svg' width='640' height='" +
                      number(height) + "' role='img'><title>" + html_escape(title) + "</title>";
    svg += "<text x='0' y='18' font-weight='bold'>" + html_escape(title) + "</text>";
    for (std::size_t i = 0; i < bars.size(); ++i) {
        const double y = top + row * static_cast<double>(i);
        svg += "<text x='" + number(left - 6) + "' y='" + number(y + 17) +
               "' text-anchor='end'>" + html_escape(bars[i].label) + "</text>";
        svg += "<rect x='" + number(left) + "' y='" + number(y + 4) + "' width='" +
               number(std::max(1.0, bars[i].value * scale)) + "' height='" + number(row - 8) +
               "' fill='" + palette[i % std::size(palette)] + "'/>";
        svg += "<text x='" + number(left + bars[i].value * scale + 6) + "' y='" +
               number(y + 17) + "'>" + number(bars[i].value) + " " + html_escape(unit) + "</text>";
    }
    if (reference > 0) {
        const double x = left + reference * scale;
        svg += "<line x1='" + number(x) + "' y1='" + number(top) + "' x2='" + number(x) +
               "' y2='" + number(height - 24) + "' stroke='#333' stroke-dasharray='4 3'/>";
        svg += "<text x='" + number(x) + "' y='" + number(height - 8) +
               "' text-anchor='middle' font-size='12'>" + html_escape(reference_label) + "</text>";
    }
    return svg + "</svg>";
}

std::string line_chart(const std::string& title, const std::string& x_label,
                       const std::string& y_label, const std::vector<series>& lines) {
    const double left = 70, top = 30, width = 440, height = 220;
    double max_x = 1, max_y = 0;
    for (const auto& s : lines)
        for (const auto& [x, y] : s.points) {
            max_x = std::max(max_x, x);
            max_y = std::max(max_y, y);
        }
    max_y = axis_max(max_y);
    auto px = [&](double x) { return left + x / max_x * width; };
    auto py = [&](double y) { return top + height - y / max_y * height; };
    std::string svg = "<svg xmlns='http://www.w3.org/2000/svg' width='680' height='" +
                      number(top + height + 50) + "' role='img'><title>" + html_escape(title) +
                      "</title><text x='0' y='18' font-weight='bold'>" + html_escape(title) +
                      "</text>";
    svg += "<line x1='" + number(left) + "' y1='" + number(top + height) + "' x2='" +
           number(left + width) + "' y2='" + number(top + height) + "' stroke='#333'/>";
    svg += "<line x1='" + number(left) + "' y1='" + number(top) + "' x2='" + number(left) +
           "' y2='" + number(top + height) + "' stroke='#333'/>";
    for (int i = 0; i <= 4; ++i) {
        const double y = max_y * i / 4;
        svg += "<text x='" + number(left - 6) + "' y='" + number(py(y) + 4) +
               "' text-anchor='end' font-size='12'>" + number(y) + "</text>";
    }
    svg += "<text x='" + number(left + width / 2) + "' y='" + number(top + height + 40) +
           "' text-anchor='middle'>" + html_escape(x_label) + "</text>";
    svg += "<text x='12' y='" + number(top + height / 2) + "' transform='rotate(-90 12 " +
           number(top + height / 2) + ")' text-anchor='middle'>" + html_escape(y_label) +
           "</text>";
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const char* color = palette[i % std::size(palette)];
        std::string path;
        for (const auto& [x, y] : lines[i].points) {
            if (!path.empty())
                path += ' ';
            path += number(px(x)) + "," + number(py(y));
            svg += "<circle cx='" + number(px(x)) + "' cy='" + number(py(y)) + "' r='3' fill='" +
                   color + "'/>";
            svg += "<text x='" + number(px(x)) + "' y='" + number(top + height + 18) +
                   "' text-anchor='middle' font-size='12'>" + number(x) + "</text>";
        }
        svg += "<polyline fill='none' stroke='" + std::string(color) +
               "' stroke-width='2' points='" + path + "'/>";
        svg += "<text x='" + number(left + width + 10) + "' y='" + number(top + 16 + 18 * static_cast<double>(i)) +
               "' fill='" + color + "'>" + html_escape(lines[i].name) + "</text>";
    }
    return svg + "</svg>";
}

} // namespace sqlh::bench
