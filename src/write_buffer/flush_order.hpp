// SPDX-License-Identifier: BSL-1.0
// The order a flush writes tables in, so that enforced foreign keys hold after every statement:
// a referenced table's upserts and updates before those of the tables that reference it, and
// deletes the other way round, after every upsert and update. Tables that foreign keys leave
// unordered keep the order of their priority, then of their name.
#pragma once

#include "pending_store.hpp"
#include "table_schema.hpp"

#include <vector>

namespace sqlite_hybrid::detail::wb {

// Reorders the tables a flush took; a table with references and deletes among other rows is
// split in two (its deletes go in the second half of the order).
std::vector<flushing_table> in_foreign_key_order(std::vector<flushing_table> tables,
                                                 const schema& s);

// Whether a table's coalesced delete-then-upsert must be written as a replacement in place
// (an upsert of the whole row) rather than as a delete and an insert: the delete would fail
// (or wait for a deferred check) while rows still reference the old row.
bool replaces_in_place(const schema& s, const table_info& t);

} // namespace sqlite_hybrid::detail::wb
