// SPDX-License-Identifier: BSL-1.0
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <sqlite_hybrid/lock_metrics.hpp>
#include <sqlite_hybrid/log_database_metrics.hpp>
#include <sqlite_hybrid/log_entry.hpp>
#include <sqlite_hybrid/metrics.hpp>
#include <sqlite_hybrid/prometheus.hpp>
#include <sqlite_hybrid/write_buffer.hpp>
#include <stdexcept>

namespace sqlite_hybrid {
namespace {

bool valid_name(std::string_view name, bool colon_allowed) {
    if (name.empty())
        return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                        (colon_allowed && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

void append_escaped(std::string& out, std::string_view text, bool quotes) {
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (quotes && c == '"')
            out += "\\\"";
        else
            out += c;
    }
}

std::string label(std::string_view name, std::string_view value) {
    std::string out(name);
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
    return out;
}

double seconds(std::chrono::microseconds us) {
    return static_cast<double>(us.count()) / 1e6;
}

// Appends families to one response: `<prefix>_<name>`, the caller's labels on every sample.
class exposition {
public:
    exposition(std::string& out, const prometheus_options& options) : out_(out) {
        if (!options.prefix.empty()) {
            if (!valid_name(options.prefix, true))
                throw std::invalid_argument("invalid Prometheus metric prefix '" + options.prefix +
                                            "'");
            prefix_ = options.prefix + "_";
        }
        for (const auto& [name, value] : options.labels) {
            if (!valid_name(name, false) || name.starts_with("__"))
                throw std::invalid_argument("invalid Prometheus label name '" + name + "'");
            if (!labels_.empty())
                labels_ += ',';
            labels_ += label(name, value);
        }
    }

    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_ += "# HELP ";
        out_ += prefix_;
        out_ += name;
        out_ += ' ';
        append_escaped(out_, help, false);
        out_ += "\n# TYPE ";
        out_ += prefix_;
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }

    // `own` is the metric's own labels, already rendered (e.g. kind="read"), or "".
    template <class Number> void sample(std::string_view name, std::string_view own, Number value) {
        out_ += prefix_;
        out_ += name;
        if (!labels_.empty() || !own.empty()) {
            out_ += '{';
            out_ += labels_;
            if (!labels_.empty() && !own.empty())
                out_ += ',';
            out_ += own;
            out_ += '}';
        }
        out_ += ' ';
        append_number(value);
        out_ += '\n';
    }

    template <class Number>
    void single(std::string_view name, std::string_view type, std::string_view help, Number value) {
        family(name, type, help);
        sample(name, "", value);
    }
    void counter(std::string_view name, std::string_view help, std::uint64_t value) {
        single(name, "counter", help, value);
    }
    void gauge(std::string_view name, std::string_view help, std::uint64_t value) {
        single(name, "gauge", help, value);
    }

private:
    void append_number(std::uint64_t v) { out_ += std::to_string(v); }
    void append_number(double v) {
        if (std::isnan(v)) {
            out_ += "NaN";
        } else if (std::isinf(v)) {
            out_ += v > 0 ? "+Inf" : "-Inf";
        } else {
            char buffer[64];
            auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
            out_.append(buffer, end);
        }
    }

    std::string& out_;
    std::string prefix_;
    std::string labels_;
};

} // namespace

void append_prometheus(std::string& out, const metrics_snapshot& m,
                       const prometheus_options& options) {
    exposition e(out, options);
    e.family("db_operations_total", "counter",
             "Operations completed by the database, by kind (failed ones included).");
    e.sample("db_operations_total", R"(kind="read")", m.reads);
    e.sample("db_operations_total", R"(kind="write")", m.writes);
    e.sample("db_operations_total", R"(kind="maintenance")", m.maintenance);
    e.counter("db_cancelled_total", "Operations cancelled by their caller.", m.cancelled);
    e.counter("db_errors_total", "Operations that failed.", m.errors);
    e.family("db_errors_by_code_total", "counter",
             "Operations that failed, by SQLite extended result code (1000 + errc for the "
             "library's own errors).");
    for (const auto& [code, count] : m.errors_by_code)
        e.sample("db_errors_by_code_total", label("code", std::to_string(code)), count);
    if (!m.errors_by_sqlstate.empty()) {
        e.family("db_errors_by_sqlstate_total", "counter",
                 "Operations that failed on PostgreSQL, by SQLSTATE.");
        for (const auto& [state, count] : m.errors_by_sqlstate)
            e.sample("db_errors_by_sqlstate_total", label("sqlstate", state), count);
    }

    e.counter("db_groups_total", "Write transactions run by the writer (group commit).", m.groups);
    e.counter("db_grouped_jobs_total", "Write jobs carried by those transactions.", m.grouped_jobs);
    e.gauge("db_largest_group", "Jobs in the largest group transaction so far.", m.largest_group);
    e.counter("db_commit_failures_total", "Group transactions whose COMMIT failed.",
              m.commit_failures);
    e.counter("db_transactions_lost_total",
              "Group transactions rolled back by SQLite itself after an I/O error.",
              m.transactions_lost);
    e.counter("db_group_reruns_total",
              "Groups whose transaction was rolled back with other jobs' work in it.",
              m.group_reruns);
    e.counter("db_job_reruns_total",
              "Write job functions run again because their transaction was rolled back.",
              m.job_reruns);

    e.family("db_queue_depth", "gauge", "Jobs waiting for the writer or a reader.");
    e.sample("db_queue_depth", R"(queue="write")", m.write_queue_depth);
    e.sample("db_queue_depth", R"(queue="read")", m.read_queue_depth);
    e.family("db_max_queue_depth", "gauge", "Deepest queue seen.");
    e.sample("db_max_queue_depth", R"(queue="write")", m.max_write_queue_depth);
    e.sample("db_max_queue_depth", R"(queue="read")", m.max_read_queue_depth);

    e.counter("db_busy_waits_total", "Waits of the busy handler for another process's lock.",
              m.busy_waits);
    e.single("db_busy_wait_seconds_total", "counter",
             "Time the busy handler waited for another process's lock.", seconds(m.busy_wait_time));

    e.gauge("db_wal_pages", "Pages in the WAL after the last commit.", m.wal_pages);
    e.counter("db_checkpoints_total", "Checkpoints run.", m.checkpoints);
    e.counter("db_checkpoints_incomplete_total",
              "Checkpoints that could not copy every frame (readers or a lock in the way).",
              m.checkpoints_incomplete);
    e.counter("db_checkpoint_restarts_total", "RESTART checkpoints run by the writer.",
              m.checkpoint_restarts);
}

void append_prometheus(std::string& out, const lock_metrics_snapshot& m,
                       const prometheus_options& options) {
    exposition e(out, options);
    e.counter("lock_errors_total", "Attempts that failed with SQLITE_BUSY or SQLITE_LOCKED.",
              m.lock_errors);
    e.counter("lock_retries_total", "Attempts started again after a backoff.", m.retries);
    e.counter("lock_failures_total",
              "Operations given up after their retries or deadline (database_busy).", m.failures);

    e.family("lock_wait_seconds", "histogram",
             "Time operations that saw a lock error spent in backoff.");
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < wait_histogram::bounds.size(); ++i) {
        cumulative += m.waits.counts[i];
        std::string le = "le=\"";
        char buffer[32];
        const double bound = static_cast<double>(wait_histogram::bounds[i].count()) / 1e3;
        auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, bound);
        le.append(buffer, end).append("\"");
        e.sample("lock_wait_seconds_bucket", le, cumulative);
    }
    cumulative += m.waits.counts.back();
    e.sample("lock_wait_seconds_bucket", R"(le="+Inf")", cumulative);
    e.sample("lock_wait_seconds_sum", "", seconds(m.total_wait));
    e.sample("lock_wait_seconds_count", "", cumulative);
}

void append_prometheus(std::string& out, const write_buffer_metrics& m,
                       const prometheus_options& options) {
    exposition e(out, options);
    e.gauge("write_buffer_pending_rows",
            "Rows waiting in the write buffer, including those "
            "being flushed.",
            m.pending);
    e.counter("write_buffer_accepted_total", "Writes the buffer accepted.", m.accepted);
    e.counter("write_buffer_coalesced_total", "Accepted writes merged into a pending row.",
              m.coalesced);
    e.counter("write_buffer_flushed_rows_total", "Rows written by flushes.", m.flushed);
    e.counter("write_buffer_flushes_total", "Flush transactions committed.", m.flushes);
    e.counter("write_buffer_flush_failures_total",
              "Flush transactions that failed and kept their rows.", m.failures);
    e.counter("write_buffer_dead_letters_total", "Rows that could never be written.",
              m.dead_letters);
    e.single("write_buffer_last_flush_seconds", "gauge", "Duration of the last flush round.",
             seconds(m.last_flush_latency));
    e.single("write_buffer_max_flush_seconds", "gauge", "Longest flush round so far.",
             seconds(m.max_flush_latency));
}

void append_prometheus(std::string& out, const log_database_metrics& m,
                       const prometheus_options& options) {
    exposition e(out, options);
    e.counter("log_accepted_total", "Log entries taken into the buffer.", m.accepted);
    e.counter("log_written_total", "Log entries committed to the log file.", m.written);
    e.family("log_dropped_total", "counter",
             "Log entries dropped because the buffer was full, by level.");
    for (std::size_t i = 0; i < m.dropped_by_level.size(); ++i)
        e.sample("log_dropped_total", label("level", log_level_name(static_cast<log_level>(i))),
                 m.dropped_by_level[i]);
    e.counter("log_dropped_after_stop_total",
              "Log entries logged after a stop, or left unwritten by it.", m.dropped_after_stop);
    e.counter("log_suppressed_total", "The log database's own messages kept out of it.",
              m.suppressed);
    e.counter("log_batches_total", "Log write transactions committed.", m.batches);
    e.counter("log_failures_total", "Failed opens and writes of the log file.", m.failures);
    e.gauge("log_failing", "1 when the last attempt to write the log file failed.",
            m.failing ? 1 : 0);
    e.gauge("log_open", "1 when the log file is open.", m.open ? 1 : 0);
    e.counter("log_reopens_total",
              "Times the log file was found deleted or renamed and opened again.", m.reopens);
    e.counter("log_retention_deleted_total", "Log entries deleted by retention.",
              m.retention_deleted);
    e.counter("log_retention_chunks_total", "Retention delete transactions.", m.retention_chunks);
    e.counter("log_vacuumed_pages_total", "Pages released by incremental vacuum.",
              m.vacuumed_pages);
    e.gauge("log_buffered", "Log entries waiting to be written.", m.buffered);
    e.gauge("log_max_buffered", "Most log entries waiting at once so far.", m.max_buffered_seen);
}

} // namespace sqlite_hybrid
