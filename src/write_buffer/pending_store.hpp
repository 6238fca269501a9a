// The rows waiting in RAM, coalesced by (table, key): a later write to a pending row merges into
// it, so that flushing the merged row leaves the table as applying every write in order would.
//
//   pending \ new   upsert                     update                   delete
//   (none)          upsert                     update                   delete
//   upsert          upsert, columns merged     upsert, changes merged   delete
//   update          update, then the upsert    update, changes merged   delete
//   delete          delete, then insert        delete (no row to update) delete
#pragma once

#include "table_schema.hpp"

#include <sqlite_hybrid/write_buffer.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace sqlite_hybrid::detail::wb {

// An interned list of canonical column names: rows with the same columns share one.
struct shape {
    std::uint32_t id = 0;
    std::vector<std::string> columns;
};

// Changes applied to the row before the entry's own write (an update followed by an upsert).
struct prior_update {
    const shape* columns;
    std::string values;
};

struct pending_entry {
    write_kind kind = write_kind::upsert;
    bool replace = false;               // upsert after a delete: delete the row, then insert
    const shape* key = nullptr;         // the key columns
    const shape* columns = nullptr;     // of `values`: the row (upsert) or the changes (update)
    std::string values;                 // packed
    std::unique_ptr<prior_update> prior;
};

// A write before it is stored: the table's canonical name, and the key packed in key order.
struct keyed_write {
    std::string table;
    int priority = 0;
    std::string key_values;
    pending_entry entry;
};

struct table_rows {
    std::string name;
    int priority = 0;
    // Key: the key shape's id, then the packed key values.
    std::unordered_map<std::string, pending_entry> rows;
};

// A row taken out for a flush.
struct flushing_row {
    std::string key; // as in table_rows::rows
    pending_entry entry;
};

struct flushing_table {
    std::string name;
    int priority = 0;
    std::vector<flushing_row> rows;
};

class pending_store {
public:
    // Interns a shape for these canonical column names of `table`.
    const shape* intern(const std::string& table, const std::vector<std::string>& columns);

    // Stores a write; true when it merged into a pending row of the same key.
    bool apply(keyed_write w);
    std::size_t size() const noexcept { return size_; }
    bool contains(const std::string& table, const shape& key, const std::string& key_values) const;

    // Takes every pending row, tables by priority (highest first), then by name.
    std::vector<flushing_table> take_all();
    // Puts rows of a failed flush back, under the writes that arrived since (newer wins).
    // Returns how many rows merged into newer ones.
    std::size_t put_back(flushing_table&& table);

    // Merges `later` into `earlier`: the result does what applying both in order does.
    void merge(const std::string& table, pending_entry& earlier, pending_entry&& later);

private:
    struct table_shapes {
        std::unordered_map<std::string, std::unique_ptr<shape>> by_names;
    };
    void apply_step(const std::string& table, pending_entry& into, write_kind kind,
                    const shape* columns, std::string values);
    std::pair<const shape*, std::string> merge_columns(const std::string& table, const shape* a,
                                                       const std::string& va, const shape* b,
                                                       const std::string& vb);

    std::unordered_map<std::string, table_rows> tables_;
    std::unordered_map<std::string, table_shapes> shapes_;
    std::uint32_t next_shape_id_ = 1;
    std::size_t size_ = 0;
};

std::string key_string(const shape& key, const std::string& packed_key_values);

} // namespace sqlite_hybrid::detail::wb
