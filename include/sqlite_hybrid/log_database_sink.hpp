// SPDX-License-Identifier: BSL-1.0
// An spdlog sink into a log database, next to a logger's other sinks:
//
//   auto sink = std::make_shared<sh::log_database_sink_mt>(logs.writer());
//   auto app = std::make_shared<spdlog::logger>("app", spdlog::sinks_init_list{console, sink});
//
// Level, logger name, time, thread and source location (SPDLOG_LOGGER_* macros) go to their
// own columns, so by default the message column holds the payload alone (pattern "%v"). A
// pattern set on the sink or the logger formats the message column instead, without the
// trailing newline. flush() asks the log database to write now and does not wait.
//
// This header uses spdlog: link spdlog::spdlog next to sqlite_hybrid::sqlite_hybrid.
#pragma once

#include <sqlite_hybrid/log_writer.hpp>

#include <spdlog/details/log_msg.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/sink.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace sqlite_hybrid {

// Not a spdlog::sinks::base_sink, whose mutex would serialise every record: log() is safe from
// any thread, so the mutex only guards the formatter, which the default pattern never uses.
template <class Mutex> class log_database_sink final : public spdlog::sinks::sink {
public:
    explicit log_database_sink(log_writer writer) : writer_(std::move(writer)) {}

    void log(const spdlog::details::log_msg& msg) override {
        log_entry entry;
        entry.time = std::chrono::time_point_cast<std::chrono::microseconds>(msg.time);
        entry.level = static_cast<log_level>(
            std::clamp(static_cast<int>(msg.level), 0, static_cast<int>(log_level::critical)));
        entry.logger.assign(msg.logger_name.data(), msg.logger_name.size());
        entry.thread = msg.thread_id;
        if (raw_payload_.load(std::memory_order_acquire)) {
            entry.message.assign(msg.payload.data(), msg.payload.size());
        } else {
            spdlog::memory_buf_t formatted;
            {
                std::lock_guard<Mutex> lock(mutex_);
                formatter_->format(msg, formatted);
            }
            std::string_view text(formatted.data(), formatted.size());
            while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
                text.remove_suffix(1);
            entry.message.assign(text);
        }
        if (!msg.source.empty()) {
            entry.source.append(msg.source.filename)
                .append(":")
                .append(std::to_string(msg.source.line));
            if (msg.source.funcname && *msg.source.funcname)
                entry.source.append(" ").append(msg.source.funcname);
        }
        writer_.log(std::move(entry));
    }

    void flush() override { writer_.request_flush(); }

    void set_pattern(const std::string& pattern) override {
        std::lock_guard<Mutex> lock(mutex_);
        formatter_ = std::make_unique<spdlog::pattern_formatter>(
            pattern, spdlog::pattern_time_type::local, std::string());
        raw_payload_.store(pattern == "%v", std::memory_order_release);
    }

    void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
        std::lock_guard<Mutex> lock(mutex_);
        formatter_ = std::move(formatter);
        raw_payload_.store(false, std::memory_order_release);
    }

private:
    log_writer writer_;
    Mutex mutex_; // spdlog's formatters are not thread-safe
    std::unique_ptr<spdlog::formatter> formatter_ = std::make_unique<spdlog::pattern_formatter>(
        "%v", spdlog::pattern_time_type::local, std::string());
    std::atomic<bool> raw_payload_{true}; // the pattern is "%v": the payload needs no formatting
};

using log_database_sink_mt = log_database_sink<std::mutex>;
using log_database_sink_st = log_database_sink<spdlog::details::null_mutex>;

} // namespace sqlite_hybrid
