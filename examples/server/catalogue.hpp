// SPDX-License-Identifier: BSL-1.0
// The catalogue on one SQLite file: items created and changed by immediate writes (with_retry,
// a deadline per request), read from the reader pool.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sqlite_hybrid {
class database;
}

namespace catalogue {

struct item {
    std::int64_t id = 0;
    std::string sku;
    std::string name;
    std::int64_t price_cents = 0;
    std::int64_t plays = 0; // folded plays plus every worker run's counted ones
};

// What a client sends to create or replace an item.
struct item_fields {
    std::string sku;
    std::string name;
    std::int64_t price_cents = 0;
};

enum class outcome {
    ok,
    not_found,
    conflict, // a constraint said no (the SKU is taken)
    busy,     // another process held the write lock past the deadline
};

template <class T> struct answer {
    outcome status = outcome::ok;
    T value{};
    std::string message; // why, for conflict and busy
};

class catalogue_store {
public:
    // The schema, as the database's migrations.
    static std::vector<std::string> migrations();

    catalogue_store(sqlite_hybrid::database& db, std::chrono::milliseconds deadline);

    // Errors other than the outcomes above throw system_error.
    boost::asio::awaitable<answer<item>> create(item_fields fields);
    boost::asio::awaitable<answer<item>> replace(std::int64_t id, item_fields fields);
    boost::asio::awaitable<answer<item>> find(std::int64_t id);
    // Items with ids above `after`, in id order.
    boost::asio::awaitable<answer<std::vector<item>>> list(std::int64_t after, std::size_t limit);
    boost::asio::awaitable<answer<bool>> exists(std::int64_t id);

private:
    sqlite_hybrid::database& db_;
    std::chrono::milliseconds deadline_;
};

} // namespace catalogue
