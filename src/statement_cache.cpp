// SPDX-License-Identifier: BSL-1.0
#include "statement_cache.hpp"

namespace sqlite_hybrid::detail {

void cache_entry::give_back() noexcept {
    in_use = false;
    if (orphaned) {
        sqlite3_finalize(stmt);
        stmt = nullptr;
        return;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

cache_entry* statement_cache::take(std::string_view sql) noexcept {
    auto it = index_.find(sql);
    if (it == index_.end() || it->second->in_use)
        return nullptr;
    entries_.splice(entries_.begin(), entries_, it->second);
    it->second->in_use = true;
    return &*it->second;
}

cache_entry* statement_cache::insert(std::string_view sql, sqlite3_stmt* stmt) {
    if (capacity_ == 0 || index_.contains(sql))
        return nullptr;
    entries_.push_front(cache_entry{std::string(sql), stmt, true, false});
    index_.emplace(entries_.front().sql, entries_.begin());
    evict_over_capacity();
    return &entries_.front();
}

void statement_cache::evict_over_capacity() noexcept {
    // From the least recently used end; statements in use stay until they come back.
    for (auto it = entries_.end(); it != entries_.begin() && entries_.size() > capacity_;) {
        --it;
        if (it->in_use)
            continue;
        if (!it->orphaned) {
            index_.erase(it->sql);
            sqlite3_finalize(it->stmt);
        }
        it = entries_.erase(it);
    }
}

void statement_cache::clear() noexcept {
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (it->in_use) {
            it->orphaned = true;
            ++it;
            continue;
        }
        if (!it->orphaned)
            sqlite3_finalize(it->stmt);
        it = entries_.erase(it);
    }
    index_.clear();
}

} // namespace sqlite_hybrid::detail
