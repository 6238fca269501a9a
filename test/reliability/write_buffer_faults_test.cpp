// SPDX-License-Identifier: BSL-1.0
// I/O faults while the write buffer flushes: a flush of several chunks (several transactions)
// has its Nth I/O fail. Every row is then either written or still pending in the buffer, each
// row holds its old or its new state (never a mix), and once the faults stop the buffer writes
// everything it held. Stopping under faults reports every row it could not write.
#include "reliability/fault_points.hpp"
#include "support/run.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/write_buffer.hpp>

#include <boost/asio/as_tuple.hpp>

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <tuple>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using namespace sh::test;

namespace {

// kv: k -> (v, n); tags: name -> hits. What a table holds, or should.
struct table_state {
    std::map<std::int64_t, std::tuple<std::string, std::optional<std::int64_t>>> kv;
    std::map<std::string, std::int64_t> tags;
    friend bool operator==(const table_state&, const table_state&) = default;
};

sh::database_options schema() {
    sh::database_options o;
    o.readers = 1;
    o.log = sh::null_logger();
    o.migrations = {"CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT NOT NULL, n INTEGER);"
                    "CREATE TABLE tags(name TEXT PRIMARY KEY, hits INTEGER NOT NULL);"};
    return o;
}

sh::write_buffer_options buffer_options() {
    sh::write_buffer_options o;
    o.flush_interval = std::chrono::hours(1); // only the test's flushes
    o.batch_size = 32;                        // a flush is five transactions
    o.priorities = {{"tags", 1}};
    o.retry.base_delay = std::chrono::milliseconds(1);
    o.retry.max_delay = std::chrono::milliseconds(4);
    o.retry.max_retries = 2;
    o.retry.jitter = false;
    o.log = sh::null_logger();
    return o;
}

constexpr int seeded = 20;
constexpr std::int64_t last_key = 110; // upserts 10..last_key-1: a few pages per chunk

std::string new_text(std::int64_t k) {
    return "new " + std::string(100, 'x') + std::to_string(k);
}

table_state before_flush() {
    table_state s;
    for (int k = 0; k < seeded; ++k)
        s.kv[k] = {"old", 0};
    return s;
}

// Buffers 120 writes (upserts, updates, deletes on two tables) and returns what they leave.
table_state buffer_writes(sh::write_buffer& buffer) {
    table_state s = before_flush();
    for (std::int64_t k = 10; k < last_key; ++k) {
        EXPECT_FALSE(buffer.buffer_upsert("kv", {{"k", k}, {"v", new_text(k)}, {"n", k}}, {"k"}));
        s.kv[k] = {new_text(k), k};
    }
    for (std::int64_t k = 0; k < 5; ++k) {
        EXPECT_FALSE(buffer.buffer_update("kv", {{"k", k}}, {{"n", 100 + k}}));
        std::get<1>(s.kv[k]) = 100 + k;
    }
    for (std::int64_t k = 5; k < 10; ++k) {
        EXPECT_FALSE(buffer.buffer_delete("kv", {{"k", k}}));
        s.kv.erase(k);
    }
    for (std::int64_t i = 0; i < 10; ++i) {
        const auto name = "t" + std::to_string(i);
        EXPECT_FALSE(buffer.buffer_upsert("tags", {{"name", name}, {"hits", i}}, {"name"}));
        s.tags[name] = i;
    }
    return s;
}

table_state read_state(sh::connection& c) {
    table_state s;
    // Held in variables: a range-for over a temporary's value() would dangle.
    const auto kv = c.query<std::tuple<std::int64_t, std::string, std::optional<std::int64_t>>>(
                         "SELECT k, v, n FROM kv")
                        .value();
    for (const auto& [k, v, n] : kv)
        s.kv[k] = {v, n};
    const auto tags =
        c.query<std::tuple<std::string, std::int64_t>>("SELECT name, hits FROM tags").value();
    for (const auto& [name, hits] : tags)
        s.tags[name] = hits;
    return s;
}

table_state read_state(asio::io_context& io, sh::database& db) {
    return run(io, db.async_read([](sh::connection& c) { return read_state(c); }));
}

// The rows (by key) that do not hold their final state yet.
std::set<std::string> unfinished(const table_state& now, const table_state& expected) {
    std::set<std::string> out;
    auto kv_at = [](const table_state& s, std::int64_t k) {
        auto it = s.kv.find(k);
        return it == s.kv.end() ? std::nullopt : std::optional(it->second);
    };
    const table_state before = before_flush();
    for (std::int64_t k = 0; k < last_key; ++k) {
        const auto got = kv_at(now, k);
        if (got == kv_at(expected, k))
            continue;
        EXPECT_EQ(got, kv_at(before, k)) << "kv row " << k << " holds neither state";
        out.insert("kv:" + std::to_string(k));
    }
    for (const auto& [name, hits] : expected.tags) {
        auto it = now.tags.find(name);
        if (it == now.tags.end())
            out.insert("tags:" + name);
        else
            EXPECT_EQ(it->second, hits) << "tags row " << name;
    }
    return out;
}

// The key a dead letter names, in the form unfinished() uses.
std::string key_of(const sh::dead_letter& d) {
    for (const auto& f : d.values) {
        if (d.table == "kv" && f.column == "k")
            return "kv:" + std::to_string(f.v.as_int64());
        if (d.table == "tags" && f.column == "name")
            return "tags:" + f.v.as_text();
    }
    return d.table + ":?";
}

// A database with the seeded rows, opened through the fault VFS, and a started buffer holding
// the writes.
struct buffered_writes {
    asio::io_context io;
    sh::database db;
    std::optional<sh::write_buffer> buffer;
    table_state expected;

    explicit buffered_writes(const std::string& path)
        : db(open_database(io, fault_vfs::uri(path), schema())) {
        run(io, db.async_write([](sh::connection& c) -> sh::result<void> {
            for (int k = 0; k < seeded; ++k)
                if (auto r = c.execute("INSERT INTO kv(k, v, n) VALUES(?, 'old', 0)", k); !r)
                    return r.error();
            return sh::outcome::success();
        }));
        buffer.emplace(db, buffer_options());
        run(io, buffer->async_start());
        expected = buffer_writes(*buffer);
    }
};

class WriteBufferFaults : public ::testing::TestWithParam<fault_mode> {};

TEST_P(WriteBufferFaults, AFailedFlushKeepsEveryRowItDidNotWrite) {
    run_fault_points("write buffer flush", GetParam(), [&](const fault_point& point) {
        buffered_writes w(point.path);
        auto& io = w.io;
        const auto [flushed, hit] = with_faults(
            point.plan, [&] { return run(io, w.buffer->async_force_flush(sh::as_result)); });
        const auto pending = w.buffer->metrics().pending;
        const auto left = unfinished(read_state(io, w.db), w.expected);
        if (flushed) {
            EXPECT_EQ(pending, 0u);
            EXPECT_TRUE(left.empty()) << left.size() << " rows not written after a good flush";
        } else {
            point.errors.add(flushed.error());
            EXPECT_TRUE(is_clear_io_error(flushed.error()));
            EXPECT_GT(pending, 0u);
            // Coalesced rows are one pending row each: every unwritten row is still held.
            EXPECT_LE(left.size(), pending);
        }

        // Faults gone: the next flush writes everything that was kept.
        auto again = run(io, w.buffer->async_force_flush(sh::as_result));
        EXPECT_TRUE(again) << again.error().message();
        EXPECT_EQ(w.buffer->metrics().pending, 0u);
        EXPECT_TRUE(unfinished(read_state(io, w.db), w.expected).empty());
        auto report = run(io, w.buffer->async_stop());
        EXPECT_TRUE(report.unwritten.empty());
        run(io, w.db.async_close());

        auto c = open_plain(point.path);
        EXPECT_EQ(c.query_one<std::string>("PRAGMA integrity_check").value(), "ok");
        EXPECT_TRUE(read_state(c) == w.expected);
        return hit;
    });
}

TEST_P(WriteBufferFaults, StoppingUnderFaultsReportsEveryRowItCouldNotWrite) {
    const auto& mode = GetParam();
    std::size_t reported_unwritten = 0;
    run_fault_points("write buffer stop", mode, [&](const fault_point& point) {
        buffered_writes w(point.path);
        auto& io = w.io;
        const auto [stopped, hit] = with_faults(point.plan, [&] {
            return run(io, w.buffer->async_stop(asio::as_tuple(asio::use_awaitable)));
        });
        const auto& [ec, report] = stopped;
        const auto left = unfinished(read_state(io, w.db), w.expected);
        std::set<std::string> reported;
        for (const auto& d : report.unwritten) {
            reported.insert(key_of(d));
            EXPECT_TRUE(is_clear_io_error(d.error)) << d.error.message();
        }
        reported_unwritten += reported.size();
        EXPECT_EQ(!ec, report.unwritten.empty()) << ec.message();
        if (ec) {
            point.errors.add(ec);
            EXPECT_TRUE(is_clear_io_error(ec));
        }
        if (!mode.persistent) {
            // One failed attempt: the retries of the stop write everything.
            EXPECT_FALSE(ec) << ec.message();
        }
        for (const auto& key : left)
            EXPECT_TRUE(reported.count(key)) << key << " is neither written nor reported";
        EXPECT_EQ(w.buffer->metrics().pending, 0u);
        run(io, w.db.async_close());

        auto c = open_plain(point.path);
        EXPECT_EQ(c.query_one<std::string>("PRAGMA integrity_check").value(), "ok");
        EXPECT_EQ(unfinished(read_state(c), w.expected), left);
        return hit;
    });
    RecordProperty("rows_reported_unwritten", std::to_string(reported_unwritten));
}

INSTANTIATE_TEST_SUITE_P(Reliability, WriteBufferFaults,
                         ::testing::Values(transient_io, persistent_io, disk_full),
                         fault_mode_name);

} // namespace
