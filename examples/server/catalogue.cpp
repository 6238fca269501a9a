// SPDX-License-Identifier: BSL-1.0
#include "catalogue.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/retry.hpp>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;

template <> struct sqlite_hybrid::row_traits<catalogue::item> {
    static constexpr auto members =
        std::make_tuple(&catalogue::item::id, &catalogue::item::sku, &catalogue::item::name,
                        &catalogue::item::price_cents, &catalogue::item::plays);
};

namespace catalogue {
namespace {

// An item's plays: the folded count plus the rows of worker runs not folded yet (a run folds
// its rows when it stops; see play_counter.hpp).
constexpr const char* select_items =
    "SELECT i.id, i.sku, i.name, i.price_cents, i.plays + "
    "COALESCE((SELECT SUM(p.plays) FROM item_plays p WHERE p.item_id = i.id), 0) FROM items i";

sh::retry_policy request_policy(std::chrono::milliseconds deadline) {
    sh::retry_policy p;
    p.deadline = deadline; // what bounds a request; retries are many and short
    p.max_retries = 100;
    p.base_delay = std::chrono::milliseconds(5);
    p.max_delay = std::chrono::milliseconds(100);
    return p;
}

// Runs `op` under with_retry and sorts its failure into the outcomes a client is told about.
template <class T, class Op>
asio::awaitable<answer<T>> attempt(Op op, std::chrono::milliseconds deadline,
                                   const sh::diagnostics& diag) {
    auto r = co_await sh::with_retry(std::move(op), request_policy(deadline), sh::as_result);
    answer<T> out;
    if (r) {
        out.value = std::move(r).value();
        co_return out;
    }
    const auto ec = r.error();
    if (ec == sh::condition::lock_error) {
        out.status = outcome::busy;
        out.message = "the database stayed locked by another process past the deadline";
    } else if (ec == sh::condition::constraint) {
        out.status = outcome::conflict;
        out.message = diag.message.empty() ? ec.message() : diag.message;
    } else {
        throw boost::system::system_error(ec, diag.message);
    }
    co_return out;
}

answer<item> found(answer<std::optional<item>> a) {
    answer<item> out{a.status, {}, std::move(a.message)};
    if (a.status == outcome::ok && !a.value)
        out.status = outcome::not_found;
    else if (a.value)
        out.value = std::move(*a.value);
    return out;
}

} // namespace

std::vector<std::string> catalogue_store::migrations() {
    return {R"sql(
CREATE TABLE items(
    id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    plays INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE worker_runs(
    id INTEGER PRIMARY KEY,
    worker INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
    stopped_at TEXT
);
CREATE TABLE item_plays(
    item_id INTEGER NOT NULL REFERENCES items(id),
    run_id INTEGER NOT NULL REFERENCES worker_runs(id),
    plays INTEGER NOT NULL,
    PRIMARY KEY (item_id, run_id)
) WITHOUT ROWID;
CREATE INDEX item_plays_run ON item_plays(run_id);
)sql"};
}

catalogue_store::catalogue_store(sh::database& db, std::chrono::milliseconds deadline)
    : db_(db), deadline_(deadline) {}

asio::awaitable<answer<item>> catalogue_store::create(item_fields f) {
    sh::diagnostics diag;
    auto job = [f = std::move(f)](sh::connection& c) -> sh::result<std::optional<item>> {
        BOOST_OUTCOME_TRY(auto done,
                          c.execute("INSERT INTO items(sku, name, price_cents) VALUES(?, ?, ?)",
                                    f.sku, f.name, f.price_cents));
        return c.query_one<item>(std::string(select_items) + " WHERE i.id = ?",
                                 done.last_insert_rowid);
    };
    co_return found(co_await attempt<std::optional<item>>(
        [&](auto token) { return db_.async_write(job, diag, std::move(token)); }, deadline_, diag));
}

asio::awaitable<answer<item>> catalogue_store::replace(std::int64_t id, item_fields f) {
    sh::diagnostics diag;
    auto job = [id, f = std::move(f)](sh::connection& c) -> sh::result<std::optional<item>> {
        BOOST_OUTCOME_TRY(auto done,
                          c.execute("UPDATE items SET sku = ?, name = ?, price_cents = ? "
                                    "WHERE id = ?",
                                    f.sku, f.name, f.price_cents, id));
        if (done.changes == 0)
            return std::optional<item>();
        return c.query_one<item>(std::string(select_items) + " WHERE i.id = ?", id);
    };
    co_return found(co_await attempt<std::optional<item>>(
        [&](auto token) { return db_.async_write(job, diag, std::move(token)); }, deadline_, diag));
}

asio::awaitable<answer<item>> catalogue_store::find(std::int64_t id) {
    sh::diagnostics diag;
    auto job = [id](sh::connection& c) {
        return c.query_one<item>(std::string(select_items) + " WHERE i.id = ?", id);
    };
    co_return found(co_await attempt<std::optional<item>>(
        [&](auto token) { return db_.async_read(job, diag, std::move(token)); }, deadline_, diag));
}

asio::awaitable<answer<std::vector<item>>> catalogue_store::list(std::int64_t after,
                                                                 std::size_t limit) {
    sh::diagnostics diag;
    auto job = [after, limit](sh::connection& c) {
        return c.query<item>(std::string(select_items) + " WHERE i.id > ? ORDER BY i.id LIMIT ?",
                             after, static_cast<std::int64_t>(limit));
    };
    co_return co_await attempt<std::vector<item>>(
        [&](auto token) { return db_.async_read(job, diag, std::move(token)); }, deadline_, diag);
}

asio::awaitable<answer<bool>> catalogue_store::exists(std::int64_t id) {
    sh::diagnostics diag;
    auto job = [id](sh::connection& c) -> sh::result<bool> {
        BOOST_OUTCOME_TRY(auto row,
                          c.query_one<std::int64_t>("SELECT 1 FROM items WHERE id = ?", id));
        return row.has_value();
    };
    co_return co_await attempt<bool>(
        [&](auto token) { return db_.async_read(job, diag, std::move(token)); }, deadline_, diag);
}

} // namespace catalogue
