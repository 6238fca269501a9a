// SPDX-License-Identifier: BSL-1.0
// The connection's LRU cache of prepared statements. A statement handed out is marked in use
// until it comes back, so eviction never finalises a statement someone holds.
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sqlite_hybrid::detail {

struct cache_entry {
    std::string sql;
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
    bool orphaned = false; // evicted or cleared while in use: finalise on return

    void give_back() noexcept;
};

class statement_cache {
public:
    explicit statement_cache(std::size_t capacity) : capacity_(capacity) {}
    statement_cache(const statement_cache&) = delete;
    statement_cache& operator=(const statement_cache&) = delete;
    ~statement_cache() { clear(); }

    // The cached, idle statement for `sql`, marked in use; null on a miss or when in use.
    cache_entry* take(std::string_view sql) noexcept;
    // Caches a newly prepared statement, already in use; null if it cannot be cached.
    cache_entry* insert(std::string_view sql, sqlite3_stmt* stmt);
    void clear() noexcept;
    std::size_t size() const noexcept { return entries_.size(); }

private:
    void evict_over_capacity() noexcept;

    std::size_t capacity_;
    std::list<cache_entry> entries_; // most recently used first
    std::unordered_map<std::string_view, std::list<cache_entry>::iterator> index_;
};

} // namespace sqlite_hybrid::detail
