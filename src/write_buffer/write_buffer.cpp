// SPDX-License-Identifier: BSL-1.0
// Accepting writes, waiting writers, schema refreshes, starting and stopping. The flusher is in
// write_buffer_flush.cpp.
#include "write_buffer_impl.hpp"

#include "row_codec.hpp"

#include <sqlite_hybrid/as_result.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cmath>
#include <set>

namespace sqlite_hybrid {

namespace detail {

namespace {

constexpr auto use_result = as_result(asio::use_awaitable);

std::atomic<std::uint64_t> next_buffer_id{1};

error_code invalid(diagnostics* diag, errc code, std::string message) {
    if (diag)
        diag->message = std::move(message);
    return make_error_code(code);
}

bool same_names(const std::vector<std::string>& names, const row& r) {
    return names.size() == r.size() &&
           std::equal(names.begin(), names.end(), r.begin(),
                      [](const std::string& n, const field& f) { return n == f.column; });
}

} // namespace

write_buffer_impl::write_buffer_impl(database& db, write_buffer_options options)
    : db_(db), options_(std::move(options)),
      log_(options_.log ? options_.log : default_logger()),
      strand_(asio::make_strand(db.get_executor())), timer_(strand_), id_(next_buffer_id++) {
    options_.max_pending = std::max<std::size_t>(1, options_.max_pending);
    options_.batch_size = std::clamp<std::size_t>(options_.batch_size, 1, options_.max_pending);
}

// ---- accepting writes ----------------------------------------------------------------------

bool write_buffer_impl::write_plan::matches(const request_view& r) const {
    return kind == r.kind && table == r.table && same_names(first, r.first) &&
           same_names(second, r.second) && keys == r.keys;
}

// The slow part of accepting a write, done once per (kind, table, column names): checks every
// name against the schema and works out the shapes and where the key's values are.
result<write_buffer_impl::write_plan> write_buffer_impl::make_plan(const request_view& r,
                                                                   diagnostics* diag) {
    const auto* table = schema_->find(r.table);
    if (!table) {
        const auto* other = schema_->exact_names ? schema_->find_other_case(r.table) : nullptr;
        return invalid(diag, errc::invalid_identifier,
                       "no table named '" + std::string(r.table) + "'" +
                           (other ? " (PostgreSQL finds a name as written or in lower case: there is '" +
                                        other->name + "')"
                                  : std::string()));
    }
    if (schema_->foreign_keys && !table->cycle.empty())
        return invalid(diag, errc::foreign_key_cycle,
                       "table '" + table->name + "' is on a cycle of foreign keys (" +
                           table->cycle +
                           "): no order of coalesced writes keeps them valid; write it with "
                           "async_write");

    // A row's columns, checked and in their canonical spelling.
    auto columns_of = [&](const row& values, std::vector<std::string>& names) -> error_code {
        std::set<std::string> seen;
        for (const auto& f : values) {
            const auto* name = table->canonical_column(f.column);
            if (!name)
                return invalid(diag, errc::invalid_identifier,
                               "table '" + table->name + "' has no column '" + f.column + "'");
            if (!seen.insert(*name).second)
                return invalid(diag, errc::invalid_identifier,
                               "column '" + f.column + "' appears twice");
            names.push_back(*name);
        }
        return {};
    };

    write_plan plan;
    plan.kind = r.kind;
    plan.table = std::string(r.table);
    for (const auto& f : r.first)
        plan.first.push_back(f.column);
    for (const auto& f : r.second)
        plan.second.push_back(f.column);
    plan.keys = r.keys;
    std::vector<std::pair<int, std::size_t>> key_fields; // (table position, index in `first`)
    auto add_key = [&](std::string_view column) -> error_code {
        const auto* name = table->canonical_column(column);
        if (!name)
            return invalid(diag, errc::invalid_identifier,
                           "table '" + table->name + "' has no column '" + std::string(column) + "'");
        auto it = std::find_if(r.first.begin(), r.first.end(), [&](const field& f) {
            const auto* column = table->canonical_column(f.column);
            return column && *column == *name;
        });
        if (it == r.first.end())
            return invalid(diag, errc::invalid_key, "key column '" + *name + "' has no value");
        key_fields.emplace_back(table->column_order.at(table->key(*name)),
                                static_cast<std::size_t>(it - r.first.begin()));
        return {};
    };

    if (r.kind == write_kind::upsert) {
        std::vector<std::string> names;
        if (auto ec = columns_of(r.first, names))
            return ec;
        if (r.keys.empty())
            return invalid(diag, errc::invalid_key, "an upsert needs key columns");
        for (const auto& k : r.keys)
            if (auto ec = add_key(k))
                return ec;
        plan.columns = store_.intern(table->name, names);
    } else {
        for (const auto& f : r.first)
            if (auto ec = add_key(f.column))
                return ec;
        if (r.kind == write_kind::update) {
            std::vector<std::string> names;
            if (auto ec = columns_of(r.second, names))
                return ec;
            if (names.empty())
                return invalid(diag, errc::invalid_identifier, "an update needs changes");
            for (const auto& n : names)
                for (const auto& k : r.first)
                    if (const auto* key = table->canonical_column(k.column); key && *key == n)
                        return invalid(diag, errc::invalid_key,
                                       "an update cannot change key column '" + n + "'");
            plan.columns = store_.intern(table->name, names);
        }
    }
    // The key in table order, so that the same key given in another order is the same row.
    std::sort(key_fields.begin(), key_fields.end());
    key_fields.erase(std::unique(key_fields.begin(), key_fields.end(),
                                 [](const auto& a, const auto& b) { return a.first == b.first; }),
                     key_fields.end());
    std::vector<std::string> key_names, folded;
    for (const auto& [order, index] : key_fields) {
        key_names.push_back(*table->canonical_column(r.first[index].column));
        folded.push_back(table->key(key_names.back()));
        plan.key_fields.push_back(index);
        const auto a = table->affinities.find(folded.back());
        plan.key_affinities.push_back(a == table->affinities.end() ? wb::affinity::blob : a->second);
    }
    std::sort(folded.begin(), folded.end());
    if (!table->is_unique_key(folded))
        return invalid(diag, errc::invalid_key,
                       "the key columns are not the primary key or a unique index of '" +
                           table->name + "'");
    plan.key = store_.intern(table->name, key_names);
    auto priority = options_.priorities.find(table->name);
    plan.rows = &store_.table(table->name,
                              priority == options_.priorities.end() ? 0 : priority->second);
    return plan;
}

result<const write_buffer_impl::write_plan*> write_buffer_impl::find_plan(const request_view& r,
                                                                          diagnostics* diag) {
    // A thread usually writes the same names over and over: its last plan is checked first,
    // by comparing the names, before any lookup.
    struct memo {
        std::uint64_t buffer = 0, generation = 0;
        const write_plan* plan = nullptr;
    };
    thread_local memo last;
    if (last.buffer == id_ && last.generation == plans_generation_ && last.plan->matches(r))
        return last.plan;

    // Plans are found by the names exactly as given: (kind, table, columns, key columns), each
    // list after its length.
    thread_local std::string plan_key;
    plan_key.assign(1, static_cast<char>(r.kind));
    wb::append_name(plan_key, r.table);
    const auto append_list = [](std::string& key, const auto& names, auto name_of) {
        wb::append_name(key, std::to_string(names.size()));
        for (const auto& n : names)
            wb::append_name(key, name_of(n));
    };
    const auto column_of = [](const auto& f) -> std::string_view { return f.column; };
    append_list(plan_key, r.first, column_of);
    append_list(plan_key, r.second, column_of);
    append_list(plan_key, r.keys, [](const auto& k) -> std::string_view { return k; });
    auto it = plans_.find(plan_key);
    if (it == plans_.end()) {
        auto plan = make_plan(r, diag);
        if (!plan)
            return plan.error();
        it = plans_.emplace(plan_key, std::move(plan).value()).first;
    }
    last = {id_, plans_generation_, &it->second};
    return &it->second;
}

error_code write_buffer_impl::accept_locked(const request_view& r, diagnostics* diag) {
    if (state_ != state::running)
        return invalid(diag, errc::closed, "the write buffer is not running");
    auto found = find_plan(r, diag);
    if (!found)
        return found.error();
    const write_plan* plan = found.value();
    // The key: the key shape's id, then the key values in table order.
    thread_local std::string key, values;
    key.clear();
    values.clear();
    wb::append_key_prefix(key, *plan->key);
    for (std::size_t k = 0; k < plan->key_fields.size(); ++k) {
        const auto& f = r.first[plan->key_fields[k]];
        if (f.v.is_null())
            return invalid(diag, errc::invalid_key, "key column '" + f.column + "' is NULL");
        if (f.v.type() == value_type::real && std::isnan(f.v.as_double()))
            return invalid(diag, errc::invalid_key,
                           "key column '" + f.column + "' is NaN, which SQLite stores as NULL: "
                           "every write would make a new row");
        wb::pack(key, wb::normalise_key(f.v, plan->key_affinities[k]));
    }
    const row* fields = r.kind == write_kind::upsert ? &r.first
                        : r.kind == write_kind::update ? &r.second
                                                        : nullptr;
    if (fields)
        for (const auto& f : *fields)
            wb::pack(values, f.v);
    // A write to a pending row needs no room; only a new row does.
    const bool room = store_.size() + in_flight_ < options_.max_pending;
    switch (store_.apply(*plan->rows, key, r.kind, plan->key, plan->columns, values, room)) {
    case wb::pending_store::applied::no_room:
        return invalid(diag, errc::buffer_full, "the write buffer holds max_pending rows");
    case wb::pending_store::applied::merged: ++coalesced_; break;
    case wb::pending_store::applied::added: break;
    }
    ++accepted_;
    if (store_.size() >= options_.batch_size)
        wake_locked();
    return {};
}

error_code write_buffer_impl::accept(const request_view& r, diagnostics* diag) {
    std::lock_guard lock(mutex_);
    return accept_locked(r, diag);
}

void write_buffer_impl::wake_locked() {
    if (std::exchange(wake_requested_, true))
        return;
    asio::post(strand_, [self = shared_from_this()] { self->timer_.cancel(); });
}

void write_buffer_impl::write(request r, asio::any_completion_handler<void(error_code)> handler) {
    diagnostics diag;
    {
        std::lock_guard lock(mutex_);
        const error_code ec = accept_locked(r.view(), &diag);
        if (ec == errc::buffer_full && !options_.fail_when_full) {
            waiting_.push_back({std::move(r), std::move(handler)});
            return;
        }
        if (ec != errc::invalid_identifier) {
            complete(std::move(handler), ec);
            return;
        }
    }
    // An unknown name may be a table or column created since the schema was read.
    asio::co_spawn(
        strand_,
        [self = shared_from_this(), r = std::move(r), h = std::move(handler)]() mutable
        -> asio::awaitable<void> {
            error_code ec = co_await self->refresh_schema();
            if (!ec) {
                std::lock_guard lock(self->mutex_);
                ec = self->accept_locked(r.view(), nullptr);
                if (ec == errc::buffer_full && !self->options_.fail_when_full) {
                    self->waiting_.push_back({std::move(r), std::move(h)});
                    co_return;
                }
            }
            self->complete(std::move(h), ec);
        },
        asio::detached);
}

void write_buffer_impl::admit_waiters() {
    std::lock_guard lock(mutex_);
    while (!waiting_.empty()) {
        const error_code ec = accept_locked(waiting_.front().r.view(), nullptr);
        if (ec == errc::buffer_full)
            return;
        complete(std::move(waiting_.front().handler), ec);
        waiting_.pop_front();
    }
}

asio::awaitable<error_code> write_buffer_impl::refresh_schema() {
    auto fresh = co_await db_.async_read([](connection& c) { return wb::load_schema(c); }, use_result);
    if (!fresh)
        co_return fresh.error();
    static std::atomic<std::uint64_t> loaded{0};
    fresh.value().generation = ++loaded;
    auto shared = std::make_shared<const wb::schema>(std::move(fresh).value());
    std::lock_guard lock(mutex_);
    schema_ = std::move(shared);
    plans_.clear(); // names are checked again against the new schema
    ++plans_generation_;
    co_return error_code();
}

// ---- starting and stopping -----------------------------------------------------------------

void write_buffer_impl::start(asio::any_completion_handler<void(error_code)> handler) {
    {
        std::lock_guard lock(mutex_);
        if (state_ != state::idle) {
            complete(std::move(handler), make_error_code(errc::closed));
            return;
        }
        state_ = state::starting;
    }
    asio::co_spawn(
        strand_,
        [self = shared_from_this(), h = std::move(handler)]() mutable -> asio::awaitable<void> {
            const error_code ec = co_await self->refresh_schema();
            {
                std::lock_guard lock(self->mutex_);
                self->state_ = ec ? state::idle : state::running;
            }
            if (!ec)
                asio::co_spawn(self->strand_, self->flusher(self), asio::detached);
            self->complete(std::move(h), ec);
        },
        asio::detached);
}

void write_buffer_impl::stop(asio::any_completion_handler<void(error_code, stop_report)> handler) {
    std::deque<waiting_write> refused;
    {
        std::lock_guard lock(mutex_);
        if (state_ != state::running || stop_handler_) {
            complete(std::move(handler), make_error_code(errc::closed), stop_report{});
            return;
        }
        state_ = state::stopping;
        stop_handler_.emplace(std::move(handler));
        refused.swap(waiting_);
        wake_locked();
    }
    for (auto& w : refused)
        complete(std::move(w.handler), make_error_code(errc::closed));
}

void write_buffer_impl::force_flush(asio::any_completion_handler<void(error_code, std::size_t)> handler) {
    std::lock_guard lock(mutex_);
    if (state_ != state::running) {
        complete(std::move(handler), make_error_code(errc::closed), std::size_t{0});
        return;
    }
    force_waiters_.push_back(std::move(handler));
    wake_locked();
}

void write_buffer_impl::abandon() noexcept {
    std::lock_guard lock(mutex_);
    if (state_ == state::running || state_ == state::stopping) {
        const auto lost = store_.size() + in_flight_;
        if (lost)
            log_(log_level::error, "write buffer destroyed without async_stop: " +
                                       std::to_string(lost) + " pending rows are lost");
        state_ = state::stopped;
        asio::post(strand_, [self = shared_from_this()] { self->timer_.cancel(); });
    }
}

write_buffer_metrics write_buffer_impl::metrics() const {
    write_buffer_metrics m;
    {
        std::lock_guard lock(mutex_);
        m.pending = store_.size() + in_flight_;
        m.accepted = accepted_;
        m.coalesced = coalesced_;
    }
    m.flushed = flushed_;
    m.flushes = flushes_;
    m.failures = failures_;
    m.dead_letters = dead_letters_;
    m.last_flush_latency = std::chrono::microseconds(last_latency_us_.load());
    m.max_flush_latency = std::chrono::microseconds(max_latency_us_.load());
    return m;
}

std::vector<dead_letter> write_buffer_impl::dead_letters() const {
    std::lock_guard lock(mutex_);
    return {dead_.begin(), dead_.end()};
}

} // namespace detail

// ---- the handle ----------------------------------------------------------------------------

write_buffer::write_buffer(database& db, write_buffer_options options)
    : impl_(std::make_shared<detail::write_buffer_impl>(db, std::move(options))) {}

write_buffer::~write_buffer() { impl_->abandon(); }

// Each handler holds its executor's work from here on: the buffer keeps some for a while
// (waiting for room, for the flush, for the stop).
void write_buffer::start(asio::any_completion_handler<void(error_code)> handler) {
    impl_->start(detail::holding_work(std::move(handler), impl_->executor()));
}
void write_buffer::stop(asio::any_completion_handler<void(error_code, stop_report)> handler) {
    impl_->stop(detail::holding_work(std::move(handler), impl_->executor()));
}
void write_buffer::force_flush(asio::any_completion_handler<void(error_code, std::size_t)> handler) {
    impl_->force_flush(detail::holding_work(std::move(handler), impl_->executor()));
}
void write_buffer::write(write_kind kind, std::string table, row first, column_names keys,
                         row second, asio::any_completion_handler<void(error_code)> handler) {
    impl_->write({kind, std::move(table), std::move(first), std::move(keys), std::move(second)},
                 detail::holding_work(std::move(handler), impl_->executor()));
}

namespace {
const row no_row;
const column_names no_keys;
} // namespace

error_code write_buffer::buffer_upsert(std::string_view table, const row& values,
                                       const column_names& key_columns, diagnostics* diag) {
    return impl_->accept({write_kind::upsert, table, values, key_columns, no_row}, diag);
}
error_code write_buffer::buffer_update(std::string_view table, const row& key, const row& changes,
                                       diagnostics* diag) {
    return impl_->accept({write_kind::update, table, key, no_keys, changes}, diag);
}
error_code write_buffer::buffer_delete(std::string_view table, const row& key, diagnostics* diag) {
    return impl_->accept({write_kind::remove, table, key, no_keys, no_row}, diag);
}

write_buffer_metrics write_buffer::metrics() const { return impl_->metrics(); }
std::vector<dead_letter> write_buffer::dead_letters() const { return impl_->dead_letters(); }

} // namespace sqlite_hybrid
