// SPDX-License-Identifier: BSL-1.0
// The flusher: a coroutine on the buffer's strand that takes the pending rows and writes them
// through the database's writer, chunk after chunk.
#include "write_buffer_impl.hpp"

#include "row_codec.hpp"

#include <sqlite_hybrid/as_result.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace sqlite_hybrid::detail {

namespace {

using clock = std::chrono::steady_clock;
constexpr auto use_result = as_result(asio::use_awaitable);

std::uint64_t micros(clock::duration d) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

// The columns and packed values of a pending row, as a dead letter shows them.
row describe(const wb::flushing_table& t, const wb::pending_row& r) {
    row out;
    auto add = [&out](const wb::shape& s, std::string_view packed) {
        auto values = wb::unpack(packed);
        for (std::size_t i = 0; i < s.columns.size() && i < values.size(); ++i)
            out.push_back({s.columns[i], values[i].to_value()});
    };
    if (r.kind != write_kind::upsert) // an upsert's row holds its key already
        add(*r.key, t.key_values(r));
    if (const auto* prior = t.prior(r))
        add(*prior->columns, prior->values);
    if (r.columns)
        add(*r.columns, t.values(r));
    return out;
}

} // namespace

// ---- the flusher ---------------------------------------------------------------------------

std::chrono::steady_clock::duration write_buffer_impl::next_wait() const {
    if (failed_rounds_in_a_row_ > 0) // back off after failures, per the policy
        return options_.retry.delay_before(failed_rounds_in_a_row_ - 1);
    return options_.flush_interval;
}

asio::awaitable<void> write_buffer_impl::flusher(std::shared_ptr<write_buffer_impl> self) {
    (void)self; // keeps the buffer alive while the flusher runs
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
        // A forced flush that buried rows says so: never a plain success for rows it dropped.
        const error_code forced_outcome =
            round.error ? round.error
                        : round.dead ? make_error_code(errc::rows_dead_lettered) : error_code();
        for (auto& h : forced)
            complete(std::move(h), forced_outcome, round.written);
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


// ---- writing a round, chunk by chunk -------------------------------------------------------

// Runs chunks one after the other, each its own async_write: one transaction, and the writer
// takes whatever else is queued between two chunks. The next chunk is queued from the
// completion of the last one, on the writer's thread (an inline executor), rather than after a
// trip through the buffer's strand: that strand's executor may be busy running the very
// producers that fill the buffer, and the writer would sit idle meanwhile.
class write_buffer_impl::chunk_chain : public std::enable_shared_from_this<chunk_chain> {
public:
    template <class Handler>
    chunk_chain(std::shared_ptr<write_buffer_impl> self, std::vector<wb::flushing_table>& tables,
                position from, Handler&& done)
        : self_(std::move(self)), tables_(tables), at_(from), done_(std::forward<Handler>(done)) {}

    void next() {
        if (at_.table == tables_.size()) {
            finish();
            return;
        }
        const auto& table = tables_[at_.table];
        const std::size_t begin = at_.row;
        const std::size_t end = std::min(table.rows.size(), begin + self_->options_.batch_size);
        self_->db_.async_write(
            [&sql = self_->statements_, &table, begin, end](connection& c) {
                return wb::write_rows(c, sql, table, begin, end);
            },
            asio::bind_executor(asio::system_executor(),
                                [me = shared_from_this(), begin, end](error_code ec,
                                                                      std::size_t n) {
                                    me->written(begin, end, ec, n);
                                }));
    }

private:
    void written(std::size_t begin, std::size_t end, error_code ec, std::size_t n) {
        if (ec) {
            result_.error = ec;
            result_.failed = {at_.table, begin};
            result_.failed_end = end;
            finish();
            return;
        }
        result_.written += n;
        self_->chunk_written(end - begin, n);
        at_ = self_->after(tables_, at_.table, end);
        next();
    }

    void finish() {
        asio::post(self_->strand_,
                   [h = std::move(done_), r = result_]() mutable { std::move(h)(r); });
    }

    std::shared_ptr<write_buffer_impl> self_;
    std::vector<wb::flushing_table>& tables_;
    position at_;
    chunks_result result_;
    asio::any_completion_handler<void(chunks_result)> done_;
};

write_buffer_impl::position write_buffer_impl::after(const std::vector<wb::flushing_table>& tables,
                                                     std::size_t table, std::size_t row) {
    if (row < tables[table].rows.size())
        return {table, row};
    return {table + 1, 0};
}

asio::awaitable<write_buffer_impl::chunks_result>
write_buffer_impl::write_chunks(std::vector<wb::flushing_table>& tables, position from) {
    auto token = asio::use_awaitable;
    co_return co_await asio::async_initiate<decltype(token), void(chunks_result)>(
        [&](auto handler) {
            std::make_shared<chunk_chain>(shared_from_this(), tables, from, std::move(handler))
                ->next();
        },
        token);
}

void write_buffer_impl::chunk_written(std::size_t rows, std::size_t written) {
    ++flushes_;
    flushed_ += written;
    {
        std::lock_guard lock(mutex_);
        in_flight_ -= rows;
    }
    admit_waiters();
}

asio::awaitable<write_buffer_impl::round_result> write_buffer_impl::flush_round() {
    std::vector<wb::flushing_table> tables;
    std::shared_ptr<const wb::schema> schema;
    {
        std::lock_guard lock(mutex_);
        tables = store_.take_all();
        schema = schema_;
        for (const auto& t : tables)
            in_flight_ += t.rows.size();
    }
    tables = wb::in_foreign_key_order(std::move(tables), *schema);
    for (auto& t : tables) {
        // Sorting by key pays when a table takes several chunks: each then covers a narrow range.
        wb::order_for_statements(t, t.rows.size() > options_.batch_size);
        if (const auto* info = schema->find(t.name); info && wb::replaces_in_place(*schema, *info)) {
            t.whole_row = &info->columns_in_order;
            t.schema_generation = schema->generation;
        }
    }
    round_result out;
    position at;
    while (at.table < tables.size()) {
        const chunks_result chunks = co_await write_chunks(tables, at);
        out.written += chunks.written;
        if (!chunks.error)
            break;
        auto& table = tables[chunks.failed.table];
        const std::size_t begin = chunks.failed.row, end = chunks.failed_end;
        error_code ec = chunks.error;
        if (!wb::is_transient(ec)) {
            // A row of its own cannot be written: find which, write the others.
            auto isolated = co_await db_.async_write(
                [&](connection& c) {
                    return wb::write_rows_isolated(c, statements_, table, begin, end);
                },
                use_result);
            ec = isolated ? error_code() : isolated.error();
            if (isolated) {
                for (auto& f : isolated.value().failures)
                    bury(table, table.at(f.index), f.error, std::move(f.message));
                out.dead += isolated.value().failures.size();
                out.written += isolated.value().written;
                chunk_written(end - begin, isolated.value().written);
            }
        }
        if (ec) {
            ++failures_;
            log_(log_level::warn, "write buffer flush failed, rows kept for later: " + ec.message());
            put_back(tables, chunks.failed);
            out.error = ec;
            admit_waiters();
            co_return out;
        }
        at = after(tables, chunks.failed.table, end);
    }
    co_return out;
}

void write_buffer_impl::put_back(std::vector<wb::flushing_table>& tables, position from) {
    std::lock_guard lock(mutex_);
    for (std::size_t ti = from.table; ti < tables.size(); ++ti) {
        auto& t = tables[ti];
        const std::size_t first = ti == from.table ? from.row : 0;
        in_flight_ -= t.rows.size() - first;
        store_.put_back(t, first);
    }
}

void write_buffer_impl::bury(const wb::flushing_table& table, const wb::pending_row& r,
                             const error_code& ec, std::string message) {
    dead_letter d{table.name, r.kind, describe(table, r), ec, std::move(message)};
    ++dead_letters_;
    log_(log_level::error, "write buffer dead letter in '" + table.name + "': " + ec.message() +
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

stop_report write_buffer_impl::unwritten_rows(const error_code& why) {
    stop_report report;
    std::vector<wb::flushing_table> tables;
    {
        std::lock_guard lock(mutex_);
        tables = store_.take_all();
    }
    for (const auto& t : tables)
        for (const auto& r : t.rows)
            report.unwritten.push_back(
                {t.name, r.kind, describe(t, r), why, "not written before the buffer stopped"});
    if (!report.unwritten.empty())
        log_(log_level::error, "write buffer stopped with " +
                                   std::to_string(report.unwritten.size()) +
                                   " rows it could not write (" + why.message() + ")");
    return report;
}

} // namespace sqlite_hybrid::detail
