#include "write_buffer_impl.hpp"

#include "flush_rows.hpp"
#include "row_codec.hpp"

#include <sqlite_hybrid/as_result.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <set>

namespace sqlite_hybrid {

namespace detail {

namespace {

using clock = std::chrono::steady_clock;
constexpr auto use_result = as_result(asio::use_awaitable);

error_code invalid(diagnostics* diag, errc code, std::string message) {
    if (diag)
        diag->message = std::move(message);
    return make_error_code(code);
}

std::uint64_t micros(clock::duration d) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

// The columns and packed values of a pending row, as a dead letter shows them.
row describe(const wb::flushing_row& r) {
    row out;
    auto add = [&out](const wb::shape& s, std::string_view packed) {
        auto values = wb::unpack(packed);
        for (std::size_t i = 0; i < s.columns.size() && i < values.size(); ++i)
            out.push_back({s.columns[i], values[i].to_value()});
    };
    if (r.entry.kind != write_kind::upsert) // an upsert's row holds its key already
        add(*r.entry.key, std::string_view(r.key).substr(sizeof(std::uint32_t)));
    if (r.entry.prior)
        add(*r.entry.prior->columns, r.entry.prior->values);
    if (r.entry.columns)
        add(*r.entry.columns, r.entry.values);
    return out;
}

} // namespace

write_buffer_impl::write_buffer_impl(database& db, write_buffer_options options)
    : db_(db), options_(std::move(options)),
      log_(options_.log ? options_.log : default_logger()),
      strand_(asio::make_strand(db.get_executor())), timer_(strand_) {
    options_.max_pending = std::max<std::size_t>(1, options_.max_pending);
    options_.batch_size = std::clamp<std::size_t>(options_.batch_size, 1, options_.max_pending);
}

// ---- accepting writes ----------------------------------------------------------------------

// The slow part of accepting a write, done once per (kind, table, column names): checks every
// name against the schema and works out the shapes and where the key's values are.
result<write_buffer_impl::write_plan> write_buffer_impl::make_plan(const request_view& r,
                                                                   diagnostics* diag) {
    const auto* table = schema_.find(r.table);
    if (!table)
        return invalid(diag, errc::invalid_identifier, "no table named '" + std::string(r.table) + "'");

    // A row's columns, checked and in their canonical spelling.
    auto columns_of = [&](const row& values, std::vector<std::string>& names) -> error_code {
        std::set<std::string> seen;
        for (const auto& f : values) {
            const auto* name = table->canonical_column(f.column);
            if (!name)
                return invalid(diag, errc::invalid_identifier,
                               "table '" + table->name + "' has no column '" + f.column + "'");
            if (!seen.insert(wb::fold_case(*name)).second)
                return invalid(diag, errc::invalid_identifier,
                               "column '" + f.column + "' appears twice");
            names.push_back(*name);
        }
        return {};
    };

    write_plan plan;
    plan.table = table->name;
    std::vector<std::pair<int, std::size_t>> key_fields; // (table position, index in `first`)
    auto add_key = [&](std::string_view column) -> error_code {
        const auto* name = table->canonical_column(column);
        if (!name)
            return invalid(diag, errc::invalid_identifier,
                           "table '" + table->name + "' has no column '" + std::string(column) + "'");
        auto it = std::find_if(r.first.begin(), r.first.end(), [&](const field& f) {
            return wb::fold_case(f.column) == wb::fold_case(*name);
        });
        if (it == r.first.end())
            return invalid(diag, errc::invalid_key, "key column '" + *name + "' has no value");
        key_fields.emplace_back(table->column_order.at(wb::fold_case(*name)),
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
        plan.columns = store_.intern(plan.table, names);
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
                    if (wb::fold_case(n) == wb::fold_case(k.column))
                        return invalid(diag, errc::invalid_key,
                                       "an update cannot change key column '" + n + "'");
            plan.columns = store_.intern(plan.table, names);
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
        folded.push_back(wb::fold_case(r.first[index].column));
        plan.key_fields.push_back(index);
    }
    std::sort(folded.begin(), folded.end());
    if (!table->is_unique_key(folded))
        return invalid(diag, errc::invalid_key,
                       "the key columns are not the primary key or a unique index of '" +
                           table->name + "'");
    plan.key = store_.intern(plan.table, key_names);
    auto priority = options_.priorities.find(plan.table);
    plan.priority = priority == options_.priorities.end() ? 0 : priority->second;
    return plan;
}

result<wb::keyed_write> write_buffer_impl::canonical_write(const request_view& r, diagnostics* diag) {
    // Plans are found by the names exactly as given: (kind, table, columns, key columns).
    thread_local std::string plan_key;
    plan_key.assign(1, static_cast<char>(r.kind));
    plan_key += r.table;
    for (const auto* part : {&r.first, &r.second}) {
        plan_key += '\x01';
        for (const auto& f : *part) {
            plan_key += f.column;
            plan_key += '\0';
        }
    }
    plan_key += '\x01';
    for (const auto& k : r.keys) {
        plan_key += k;
        plan_key += '\0';
    }
    auto it = plans_.find(plan_key);
    if (it == plans_.end()) {
        auto plan = make_plan(r, diag);
        if (!plan)
            return plan.error();
        it = plans_.emplace(plan_key, std::move(plan).value()).first;
    }
    const write_plan& plan = it->second;
    wb::keyed_write w;
    w.table = plan.table;
    w.priority = plan.priority;
    w.entry.kind = r.kind;
    w.entry.key = plan.key;
    w.entry.columns = plan.columns;
    for (auto index : plan.key_fields) {
        if (r.first[index].v.is_null())
            return invalid(diag, errc::invalid_key,
                           "key column '" + r.first[index].column + "' is NULL");
        wb::pack(w.key_values, r.first[index].v);
    }
    const row* values = r.kind == write_kind::upsert ? &r.first
                        : r.kind == write_kind::update ? &r.second
                                                        : nullptr;
    if (values)
        for (const auto& f : *values)
            wb::pack(w.entry.values, f.v);
    return w;
}

error_code write_buffer_impl::accept_locked(const request_view& r, diagnostics* diag) {
    if (state_ != state::running)
        return invalid(diag, errc::closed, "the write buffer is not running");
    auto w = canonical_write(r, diag);
    if (!w)
        return w.error();
    // A write to a pending row needs no room; only a new row does.
    const bool room = store_.size() + in_flight_ < options_.max_pending;
    if (!room && !store_.contains(w.value().table, *w.value().entry.key, w.value().key_values))
        return invalid(diag, errc::buffer_full, "the write buffer holds max_pending rows");
    const bool merged = store_.apply(std::move(w).value());
    ++accepted_;
    if (merged)
        ++coalesced_;
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

template <class... Args>
void write_buffer_impl::complete(asio::any_completion_handler<void(Args...)> handler, Args... args) {
    // Through the strand, so that a handler never runs inside its own initiation.
    asio::post(strand_, [h = std::move(handler), args...]() mutable {
        auto ex = asio::get_associated_executor(h);
        asio::dispatch(ex, [h = std::move(h), args...]() mutable { std::move(h)(args...); });
    });
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
    std::lock_guard lock(mutex_);
    schema_ = std::move(fresh).value();
    plans_.clear(); // names are checked again against the new schema
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
                asio::co_spawn(self->strand_, self->flusher(), asio::detached);
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

// ---- flushing ------------------------------------------------------------------------------

std::chrono::steady_clock::duration write_buffer_impl::next_wait() const {
    if (failed_rounds_in_a_row_ > 0) // back off after failures, per the policy
        return options_.retry.delay_before(failed_rounds_in_a_row_ - 1);
    return options_.flush_interval;
}

asio::awaitable<void> write_buffer_impl::flusher() {
    for (;;) {
        bool wait = true;
        {
            std::lock_guard lock(mutex_);
            if (state_ == state::stopped)
                co_return;
            // A wake during a failure's backoff only counts for a forced flush or a stop.
            wait = !wake_requested_ ||
                   (failed_rounds_in_a_row_ > 0 && force_waiters_.empty() && state_ == state::running);
            wake_requested_ = false;
        }
        if (wait) {
            timer_.expires_after(next_wait());
            co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        std::vector<asio::any_completion_handler<void(error_code, std::size_t)>> forced;
        bool stopping = false;
        {
            std::lock_guard lock(mutex_);
            if (state_ == state::stopped)
                co_return;
            wake_requested_ = false;
            forced.swap(force_waiters_);
            stopping = state_ == state::stopping;
        }
        const auto started = clock::now();
        const round_result round = co_await flush_round();
        const auto latency = micros(clock::now() - started);
        last_latency_us_ = latency;
        if (latency > max_latency_us_)
            max_latency_us_ = latency;
        failed_rounds_in_a_row_ = round.error ? failed_rounds_in_a_row_ + 1 : 0;
        for (auto& h : forced)
            complete(std::move(h), round.error, round.written);
        if (!stopping)
            continue;

        std::size_t left = 0;
        {
            std::lock_guard lock(mutex_);
            left = store_.size();
            if (left > 0 && (!round.error || failed_rounds_in_a_row_ <= options_.retry.max_retries)) {
                wake_requested_ = !round.error; // flush again now, or after the backoff
                continue;
            }
        }
        stop_report report = unwritten_rows(round.error);
        report.written = flushed_; // all rows this buffer ever wrote
        std::optional<asio::any_completion_handler<void(error_code, stop_report)>> h;
        {
            std::lock_guard lock(mutex_);
            state_ = state::stopped;
            h.swap(stop_handler_);
        }
        const error_code outcome = report.unwritten.empty() ? error_code() : round.error;
        if (h)
            complete(std::move(*h), outcome, std::move(report));
        co_return;
    }
}

stop_report write_buffer_impl::unwritten_rows(const error_code& why) {
    stop_report report;
    std::vector<wb::flushing_table> tables;
    {
        std::lock_guard lock(mutex_);
        tables = store_.take_all();
    }
    for (auto& t : tables)
        for (auto& r : t.rows)
            report.unwritten.push_back(
                {t.name, r.entry.kind, describe(r), why, "not written before the buffer stopped"});
    if (!report.unwritten.empty())
        log_(log_level::error, "write buffer stopped with " +
                                   std::to_string(report.unwritten.size()) +
                                   " rows it could not write (" + why.message() + ")");
    return report;
}

asio::awaitable<write_buffer_impl::round_result> write_buffer_impl::flush_round() {
    std::vector<wb::flushing_table> tables;
    {
        std::lock_guard lock(mutex_);
        tables = store_.take_all();
        for (const auto& t : tables)
            in_flight_ += t.rows.size();
    }
    round_result out;
    for (std::size_t ti = 0; ti < tables.size(); ++ti) {
        auto& table = tables[ti];
        wb::order_for_statements(table);
        for (std::size_t begin = 0; begin < table.rows.size(); begin += options_.batch_size) {
            const std::size_t end = std::min(table.rows.size(), begin + options_.batch_size);
            // One transaction per chunk: the writer is free for other writes in between.
            auto written = co_await db_.async_write(
                [&](connection& c) { return wb::write_rows(c, table, begin, end); }, use_result);
            error_code ec = written ? error_code() : written.error();
            std::size_t done = written ? written.value() : 0;
            if (ec && !wb::is_transient(ec)) {
                // A row of its own cannot be written: find which, write the others.
                auto isolated = co_await db_.async_write(
                    [&](connection& c) { return wb::write_rows_isolated(c, table, begin, end); },
                    use_result);
                ec = isolated ? error_code() : isolated.error();
                if (isolated) {
                    done = isolated.value().written;
                    for (auto& f : isolated.value().failures)
                        bury(table.name, table.rows[f.index], f.error, std::move(f.message));
                }
            }
            if (ec) {
                ++failures_;
                log_(log_level::warn, "write buffer flush failed, rows kept for later: " + ec.message());
                put_back(tables, ti, begin);
                out.error = ec;
                admit_waiters();
                co_return out;
            }
            ++flushes_;
            flushed_ += done;
            out.written += done;
            {
                std::lock_guard lock(mutex_);
                in_flight_ -= end - begin;
            }
            admit_waiters();
        }
    }
    co_return out;
}

void write_buffer_impl::put_back(std::vector<wb::flushing_table>& tables, std::size_t table,
                                 std::size_t from) {
    std::lock_guard lock(mutex_);
    for (std::size_t ti = table; ti < tables.size(); ++ti) {
        auto& t = tables[ti];
        const std::size_t first = ti == table ? from : 0;
        wb::flushing_table rest{t.name, t.priority, {}};
        for (std::size_t i = first; i < t.rows.size(); ++i)
            if (t.rows[i].entry.key) // rows buried as dead letters are gone
                rest.rows.push_back(std::move(t.rows[i]));
        in_flight_ -= t.rows.size() - first;
        store_.put_back(std::move(rest));
    }
}

void write_buffer_impl::bury(const std::string& table, wb::flushing_row& r, const error_code& ec,
                             std::string message) {
    dead_letter d{table, r.entry.kind, describe(r), ec, std::move(message)};
    ++dead_letters_;
    log_(log_level::error, "write buffer dead letter in '" + table + "': " + ec.message() +
                               (d.message.empty() ? "" : " (" + d.message + ")"));
    if (options_.on_dead_letter) {
        try {
            options_.on_dead_letter(d);
        } catch (...) { // a failing callback must not lose the other rows
        }
    }
    std::lock_guard lock(mutex_);
    dead_.push_back(std::move(d));
    while (dead_.size() > options_.max_dead_letters)
        dead_.pop_front();
}

write_buffer_metrics write_buffer_impl::metrics() const {
    write_buffer_metrics m;
    {
        std::lock_guard lock(mutex_);
        m.pending = store_.size() + in_flight_;
    }
    m.accepted = accepted_;
    m.coalesced = coalesced_;
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

void write_buffer::start(asio::any_completion_handler<void(error_code)> handler) {
    impl_->start(std::move(handler));
}
void write_buffer::stop(asio::any_completion_handler<void(error_code, stop_report)> handler) {
    impl_->stop(std::move(handler));
}
void write_buffer::force_flush(asio::any_completion_handler<void(error_code, std::size_t)> handler) {
    impl_->force_flush(std::move(handler));
}
void write_buffer::write(write_kind kind, std::string table, row first, column_names keys,
                         row second, asio::any_completion_handler<void(error_code)> handler) {
    impl_->write({kind, std::move(table), std::move(first), std::move(keys), std::move(second)},
                 std::move(handler));
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
