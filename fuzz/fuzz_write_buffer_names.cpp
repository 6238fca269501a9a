// SPDX-License-Identifier: BSL-1.0
// The write buffer's identifier checks: table, column and key names come from the input. A
// write the buffer accepts must name a real table, real columns and a unique key (SQLite's
// names fold ASCII case only), and flushing what it accepted must never fail: names that are
// not in the schema never reach SQL, and the ones that do are quoted.
#include "fuzz_check.hpp"
#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/write_buffer.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;

namespace {

std::string fold(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// The schema below, as the buffer should see it (names folded).
struct table_model {
    std::set<std::string> columns;
    std::vector<std::set<std::string>> keys;
};
const std::map<std::string, table_model> schema_model = {
    {"items", {{"id", "name", "odd \"name\"", "code"}, {{"id"}, {"code"}}}},
    {"select", {{"k", "x y", "é"}, {{"k"}}}},
};

// Runs the io_context until `f` is ready (restarting it when it ran out of work meanwhile).
template <class T> T wait(asio::io_context& io, std::future<T>& f) {
    while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
        if (io.run_one_for(std::chrono::milliseconds(10)) == 0 && io.stopped())
            io.restart();
    return f.get();
}

struct fixture {
    asio::io_context io;
    sh::database db;
    std::optional<sh::write_buffer> buffer;
    std::size_t accepted = 0;

    fixture() {
        sh::database_options o;
        o.log = sh::null_logger();
        o.migrations = {R"(CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT,
                                              "Odd ""Name""" INTEGER, code TEXT UNIQUE);
                           CREATE TABLE "select"(k INTEGER NOT NULL PRIMARY KEY, "x y" TEXT,
                                                 "é" TEXT);)"};
        auto opened = sh::database::async_open(io.get_executor(), ":memory:", o, asio::use_future);
        db = wait(io, opened);
        sh::write_buffer_options bo;
        bo.flush_interval = std::chrono::hours(1);
        bo.log = sh::null_logger();
        buffer.emplace(db, bo);
        auto started = buffer->async_start(asio::use_future);
        wait(io, started);
    }

    void flush() {
        std::promise<sh::error_code> result;
        auto flushed = result.get_future();
        buffer->async_force_flush([&](sh::error_code ec, std::size_t) { result.set_value(ec); });
        const auto ec = wait(io, flushed);
        // Rows the database refuses are dead letters, and the flush says so.
        check(!ec || (ec == sh::errc::rows_dead_lettered && buffer->metrics().dead_letters > 0),
              "a flush of accepted writes failed: " + ec.message());
        check(buffer->metrics().pending == 0, "rows still pending after a flush");
    }
};

// Lines of the input: the table, the key column, then up to four other columns.
std::vector<std::string> split(std::string_view text) {
    std::vector<std::string> out;
    while (out.size() < 6) {
        const auto nl = text.find('\n');
        out.emplace_back(text.substr(0, nl));
        if (nl == std::string_view::npos)
            break;
        text.remove_prefix(nl + 1);
    }
    return out;
}

// Names as C++ string literals would show them, for the failure message.
std::string shown(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7F || c == '"' || c == '\\') {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02X", u);
            out += hex;
        } else {
            out += c;
        }
    }
    return out + "\"";
}
std::string shown_all(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names)
        out += (out.empty() ? "" : ", ") + shown(n);
    return out;
}

bool names_valid(const std::string& table, const std::vector<std::string>& columns,
                 const std::string* key) {
    auto t = schema_model.find(fold(table));
    if (t == schema_model.end())
        return false;
    for (const auto& c : columns)
        if (!t->second.columns.count(fold(c)))
            return false;
    if (!key)
        return true;
    for (const auto& k : t->second.keys)
        if (k == std::set<std::string>{fold(*key)})
            return true;
    return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static fixture f;
    if (size < 2)
        return 0;
    const int op = data[0] % 3;
    const auto key_value = static_cast<std::int64_t>(data[1] % 8);
    const auto lines = split({reinterpret_cast<const char*>(data + 2), size - 2});
    if (lines.size() < 2)
        return 0;
    const auto& table = lines[0];
    const auto& key = lines[1];
    std::vector<std::string> others(lines.begin() + 2, lines.end());

    sh::row key_row{{key, key_value}};
    sh::row changes;
    for (const auto& c : others)
        changes.push_back({c, "v"});
    sh::error_code ec;
    std::vector<std::string> named{key}; // the names the write uses
    if (op != 2)
        named.insert(named.end(), others.begin(), others.end());
    switch (op) {
    case 0: {
        sh::row r = key_row;
        r.insert(r.end(), changes.begin(), changes.end());
        ec = f.buffer->buffer_upsert(table, r, {key});
        break;
    }
    case 1:
        ec = f.buffer->buffer_update(table, key_row, changes);
        break;
    default:
        ec = f.buffer->buffer_delete(table, key_row);
        break;
    }
    if (!ec) {
        check(names_valid(table, named, &key),
              "op " + std::to_string(op) + " with unknown names was accepted: " + shown(table) +
                  " " + shown_all(named));
        if (++f.accepted % 64 == 0)
            f.flush();
    } else {
        check(ec == sh::errc::invalid_identifier || ec == sh::errc::invalid_key ||
                  ec == sh::errc::buffer_full,
              "unexpected error: " + ec.message());
    }
    return 0;
}
