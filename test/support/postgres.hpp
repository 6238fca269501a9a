// SPDX-License-Identifier: BSL-1.0
// The PostgreSQL server the tests use: SQLITE_HYBRID_TEST_POSTGRES holds its URL
// (scripts/test.sh starts a throwaway cluster and sets it). Without it PostgreSQL tests are
// skipped, unless SQLITE_HYBRID_REQUIRE_POSTGRES=1 says they must run (CI), then they fail.
// Each test works in a schema of its own, dropped at its end.
#pragma once

#include <sqlite_hybrid/connection.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace sqlite_hybrid::test {

inline std::optional<std::string> postgres_url() {
    if (const char* url = std::getenv("SQLITE_HYBRID_TEST_POSTGRES"); url && *url)
        return std::string(url);
    return std::nullopt;
}

inline bool postgres_required() {
    const char* required = std::getenv("SQLITE_HYBRID_REQUIRE_POSTGRES");
    return required && std::string(required) == "1";
}

// Runs SQL on a connection of its own (for setting up and inspecting, outside any pool).
inline void postgres_admin(const std::string& url, const std::string& sql) {
    auto c = connection::open(url, open_mode::read_write, {});
    if (!c)
        throw std::runtime_error("cannot connect to " + url + ": " + c.error().message());
    if (auto r = c.value().execute_script(sql); !r)
        throw std::runtime_error(sql + ": " + c.value().last_diagnostics().message);
}

class postgres_schema {
public:
    explicit postgres_schema(std::string url) : url_(std::move(url)) {
        static std::atomic<int> next{0};
        name_ = "test_" + std::to_string(::getpid()) + "_" + std::to_string(next++);
        postgres_admin(url_, "DROP SCHEMA IF EXISTS " + name_ + " CASCADE; CREATE SCHEMA " + name_);
    }
    postgres_schema(const postgres_schema&) = delete;
    postgres_schema& operator=(const postgres_schema&) = delete;
    ~postgres_schema() {
        try {
            postgres_admin(url_, "DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
        } catch (...) {
        }
    }
    const std::string& name() const noexcept { return name_; }
    const std::string& url() const noexcept { return url_; }
    // Put in postgres_options::session_sql: every connection works in this schema.
    std::string session_sql() const { return "SET search_path = " + name_; }

private:
    std::string url_;
    std::string name_;
};

} // namespace sqlite_hybrid::test

// Skips the test when no server is configured (fails instead when one is required).
#define SQLITE_HYBRID_NEED_POSTGRES(url)                                                       \
    auto url##_or = ::sqlite_hybrid::test::postgres_url();                                     \
    if (!url##_or) {                                                                           \
        if (::sqlite_hybrid::test::postgres_required())                                        \
            FAIL() << "SQLITE_HYBRID_TEST_POSTGRES is not set but PostgreSQL is required";     \
        GTEST_SKIP() << "SQLITE_HYBRID_TEST_POSTGRES is not set";                              \
    }                                                                                          \
    const std::string url = *url##_or
