// SPDX-License-Identifier: BSL-1.0
#include "flush_order.hpp"

#include <algorithm>
#include <tuple>

namespace sqlite_hybrid::detail::wb {

namespace {

bool related(const schema& s, const table_info* t) {
    return s.foreign_keys && t && (t->referenced || !t->parents.empty());
}

bool same_form(const row_block& b) {
    return std::all_of(b.rows.begin(), b.rows.end(),
                       [&](const pending_row& r) { return same_statements(r, b.rows.front()); });
}

// Moves the deletes out of `t` into a table of their own (with the bytes of their keys).
flushing_table take_deletes(flushing_table& t) {
    flushing_table deletes;
    deletes.name = t.name;
    deletes.priority = t.priority;
    std::size_t kept = 0;
    for (std::size_t i = 0; i < t.rows.size(); ++i) {
        pending_row r = t.rows[i];
        if (r.kind != write_kind::remove) {
            t.rows[kept] = r;
            t.orders[kept++] = t.orders[i];
            continue;
        }
        if (!r.key_is_short()) {
            const auto key = t.key(r);
            r.offset = deletes.bytes.size();
            deletes.bytes.append(key.data(), key.size());
        }
        r.values_size = 0;
        deletes.rows.push_back(r);
        deletes.orders.push_back(t.orders[i]);
    }
    t.rows.resize(kept);
    t.orders.resize(kept);
    t.one_group = same_form(t);
    deletes.one_group = same_form(deletes);
    return deletes;
}

} // namespace

std::vector<flushing_table> in_foreign_key_order(std::vector<flushing_table> tables,
                                                 const schema& s) {
    struct placed {
        bool deletes; // second half: children first
        int depth;
        flushing_table table;
    };
    std::vector<placed> order;
    for (auto& t : tables) {
        const table_info* info = s.find(t.name);
        const int depth = info ? info->depth : 0;
        if (!related(s, info)) {
            order.push_back({false, 0, std::move(t)});
            continue;
        }
        const bool any_delete = std::any_of(t.rows.begin(), t.rows.end(), [](const auto& r) {
            return r.kind == write_kind::remove;
        });
        const bool all_deletes = std::all_of(t.rows.begin(), t.rows.end(), [](const auto& r) {
            return r.kind == write_kind::remove;
        });
        if (any_delete && !all_deletes)
            order.push_back({true, depth, take_deletes(t)});
        order.push_back({all_deletes, depth, std::move(t)});
    }
    std::stable_sort(order.begin(), order.end(), [](const placed& a, const placed& b) {
        const int da = a.deletes ? -a.depth : a.depth, db = b.deletes ? -b.depth : b.depth;
        return std::tuple(a.deletes, da, -a.table.priority, a.table.name) <
               std::tuple(b.deletes, db, -b.table.priority, b.table.name);
    });
    std::vector<flushing_table> out;
    out.reserve(order.size());
    for (auto& p : order)
        out.push_back(std::move(p.table));
    return out;
}

bool replaces_in_place(const schema& s, const table_info& t) {
    return s.foreign_keys && t.referenced && !t.delete_acts;
}

} // namespace sqlite_hybrid::detail::wb
