// SPDX-License-Identifier: BSL-1.0
// The library's metrics in the Prometheus text exposition format (version 0.0.4), for a
// server's /metrics endpoint:
//
//   std::string body;
//   sh::prometheus_options o;
//   o.labels = {{"worker", "1"}};
//   sh::append_prometheus(body, db.metrics(), o);
//   sh::append_prometheus(body, sh::global_lock_metrics().snapshot(), o);
//   sh::append_prometheus(body, buffer.metrics(), o);
//   sh::append_prometheus(body, logs.metrics(), o);
//   // Content-Type: sh::prometheus_content_type
//
// Each call appends whole metric families (# HELP, # TYPE, samples) named `<prefix>_...`.
// A family may appear only once in a response: render each kind of snapshot once per prefix.
// Times are in seconds. docs/server.md lists the names.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sqlite_hybrid {

struct metrics_snapshot;
struct lock_metrics_snapshot;
struct write_buffer_metrics;
struct log_database_metrics;

struct prometheus_options {
    // Metric names start with `prefix` and "_" ("" for no prefix); [a-zA-Z_:][a-zA-Z0-9_:]*.
    std::string prefix = "sqlite_hybrid";
    // Added to every sample, before the metric's own labels (e.g. {"worker", "1"} when several
    // processes serve the same metrics). Names: [a-zA-Z_][a-zA-Z0-9_]*; values are escaped.
    std::vector<std::pair<std::string, std::string>> labels;
};

inline constexpr std::string_view prometheus_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

// Append the families of one snapshot to `out`. Throw std::invalid_argument when the prefix or
// a label name is not a valid Prometheus name.
void append_prometheus(std::string& out, const metrics_snapshot& m,
                       const prometheus_options& options = {});
void append_prometheus(std::string& out, const lock_metrics_snapshot& m,
                       const prometheus_options& options = {});
void append_prometheus(std::string& out, const write_buffer_metrics& m,
                       const prometheus_options& options = {});
void append_prometheus(std::string& out, const log_database_metrics& m,
                       const prometheus_options& options = {});

} // namespace sqlite_hybrid
