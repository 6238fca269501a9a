// SPDX-License-Identifier: BSL-1.0
// Pending rows keep their values packed in one string (a tag byte, then 8 bytes for numbers or
// a 4-byte length and the bytes for text and blobs): one allocation per row instead of one per
// value, which is what keeps a pending row small.
#pragma once

#include <sqlite_hybrid/statement.hpp>
#include <sqlite_hybrid/value.hpp>

#include <sqlite3.h>

#include <string>
#include <string_view>
#include <vector>

namespace sqlite_hybrid::detail::wb {

// One packed value, pointing into the packed string.
struct packed_value {
    value_type type = value_type::null;
    std::int64_t integer = 0;
    double real = 0;
    std::string_view bytes;

    value to_value() const;
};

void pack(std::string& out, const value& v);

// Appends a name after its 4-byte length: a key made of several names then cannot collide with
// another list of names, whatever bytes (NUL included) the names hold.
void append_name(std::string& key, std::string_view name);
void pack(std::string& out, const packed_value& v);
std::vector<packed_value> unpack(std::string_view packed);

// An integer that sorts like the first packed value, as far as 8 bytes tell: rows written in
// this order are neighbours in the table's B-tree, so a chunk touches few pages.
std::uint64_t order_key(std::string_view packed);

// Binds the packed values to parameters first, first + 1, ...; text and blobs point into
// `packed`, which must outlive the statement's step. Returns the next free index, or -1 when
// the statement refused a binding.
int bind_packed(statement& stmt, int first, std::string_view packed);

} // namespace sqlite_hybrid::detail::wb
