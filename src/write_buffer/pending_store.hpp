// SPDX-License-Identifier: BSL-1.0
// The rows waiting in RAM, coalesced by (table, key): a later write to a pending row merges into
// it, so that flushing the merged row leaves the table as applying every write in order would.
//
//   pending \ new   upsert                     update                   delete
//   (none)          upsert                     update                   delete
//   upsert          upsert, columns merged     upsert, changes merged   delete
//   update          update, then the upsert*   update, changes merged   delete
//   delete          delete, then insert        delete (no row to update) delete
//
// * the update keeps only the columns the upsert does not set again.
//
// A table's rows are small fixed records in one vector; their key and value bytes live in one
// byte string per table, and an open-addressing index finds a row by its key. Accepting a write
// therefore allocates nothing once the vectors have grown, and a flush takes a whole table by
// moving three vectors.
#pragma once

#include "table_schema.hpp"

#include <sqlite_hybrid/write_buffer.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sqlite_hybrid::detail::wb {

// An interned list of canonical column names: rows with the same columns share one.
struct shape {
    std::uint32_t id = 0;
    std::vector<std::string> columns;
};

// Changes applied to the row before the row's own write (an update followed by an upsert).
struct prior_update {
    const shape* columns = nullptr;
    std::string values;
};

inline constexpr std::uint32_t no_prior = UINT32_MAX;

// One pending row, one cache line: finding a row by its key reads the index slot and this
// record. The key (the key shape's id, then the packed key values) is kept here when it is
// short (an integer key takes 13 bytes); the values, and a longer key before them, are at
// `offset` in the table's bytes.
struct alignas(64) pending_row {
    static constexpr std::size_t short_key_size = 24;

    std::size_t offset = 0;
    std::uint32_t key_size = 0;
    std::uint32_t values_size = 0;
    const shape* key = nullptr;
    const shape* columns = nullptr;      // of the values: the row (upsert) or the changes (update)
    std::uint32_t prior = no_prior;      // index in the table's priors
    write_kind kind : 8 = write_kind::upsert;
    bool replace = false;                // upsert after a delete: delete the row, then insert
    char short_key[short_key_size]{};

    bool key_is_short() const noexcept { return key_size <= short_key_size; }
    // Bytes of the key stored at `offset`.
    std::size_t long_key_size() const noexcept { return key_is_short() ? 0 : key_size; }
};
static_assert(sizeof(pending_row) == 64);

// Whether two rows are written by the same statements (conservatively).
inline bool same_statements(const pending_row& a, const pending_row& b) {
    return a.kind == b.kind && a.replace == b.replace &&
           (a.prior == no_prior) == (b.prior == no_prior) && a.columns == b.columns &&
           a.key == b.key;
}

// A pending row written out in full, for the rare merges that change its form, for putting rows
// back after a failed flush and for dead letters.
struct pending_entry {
    write_kind kind = write_kind::upsert;
    bool replace = false;
    const shape* key = nullptr;
    const shape* columns = nullptr;
    std::string values;
    std::unique_ptr<prior_update> prior;
};

// Rows with their bytes: what a table holds, and what a flush takes from it.
struct row_block {
    std::vector<pending_row> rows;
    // order_key() of each row's key values, apart from the rows so that ordering a flush reads
    // 8 bytes per row, not a cache line.
    std::vector<std::uint64_t> orders;
    std::string bytes;
    std::vector<prior_update> priors;
    bool one_group = true; // every row is written by the same statements

    std::string_view key(const pending_row& r) const {
        return {r.key_is_short() ? r.short_key : bytes.data() + r.offset, r.key_size};
    }
    // The packed key values, without the key shape's id.
    std::string_view key_values(const pending_row& r) const {
        return key(r).substr(sizeof(std::uint32_t));
    }
    std::string_view values(const pending_row& r) const {
        return {bytes.data() + r.offset + r.long_key_size(), r.values_size};
    }
    const prior_update* prior(const pending_row& r) const {
        return r.prior == no_prior ? nullptr : &priors[r.prior];
    }
    pending_entry entry(const pending_row& r) const;
};

struct flushing_table : row_block {
    std::string name;
    int priority = 0;
    // The order rows are written in (indexes into `rows`); empty: as they are.
    std::vector<std::uint32_t> sequence;
    // Set by a flush when a delete-then-upsert is written as an upsert of the whole row (see
    // flush_order.hpp): the table's columns, and the schema they come from.
    const std::vector<std::string>* whole_row = nullptr;
    std::uint64_t schema_generation = 0;

    std::size_t size() const noexcept { return rows.size(); }
    const pending_row& at(std::size_t i) const { return rows[sequence.empty() ? i : sequence[i]]; }
};

// A table's pending rows and their index.
class table_rows {
public:
    table_rows(std::string name, int priority) : name_(std::move(name)), priority_(priority) {}

    const std::string& name() const noexcept { return name_; }
    int priority() const noexcept { return priority_; }
    std::size_t size() const noexcept { return block_.rows.size(); }

    // The row with this key (the key shape's id, then the packed key values), or null. The
    // pointer is valid until the next add().
    pending_row* find(std::string_view key);
    pending_row& add(std::string_view key, write_kind kind, const shape* key_shape,
                     const shape* columns, std::string_view values);
    void add(std::string_view key, const pending_entry& e);
    // Overwrites a row's values, in place when they are as long as before.
    void set_values(pending_row& r, std::string_view values);
    // Rewrites a row from its full form.
    void set(pending_row& r, const pending_entry& e);
    pending_entry entry(const pending_row& r) const { return block_.entry(r); }

    // Every row, leaving the table empty.
    flushing_table take();

private:
    void index_row(std::uint64_t hash, std::size_t row);
    void grow_index();
    void relocate(pending_row& r, std::string_view values);
    void compact();

    void note_group(const pending_row& r);
    void keep_prior(pending_row& r, const pending_entry& e);

    std::string name_;
    int priority_;
    row_block block_;
    pending_row first_; // the form of the first row, which the others are compared with
    // Open addressing, linear probing: (hash's upper half << 32) | (row index + 1); 0 is empty.
    std::vector<std::uint64_t> index_;
    std::size_t garbage_ = 0; // bytes of `block_.bytes` no row points to
};

class pending_store {
public:
    // Interns a shape for these canonical column names of `table`.
    const shape* intern(const std::string& table, const std::vector<std::string>& columns);
    // The rows of a table (created empty on first use; the reference stays valid).
    table_rows& table(const std::string& name, int priority);

    enum class applied { added, merged, no_room };
    // Stores a write of one elementary kind. A write to a key that is not pending needs room
    // (`room`); one that merges into a pending row does not. `key`: the key shape's id, then the
    // packed key values.
    applied apply(table_rows& t, std::string_view key, write_kind kind, const shape* key_shape,
                  const shape* columns, std::string_view values, bool room);
    std::size_t size() const noexcept { return size_; }

    // Takes every pending row, tables by priority (highest first), then by name.
    std::vector<flushing_table> take_all();
    // Puts rows [from, end) of a failed flush back, under the writes that arrived since
    // (newer wins). Returns how many rows merged into newer ones.
    std::size_t put_back(flushing_table& table, std::size_t from);

    // Merges `later` into `earlier`: the result does what applying both in order does.
    void merge(const std::string& table, pending_entry& earlier, pending_entry&& later);

private:
    struct table_shapes {
        std::unordered_map<std::string, std::unique_ptr<shape>> by_names;
    };
    void apply_step(const std::string& table, pending_entry& into, write_kind kind,
                    const shape* columns, std::string values);
    void drop_overwritten_prior(const std::string& table, pending_entry& e);
    std::pair<const shape*, std::string> merge_columns(const std::string& table, const shape* a,
                                                       const std::string& va, const shape* b,
                                                       const std::string& vb);

    std::unordered_map<std::string, std::unique_ptr<table_rows>> tables_;
    std::unordered_map<std::string, table_shapes> shapes_;
    std::uint32_t next_shape_id_ = 1;
    std::size_t size_ = 0;
};

// The key bytes of a row: the key shape's id, then the packed key values.
void append_key_prefix(std::string& out, const shape& key);

} // namespace sqlite_hybrid::detail::wb
