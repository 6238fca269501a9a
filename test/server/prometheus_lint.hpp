// SPDX-License-Identifier: BSL-1.0
// A strict reader of the Prometheus text exposition format (0.0.4), for tests: it parses every
// line and lists what a scraper would reject or misread (bad names, labels, values, a sample
// without a TYPE, a family split or declared twice, duplicate series, a histogram whose buckets
// are not cumulative or whose +Inf bucket differs from its _count).
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sqlite_hybrid::test {

struct prometheus_sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct prometheus_text {
    std::vector<prometheus_sample> samples;
    std::map<std::string, std::string> types; // family -> counter, gauge, histogram, ...
    std::vector<std::string> errors;

    // The value of the sample with this name whose labels include `labels`.
    std::optional<double> value(std::string_view name,
                                const std::map<std::string, std::string>& labels = {}) const {
        for (const auto& s : samples) {
            if (s.name != name)
                continue;
            bool all = true;
            for (const auto& [k, v] : labels)
                all = all && s.labels.count(k) && s.labels.at(k) == v;
            if (all)
                return s.value;
        }
        return std::nullopt;
    }
};

namespace detail {

inline bool prometheus_name(std::string_view n, bool colon) {
    if (n.empty())
        return false;
    for (std::size_t i = 0; i < n.size(); ++i) {
        const char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
              (i > 0 && c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

inline std::optional<double> prometheus_value(std::string_view text) {
    if (text == "+Inf" || text == "Inf")
        return HUGE_VAL;
    if (text == "-Inf")
        return -HUGE_VAL;
    if (text == "NaN")
        return NAN;
    if (text.empty())
        return std::nullopt;
    const std::string s(text);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || std::isnan(v) || std::isinf(v))
        return std::nullopt;
    return v;
}

// name{a="x",b="y"} value [timestamp]
inline bool parse_prometheus_sample(std::string_view line, prometheus_sample& out,
                                    std::string& why) {
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ')
        ++i;
    out.name = std::string(line.substr(0, i));
    if (!prometheus_name(out.name, true))
        return why = "bad metric name", false;
    if (i < line.size() && line[i] == '{') {
        ++i;
        while (i < line.size() && line[i] != '}') {
            const auto eq = line.find('=', i);
            if (eq == std::string_view::npos)
                return why = "label without '='", false;
            const std::string key(line.substr(i, eq - i));
            if (!prometheus_name(key, false))
                return why = "bad label name '" + key + "'", false;
            i = eq + 1;
            if (i >= line.size() || line[i] != '"')
                return why = "label value not quoted", false;
            std::string value;
            for (++i; i < line.size() && line[i] != '"'; ++i) {
                if (line[i] == '\\') {
                    if (++i >= line.size())
                        return why = "escape at end of line", false;
                    const char e = line[i];
                    if (e == 'n')
                        value += '\n';
                    else if (e == '\\' || e == '"')
                        value += e;
                    else
                        return why = "bad escape in label value", false;
                } else {
                    value += line[i];
                }
            }
            if (i >= line.size())
                return why = "unterminated label value", false;
            ++i; // closing quote
            if (!out.labels.emplace(key, value).second)
                return why = "label '" + key + "' repeated", false;
            if (i < line.size() && line[i] == ',')
                ++i;
            else if (i >= line.size() || line[i] != '}')
                return why = "expected ',' or '}'", false;
        }
        if (i >= line.size())
            return why = "unterminated label set", false;
        ++i; // '}'
    }
    if (i >= line.size() || line[i] != ' ')
        return why = "expected a space before the value", false;
    auto rest = line.substr(i + 1);
    const auto space = rest.find(' ');
    auto v = prometheus_value(rest.substr(0, space));
    if (!v)
        return why = "bad value", false;
    out.value = *v;
    if (space != std::string_view::npos) {
        auto ts = rest.substr(space + 1);
        if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string_view::npos)
            return why = "bad timestamp", false;
    }
    return true;
}

inline std::string prometheus_series_key(const prometheus_sample& s, bool without_le) {
    std::string key = s.name;
    for (const auto& [k, v] : s.labels)
        if (!(without_le && k == "le"))
            key += "\x1f" + k + "=" + v;
    return key;
}

} // namespace detail

inline prometheus_text parse_prometheus(std::string_view text) {
    prometheus_text out;
    auto error = [&](std::size_t line_no, const std::string& what, std::string_view line) {
        out.errors.push_back("line " + std::to_string(line_no) + ": " + what + ": " +
                             std::string(line));
    };
    if (!text.empty() && text.back() != '\n')
        out.errors.push_back("the text does not end with a newline");

    std::set<std::string> helped, finished;
    std::string current; // the family whose lines are being read
    auto enter = [&](std::size_t n, const std::string& family, std::string_view line) {
        if (family == current)
            return;
        if (finished.count(family))
            error(n, "family '" + family + "' is split", line);
        if (!current.empty())
            finished.insert(current);
        current = family;
    };
    // Histograms: per series (labels without le), the last bucket's bound and count.
    struct bucket_state {
        double le = -HUGE_VAL;
        double count = 0;
        std::optional<double> inf;
    };
    std::map<std::string, bucket_state> buckets;
    std::map<std::string, double> counts; // histogram series -> _count
    std::set<std::string> series;

    std::size_t n = 0;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos)
            end = text.size();
        const auto line = text.substr(start, end - start);
        start = end + 1;
        ++n;
        if (line.empty())
            continue;
        if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
            const auto rest = line.substr(7);
            const auto space = rest.find(' ');
            const std::string name(rest.substr(0, space));
            if (!detail::prometheus_name(name, true) || space == std::string_view::npos) {
                error(n, "bad metadata line", line);
                continue;
            }
            enter(n, name, line);
            if (line[2] == 'H') {
                if (!helped.insert(name).second)
                    error(n, "second HELP", line);
                continue;
            }
            const std::string type(rest.substr(space + 1));
            if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
                type != "untyped")
                error(n, "unknown type", line);
            if (out.types.count(name))
                error(n, "second TYPE", line);
            out.types[name] = type;
            continue;
        }
        if (line.starts_with("#"))
            continue;

        prometheus_sample s;
        std::string why;
        if (!detail::parse_prometheus_sample(line, s, why)) {
            error(n, why, line);
            continue;
        }
        std::string family = s.name;
        std::string suffix;
        if (!out.types.count(family)) {
            for (std::string_view sfx : {"_bucket", "_sum", "_count"}) {
                if (s.name.size() > sfx.size() && s.name.ends_with(sfx)) {
                    family = s.name.substr(0, s.name.size() - sfx.size());
                    suffix = std::string(sfx);
                    break;
                }
            }
        }
        auto type = out.types.find(family);
        if (type == out.types.end()) {
            error(n, "sample without a TYPE", line);
            continue;
        }
        enter(n, family, line);
        if (!series.insert(detail::prometheus_series_key(s, false)).second)
            error(n, "duplicate series", line);
        if (type->second == "counter" && !(s.value >= 0))
            error(n, "negative or NaN counter", line);
        if (type->second == "histogram") {
            auto key = detail::prometheus_series_key(s, true);
            key = family + key.substr(s.name.size()); // the same for _bucket, _sum and _count
            if (suffix == "_bucket") {
                auto le = s.labels.count("le") ? detail::prometheus_value(s.labels.at("le"))
                                               : std::nullopt;
                auto& b = buckets[key];
                if (!le)
                    error(n, "bucket without a valid le", line);
                else if (*le <= b.le)
                    error(n, "bucket bounds not increasing", line);
                else if (s.value < b.count)
                    error(n, "bucket counts not cumulative", line);
                else {
                    b.le = *le;
                    b.count = s.value;
                    if (std::isinf(*le))
                        b.inf = s.value;
                }
            } else if (suffix == "_count") {
                counts[key] = s.value;
            } else if (suffix != "_sum") {
                error(n, "histogram sample without _bucket, _sum or _count", line);
            }
        }
        out.samples.push_back(std::move(s));
    }
    for (const auto& [key, b] : buckets) {
        if (!b.inf)
            out.errors.push_back("histogram series without a +Inf bucket");
        else if (!counts.count(key) || counts.at(key) != *b.inf)
            out.errors.push_back("histogram +Inf bucket differs from its _count");
    }
    return out;
}

} // namespace sqlite_hybrid::test
