// SPDX-License-Identifier: BSL-1.0
// What the fuzz targets (fuzz/) found, kept as tests: the write buffer's check of the names a
// write gives, and the text forms of log times.
#include "support/run.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/log_entry.hpp>
#include <sqlite_hybrid/log_filter.hpp>
#include <sqlite_hybrid/write_buffer.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <tuple>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using namespace sh::test;

namespace {

// The write buffer caches checked plans by the names a write gives. When that key joined names
// with '\0' separators, the single column name "name\0code" had the key of the two columns
// "name", "code": after a write with those two, the one odd name was accepted, counted as
// flushed, and left the row unchanged.
TEST(WriteBufferNames, ANameWithANulByteIsRefusedAfterASimilarWrite) {
    asio::io_context io;
    sh::database_options o;
    o.log = sh::null_logger();
    o.migrations = {"CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, code TEXT UNIQUE);"
                    "INSERT INTO items(id, name) VALUES(1, 'before');"};
    auto db = open_database(io, ":memory:", o);
    sh::write_buffer_options bo;
    bo.log = sh::null_logger();
    sh::write_buffer buffer(db, bo);
    run(io, buffer.async_start());

    const std::string nul_name("name\0code", 9);
    EXPECT_EQ(buffer.buffer_update("items", {{"id", 1}}, {{nul_name, "after"}}),
              sh::errc::invalid_identifier); // holds on a fresh buffer
    EXPECT_FALSE(buffer.buffer_update("items", {{"id", 2}}, {{"name", "n"}, {"code", "c"}}));
    EXPECT_EQ(buffer.buffer_update("items", {{"id", 1}}, {{nul_name, "after"}}),
              sh::errc::invalid_identifier); // after a similar write too

    run(io, buffer.async_stop());
    auto rows = run(io, db.async_query<std::string>("SELECT name FROM items WHERE id = 1"));
    EXPECT_EQ(rows, std::vector<std::string>{"before"});
}

// Found by fuzz/fuzz_log_text: a relative time far enough back ("202424w" is about 3,900 years)
// gave a time before year 0, which printed as "-1856-05-05T..." and did not parse back. Such
// times are clamped to 0000-01-01.
TEST(LogText, EveryParsedTimePrintsAsATimeThatParsesBack) {
    const auto now = sh::log_time(std::chrono::microseconds(1'700'000'000'000'000));
    for (const char* text : {"10m", "2800w", "202424w"}) {
        const auto t = sh::parse_log_time(text, now);
        ASSERT_TRUE(t) << text;
        const auto printed = sh::format_log_time(*t);
        EXPECT_EQ(sh::parse_log_time(printed, now), t) << text << " printed as " << printed;
    }
    EXPECT_EQ(sh::parse_log_time("202424w", now), sh::parse_log_time("0000-01-01", now));
    EXPECT_LT(sh::parse_log_time("2800w", now), sh::parse_log_time("1980-01-01", now));
}

} // namespace
