#include "pending_store.hpp"

#include "row_codec.hpp"

#include <algorithm>
#include <cstring>

namespace sqlite_hybrid::detail::wb {

std::string key_string(const shape& key, const std::string& packed_key_values) {
    std::string out(sizeof key.id, '\0');
    std::memcpy(out.data(), &key.id, sizeof key.id);
    return out + packed_key_values;
}

const shape* pending_store::intern(const std::string& table, const std::vector<std::string>& columns) {
    std::string joined;
    for (const auto& c : columns) {
        joined += c;
        joined += '\0';
    }
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

bool pending_store::contains(const std::string& table, const shape& key,
                             const std::string& key_values) const {
    auto t = tables_.find(table);
    return t != tables_.end() && t->second.rows.contains(key_string(key, key_values));
}

bool pending_store::apply(keyed_write w) {
    auto& t = tables_[w.table];
    if (t.name.empty()) {
        t.name = w.table;
        t.priority = w.priority;
    }
    auto [it, added] = t.rows.try_emplace(key_string(*w.entry.key, w.key_values));
    if (!added) {
        merge(w.table, it->second, std::move(w.entry));
        return true;
    }
    it->second = std::move(w.entry);
    ++size_;
    return false;
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
        return;
    case write_kind::update:
        if (into.kind == write_kind::remove)
            return; // updating a row that will not exist changes nothing
        std::tie(into.columns, into.values) =
            merge_columns(table, into.columns, into.values, columns, values);
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
    for (auto& [name, t] : tables_) {
        if (t.rows.empty())
            continue;
        flushing_table f{t.name, t.priority, {}};
        f.rows.reserve(t.rows.size());
        for (auto& [key, entry] : t.rows)
            f.rows.push_back({key, std::move(entry)});
        t.rows.clear();
        out.push_back(std::move(f));
    }
    size_ = 0;
    std::sort(out.begin(), out.end(), [](const flushing_table& a, const flushing_table& b) {
        return a.priority != b.priority ? a.priority > b.priority : a.name < b.name;
    });
    return out;
}

std::size_t pending_store::put_back(flushing_table&& table) {
    auto& t = tables_[table.name];
    if (t.name.empty()) {
        t.name = table.name;
        t.priority = table.priority;
    }
    std::size_t merged = 0;
    for (auto& r : table.rows) {
        auto it = t.rows.find(r.key);
        if (it == t.rows.end()) {
            t.rows.emplace(std::move(r.key), std::move(r.entry));
            ++size_;
            continue;
        }
        // The failed row came first: the newer write goes on top of it.
        pending_entry newer = std::move(it->second);
        it->second = std::move(r.entry);
        merge(table.name, it->second, std::move(newer));
        ++merged;
    }
    return merged;
}

} // namespace sqlite_hybrid::detail::wb
