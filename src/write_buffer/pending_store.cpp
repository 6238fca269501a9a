// SPDX-License-Identifier: BSL-1.0
#include "pending_store.hpp"

#include "row_codec.hpp"

#include <algorithm>
#include <cstring>
#include <functional>

namespace sqlite_hybrid::detail::wb {

namespace {

std::uint64_t hash_key(std::string_view key) { return std::hash<std::string_view>{}(key); }

constexpr std::uint64_t row_mask = 0xffff'ffffu;

} // namespace

void append_key_prefix(std::string& out, const shape& key) {
    char id[sizeof key.id];
    std::memcpy(id, &key.id, sizeof key.id);
    out.append(id, sizeof id);
}

pending_entry row_block::entry(const pending_row& r) const {
    pending_entry e;
    e.kind = r.kind;
    e.replace = r.replace;
    e.key = r.key;
    e.columns = r.columns;
    e.values = std::string(values(r));
    if (const auto* p = prior(r))
        e.prior = std::make_unique<prior_update>(*p);
    return e;
}

// ---- one table ------------------------------------------------------------------------------

pending_row* table_rows::find(std::string_view key) {
    if (index_.empty())
        return nullptr;
    const std::uint64_t h = hash_key(key);
    const std::uint64_t tag = h >> 32;
    const std::size_t mask = index_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
        const std::uint64_t slot = index_[i];
        if (slot == 0)
            return nullptr;
        if (slot >> 32 == tag) {
            auto& r = block_.rows[(slot & row_mask) - 1];
            if (block_.key(r) == key)
                return &r;
        }
    }
}

void table_rows::index_row(std::uint64_t hash, std::size_t row) {
    const std::size_t mask = index_.size() - 1;
    std::size_t i = hash & mask;
    while (index_[i] != 0)
        i = (i + 1) & mask;
    index_[i] = (hash >> 32 << 32) | (row + 1);
}

void table_rows::grow_index() {
    index_.assign(std::max<std::size_t>(16, index_.size() * 2), 0);
    for (std::size_t i = 0; i < block_.rows.size(); ++i)
        index_row(hash_key(block_.key(block_.rows[i])), i);
}

pending_row& table_rows::add(std::string_view key, write_kind kind, const shape* key_shape,
                             const shape* columns, std::string_view values) {
    // At most 4/5 full: probes stay short.
    if ((block_.rows.size() + 1) * 5 > index_.size() * 4)
        grow_index();
    pending_row r;
    r.offset = block_.bytes.size();
    r.key_size = static_cast<std::uint32_t>(key.size());
    r.values_size = static_cast<std::uint32_t>(values.size());
    r.key = key_shape;
    r.columns = columns;
    r.kind = kind;
    if (r.key_is_short())
        std::memcpy(r.short_key, key.data(), key.size());
    else
        block_.bytes.append(key);
    block_.bytes.append(values);
    block_.orders.push_back(order_key(key.substr(sizeof(std::uint32_t))));
    block_.rows.push_back(r);
    note_group(r);
    index_row(hash_key(key), block_.rows.size() - 1);
    return block_.rows.back();
}

void table_rows::note_group(const pending_row& r) {
    if (block_.rows.size() == 1)
        first_ = r;
    else if (!same_statements(r, first_))
        block_.one_group = false;
}

void table_rows::add(std::string_view key, const pending_entry& e) {
    auto& r = add(key, e.kind, e.key, e.columns, e.values);
    r.replace = e.replace;
    keep_prior(r, e);
    note_group(r);
}

void table_rows::keep_prior(pending_row& r, const pending_entry& e) {
    r.prior = no_prior; // an earlier prior, if any, stays unused until the table is taken
    if (e.prior) {
        r.prior = static_cast<std::uint32_t>(block_.priors.size());
        block_.priors.push_back(*e.prior);
    }
}

// Moves a row's bytes to the end with new values; the old bytes become garbage.
void table_rows::relocate(pending_row& r, std::string_view values) {
    auto& bytes = block_.bytes;
    const std::size_t at = bytes.size();
    const std::size_t key_size = r.long_key_size();
    bytes.resize(at + key_size);
    std::memcpy(bytes.data() + at, bytes.data() + r.offset, key_size);
    bytes.append(values);
    garbage_ += key_size + r.values_size;
    r.offset = at;
    r.values_size = static_cast<std::uint32_t>(values.size());
    if (garbage_ > 4096 && garbage_ > bytes.size() / 2)
        compact();
}

void table_rows::compact() {
    std::string live;
    live.reserve(block_.bytes.size() - garbage_);
    for (auto& r : block_.rows) {
        const std::size_t at = live.size();
        live.append(block_.bytes, r.offset, r.long_key_size() + r.values_size);
        r.offset = at;
    }
    block_.bytes = std::move(live);
    garbage_ = 0;
}

void table_rows::set_values(pending_row& r, std::string_view values) {
    if (values.size() == r.values_size)
        std::memcpy(block_.bytes.data() + r.offset + r.long_key_size(), values.data(),
                    values.size());
    else
        relocate(r, values);
}

void table_rows::set(pending_row& r, const pending_entry& e) {
    // `e` may have been read from this row: its values are a copy, so relocating is safe.
    set_values(r, e.values);
    r.kind = e.kind;
    r.replace = e.replace;
    r.columns = e.columns;
    keep_prior(r, e);
    note_group(r);
}

flushing_table table_rows::take() {
    flushing_table out;
    out.name = name_;
    out.priority = priority_;
    static_cast<row_block&>(out) = std::move(block_);
    block_ = row_block{};
    std::fill(index_.begin(), index_.end(), 0);
    garbage_ = 0;
    return out;
}

// ---- the store ------------------------------------------------------------------------------

const shape* pending_store::intern(const std::string& table, const std::vector<std::string>& columns) {
    std::string joined;
    for (const auto& c : columns)
        append_name(joined, c);
    auto& shapes = shapes_[table].by_names;
    auto it = shapes.find(joined);
    if (it == shapes.end()) {
        auto s = std::make_unique<shape>();
        s->id = next_shape_id_++;
        s->columns = columns;
        it = shapes.emplace(std::move(joined), std::move(s)).first;
    }
    return it->second.get();
}

table_rows& pending_store::table(const std::string& name, int priority) {
    auto& t = tables_[name];
    if (!t)
        t = std::make_unique<table_rows>(name, priority);
    return *t;
}

pending_store::applied pending_store::apply(table_rows& t, std::string_view key, write_kind kind,
                                            const shape* key_shape, const shape* columns,
                                            std::string_view values, bool room) {
    pending_row* r = t.find(key);
    if (!r) {
        if (!room)
            return applied::no_room;
        t.add(key, kind, key_shape, columns, values);
        ++size_;
        return applied::added;
    }
    // The common case, new values for the same columns, is what apply_step does when the
    // columns are equal: the later values win whole.
    if (columns && r->columns == columns && r->kind != write_kind::remove &&
        (kind == write_kind::update || r->kind == write_kind::upsert)) {
        t.set_values(*r, values);
        return applied::merged;
    }
    pending_entry e = t.entry(*r);
    apply_step(t.name(), e, kind, columns, std::string(values));
    t.set(*r, e);
    return applied::merged;
}

std::pair<const shape*, std::string> pending_store::merge_columns(const std::string& table,
                                                                  const shape* a,
                                                                  const std::string& va,
                                                                  const shape* b,
                                                                  const std::string& vb) {
    if (a == b)
        return {b, vb}; // the same columns: the later values win whole
    auto old_values = unpack(va);
    auto new_values = unpack(vb);
    std::vector<std::string> columns = a->columns;
    std::vector<packed_value> merged = old_values;
    for (std::size_t i = 0; i < b->columns.size(); ++i) {
        auto at = std::find(columns.begin(), columns.end(), b->columns[i]);
        if (at == columns.end()) {
            columns.push_back(b->columns[i]);
            merged.push_back(new_values[i]);
        } else {
            merged[static_cast<std::size_t>(at - columns.begin())] = new_values[i];
        }
    }
    std::string packed;
    for (const auto& v : merged)
        pack(packed, v);
    return {intern(table, columns), std::move(packed)};
}

// An update before an upsert sets nothing the upsert sets again: the upsert's value is the one
// that stays, whether the row existed or not. Keeping it would write a value the table never
// holds when the flush ends, one that may name a parent row the flush deletes.
void pending_store::drop_overwritten_prior(const std::string& table, pending_entry& e) {
    if (!e.prior || !e.columns)
        return;
    const auto& overwritten = e.columns->columns;
    const auto& prior_columns = e.prior->columns->columns;
    const auto prior_values = unpack(e.prior->values);
    std::vector<std::string> kept_columns;
    std::string kept_values;
    for (std::size_t i = 0; i < prior_columns.size(); ++i)
        if (std::find(overwritten.begin(), overwritten.end(), prior_columns[i]) == overwritten.end()) {
            kept_columns.push_back(prior_columns[i]);
            pack(kept_values, prior_values[i]);
        }
    if (kept_columns.empty())
        e.prior.reset();
    else if (kept_columns.size() < prior_columns.size())
        *e.prior = prior_update{intern(table, kept_columns), std::move(kept_values)};
}

// One elementary write applied on top of what `into` already does.
void pending_store::apply_step(const std::string& table, pending_entry& into, write_kind kind,
                               const shape* columns, std::string values) {
    switch (kind) {
    case write_kind::remove:
        into.kind = write_kind::remove;
        into.replace = false;
        into.columns = nullptr;
        into.values.clear();
        into.prior.reset();
        return;
    case write_kind::upsert:
        if (into.kind == write_kind::remove) {
            into.kind = write_kind::upsert;
            into.replace = true;
            into.columns = columns;
            into.values = std::move(values);
        } else if (into.kind == write_kind::update) {
            into.prior = std::make_unique<prior_update>(prior_update{into.columns, std::move(into.values)});
            into.kind = write_kind::upsert;
            into.columns = columns;
            into.values = std::move(values);
        } else {
            std::tie(into.columns, into.values) =
                merge_columns(table, into.columns, into.values, columns, values);
        }
        drop_overwritten_prior(table, into);
        return;
    case write_kind::update:
        if (into.kind == write_kind::remove)
            return; // updating a row that will not exist changes nothing
        std::tie(into.columns, into.values) =
            merge_columns(table, into.columns, into.values, columns, values);
        drop_overwritten_prior(table, into);
        return;
    }
}

void pending_store::merge(const std::string& table, pending_entry& earlier, pending_entry&& later) {
    // `later` itself may be two steps: a delete or an update before its own write.
    if (later.replace)
        apply_step(table, earlier, write_kind::remove, nullptr, {});
    if (later.prior)
        apply_step(table, earlier, write_kind::update, later.prior->columns,
                   std::move(later.prior->values));
    apply_step(table, earlier, later.kind, later.columns, std::move(later.values));
}

std::vector<flushing_table> pending_store::take_all() {
    std::vector<flushing_table> out;
    for (auto& [name, t] : tables_)
        if (t->size() > 0)
            out.push_back(t->take());
    size_ = 0;
    std::sort(out.begin(), out.end(), [](const flushing_table& a, const flushing_table& b) {
        return a.priority != b.priority ? a.priority > b.priority : a.name < b.name;
    });
    return out;
}

std::size_t pending_store::put_back(flushing_table& failed, std::size_t from) {
    auto& t = table(failed.name, failed.priority);
    std::size_t merged = 0;
    for (std::size_t i = from; i < failed.size(); ++i) {
        const auto& row = failed.at(i);
        const auto key = failed.key(row);
        pending_row* r = t.find(key);
        if (!r) {
            t.add(key, failed.entry(row));
            ++size_;
            continue;
        }
        // The failed row came first: the newer write goes on top of it.
        pending_entry e = failed.entry(row);
        merge(failed.name, e, t.entry(*r));
        t.set(*r, e);
        ++merged;
    }
    return merged;
}

} // namespace sqlite_hybrid::detail::wb
