// SPDX-License-Identifier: BSL-1.0
// Binding and reading values: arbitrary integers, doubles, text (NUL bytes and invalid UTF-8
// included) and blobs, bound to a statement and read back, as dynamic values and as typed
// columns. What goes in must come out (NaN excepted: SQLite binds it as NULL), and reading a
// column as the wrong type must fail with an error, never crash.
#include "fuzz_check.hpp"
#include <sqlite_hybrid/connection.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace sh = sqlite_hybrid;

namespace {

class reader {
public:
    reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    bool empty() const { return at_ == size_; }
    std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
    template <class T> T scalar() {
        T out{};
        std::uint8_t raw[sizeof(T)] = {};
        for (auto& b : raw)
            b = byte();
        std::memcpy(&out, raw, sizeof(T));
        return out;
    }
    std::string bytes(std::size_t n) {
        n = std::min(n, size_ - at_);
        std::string out(reinterpret_cast<const char*>(data_ + at_), n);
        at_ += n;
        return out;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t at_ = 0;
};

sh::value next_value(reader& in) {
    switch (in.byte() % 5) {
    case 0:
        return sh::null;
    case 1:
        return in.scalar<std::int64_t>();
    case 2:
        return in.scalar<double>();
    case 3:
        return in.bytes(in.byte());
    default: {
        const auto bytes = in.bytes(in.byte());
        sh::blob b;
        for (const char c : bytes)
            b.push_back(static_cast<std::byte>(c));
        return b;
    }
    }
}

// What SQLite gives back for a bound value.
sh::value expected(const sh::value& v) {
    if (v.type() == sh::value_type::real && v.as_double() != v.as_double())
        return sh::null; // NaN
    return v;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static auto conn =
        sh::connection::open(":memory:", sh::open_mode::read_write_create, {}).value();
    reader in(data, size);
    std::vector<sh::value> values;
    while (!in.empty() && values.size() < 16)
        values.push_back(next_value(in));
    for (const auto& v : values) {
        const auto want = expected(v);
        const auto type = want.type();
        auto stmt = conn.prepare("SELECT ?");
        check(stmt.has_value());
        auto& s = stmt.value();
        check(s.bind(1, v).has_value());
        check(s.step().value());
        auto got = s.row<sh::value>();
        check(got.has_value() && got.value() == want);
        // Typed reads: the matching types succeed, the others fail with an error.
        check(s.row<std::int64_t>().has_value() == (type == sh::value_type::integer));
        check(s.row<double>().has_value() ==
              (type == sh::value_type::integer || type == sh::value_type::real));
        auto text = s.row<std::optional<std::string>>();
        check(text.has_value() == (type == sh::value_type::text || type == sh::value_type::null));
        if (type == sh::value_type::text)
            check(text.value() == want.as_text());
        check(s.row<sh::blob>().has_value() ==
              (type == sh::value_type::text || type == sh::value_type::blob));
    }
    if (values.empty())
        return 0;
    // Several values at once; exactly the statement's parameters, or nothing is bound.
    std::string sql = "SELECT ";
    for (std::size_t i = 0; i < values.size(); ++i)
        sql += (i ? ", ?" : "?") + std::to_string(i + 1);
    auto stmt = conn.prepare(sql);
    check(stmt.has_value());
    check(!stmt.value().bind_all({values.data(), values.size() - 1}).has_value());
    check(stmt.value().bind_all(values).has_value());
    check(stmt.value().step().value());
    return 0;
}
