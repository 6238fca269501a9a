// SPDX-License-Identifier: BSL-1.0
// Group commit against its model: each job alone, in queue order, in its own transaction.
// Thousands of generated job sequences (inserts that collide, NOT NULL violations, OR ROLLBACK,
// OR FAIL over two rows, RAISE(ROLLBACK) and RAISE(FAIL) triggers, deferred foreign keys left
// unresolved, function jobs that fail halfway, throw, return an error or ignore a failed
// statement, cancellations before and while the group runs, an I/O fault or a full disk at any
// point) go through a real database whose writer is held so that they form groups; the same
// jobs run one by one on a second file. Every job's answer must be its answer in the model (a
// cancelled job, or the one that met the fault: absent) and the files must hold the same rows.
// A failure prints the seed; SQLITE_HYBRID_MODEL_SEED replays it and SQLITE_HYBRID_MODEL_CASES
// sets how many cases run (CI runs the default).
#include "support/fault_vfs.hpp"
#include "support/model_cases.hpp"
#include "support/run.hpp"
#include "support/temp_dir.hpp"
#include "support/writer_gate.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using asio::awaitable;
using sh::test::run;
using sh::test::temp_dir;
using sh::test::until;
using sh::test::writer_gate;

namespace {

const char* schema_sql =
    "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
    "INSERT INTO parent VALUES (1);"
    "CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT NOT NULL,"
    "  p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);"
    "CREATE TABLE audit(k INTEGER, what TEXT);"
    "CREATE TRIGGER kv_audit AFTER INSERT ON kv BEGIN INSERT INTO audit VALUES (new.k, 'ins'); END;"
    "CREATE TABLE boom(x INTEGER);"
    "CREATE TRIGGER boom_rollback BEFORE INSERT ON boom WHEN new.x < 0"
    "  BEGIN SELECT RAISE(ROLLBACK, 'boom rolls back'); END;"
    "CREATE TRIGGER boom_fail AFTER INSERT ON boom WHEN new.x = 0"
    "  BEGIN INSERT INTO audit VALUES (0, 'boom'); SELECT RAISE(FAIL, 'boom fails'); END;";

enum class kind {
    insert,             // may collide, or violate NOT NULL
    insert_or_rollback, // a collision rolls back the whole transaction
    insert_or_fail_two, // the second row may collide: the first stays in the statement
    update,
    boom,               // RAISE(ROLLBACK) for x < 0, RAISE(FAIL) after a change for x = 0
    orphan,             // a deferred foreign key left unresolved (p = 999) or resolved (p = 1)
    function_two,       // two inserts; the second may fail (its error thrown as system_error)
    function_throws,    // an insert, then a non-system exception
    function_returns_error,
    function_ignores_failure, // catches a failed insert and inserts another row
    function_nested_savepoint, // a savepoint of its own, rolled back to, then an insert
};
constexpr int kinds = 11;

struct job_spec {
    kind what;
    int k1, k2;
    bool null_value;
    int x;
    bool cancel_early; // cancelled while queued: must be absent
    int cancel_late_us; // >= 0: cancelled that long after the gate opens (either answer is fine)
};

std::string describe(const job_spec& j) {
    std::ostringstream s;
    s << "kind " << static_cast<int>(j.what) << " k1 " << j.k1 << " k2 " << j.k2 << " null "
      << j.null_value << " x " << j.x << " cancel " << j.cancel_early << "/" << j.cancel_late_us;
    return s.str();
}

sh::error_code code_of(const sh::result<sh::execute_result>& r) {
    return r ? sh::error_code() : r.error();
}

// What a function job does, on the real writer and in the model alike.
struct function_job {
    job_spec spec;
    sh::result<void> operator()(sh::connection& c) const {
        const auto v = std::to_string(spec.k1);
        switch (spec.what) {
        case kind::function_two:
            c.execute("INSERT INTO kv(k, v) VALUES (?, ?)", spec.k1, v).value();
            c.execute("INSERT INTO kv(k, v) VALUES (?, ?)", spec.k2, v).value();
            return sh::outcome::success();
        case kind::function_throws:
            c.execute("INSERT INTO kv(k, v) VALUES (?, ?)", spec.k1, v).value();
            throw std::runtime_error("the job gives up");
        case kind::function_returns_error:
            c.execute("INSERT INTO kv(k, v) VALUES (?, ?)", spec.k1, v).value();
            return make_error_code(sh::errc::invalid_key);
        case kind::function_ignores_failure:
            (void)c.execute("INSERT INTO kv(k, v) VALUES (?, NULL)", spec.k1);
            c.execute("INSERT INTO kv(k, v) VALUES (?, ?)", spec.k2, v).value();
            return sh::outcome::success();
        case kind::function_nested_savepoint:
            c.execute("SAVEPOINT mine").value();
            c.execute("INSERT INTO kv(k, v) VALUES (?, ?)", spec.k1, v).value();
            c.execute("ROLLBACK TO mine").value();
            c.execute("RELEASE mine").value();
            c.execute("INSERT INTO kv(k, v) VALUES (?, ?)", spec.k2, v).value();
            return sh::outcome::success();
        default: return sh::outcome::success();
        }
    }
};

bool is_function(kind k) { return k >= kind::function_two; }

// The single statement of a statement job.
std::pair<std::string, sh::params> statement_of(const job_spec& j) {
    const sh::value v = j.null_value ? sh::value() : sh::value(std::to_string(j.k1));
    switch (j.what) {
    case kind::insert: return {"INSERT INTO kv(k, v) VALUES (?, ?)", sh::args(j.k1, v)};
    case kind::insert_or_rollback:
        return {"INSERT OR ROLLBACK INTO kv(k, v) VALUES (?, ?)", sh::args(j.k1, v)};
    case kind::insert_or_fail_two:
        return {"INSERT OR FAIL INTO kv(k, v) VALUES (?, 'a'), (?, 'b')", sh::args(j.k1, j.k2)};
    case kind::update: return {"UPDATE kv SET v = v || 'u' WHERE k = ?", sh::args(j.k1)};
    case kind::boom: return {"INSERT INTO boom VALUES (?)", sh::args(j.x)};
    case kind::orphan:
        return {"INSERT INTO kv(k, v, p) VALUES (?, 'o', ?)", sh::args(j.k1, j.x < 0 ? 999 : 1)};
    default: return {};
    }
}

// The model: the job alone in its own transaction, on a connection of its own.
sh::error_code run_in_model(sh::connection& c, const job_spec& j) {
    c.execute_script("BEGIN IMMEDIATE").value();
    sh::error_code ec;
    if (is_function(j.what)) {
        try {
            auto r = function_job{j}(c);
            ec = r ? sh::error_code() : r.error();
        } catch (const sh::system_error& e) {
            ec = e.code();
        } catch (...) {
            ec = sh::errc::job_exception;
        }
    } else {
        auto [sql, values] = statement_of(j);
        ec = code_of(c.execute(sql, values));
    }
    if (!c.in_transaction())
        return ec; // rolled back by the statement itself
    if (ec) {
        c.execute_script("ROLLBACK").value();
        return ec;
    }
    if (auto r = c.execute_script("COMMIT"); !r) {
        if (c.in_transaction())
            c.execute_script("ROLLBACK").value();
        return r.error();
    }
    return {};
}

job_spec generate(std::mt19937& rng) {
    job_spec j{};
    j.what = static_cast<kind>(rng() % kinds);
    j.k1 = 1 + static_cast<int>(rng() % 8); // a few keys: collisions are common
    j.k2 = 1 + static_cast<int>(rng() % 8);
    j.null_value = rng() % 6 == 0;
    j.x = static_cast<int>(rng() % 3) - 1;
    j.cancel_early = rng() % 12 == 0;
    j.cancel_late_us = rng() % 12 == 0 ? static_cast<int>(rng() % 2000) : -1;
    return j;
}

using kv_rows = std::vector<std::tuple<std::int64_t, std::string, std::int64_t>>;
using audit_rows = std::vector<std::tuple<std::int64_t, std::string>>;
const char* kv_sql = "SELECT k, v, coalesce(p, -1) FROM kv ORDER BY k";
const char* audit_sql = "SELECT k, what FROM audit ORDER BY k, what";
const char* boom_sql = "SELECT count(*) FROM boom";

struct model_fixture {
    temp_dir dir;
    asio::io_context io;
    sh::database db;
    sh::connection model;

    explicit model_fixture(std::size_t max_group_size)
        : db([&] {
              sh::database_options o;
              o.migrations = {schema_sql};
              o.max_group_size = max_group_size;
              o.max_group_duration = std::chrono::seconds(1); // groups end by size, not time
              return sh::test::open_database(io, sh::test::fault_vfs::uri(dir.file("real.db")), o);
          }()),
          model(sh::connection::open(dir.file("model.db"), sh::open_mode::read_write_create, {})
                    .value()) {
        model.execute_script(schema_sql).value();
        // A statement text seen for the first time is prepared on a reader to learn that it
        // writes, and reaches the writer's queue after jobs submitted later; once known, every
        // write is queued in call order, which is the order the model runs them in.
        for (int k = 0; k < kinds; ++k) {
            job_spec j{};
            j.what = static_cast<kind>(k);
            if (!is_function(j.what)) {
                auto [sql, values] = statement_of(j);
                (void)run(io, db.async_execute(sql, values, sh::as_result));
            }
        }
    }

    void reset() {
        for (const char* sql : {"DELETE FROM kv", "DELETE FROM audit", "DELETE FROM boom"}) {
            run(io, db.async_execute(sql));
            model.execute(sql).value();
        }
    }

    std::vector<std::string> answered; // each job's answer in the last case, for a failure's report
    std::string fault;                 // the fault of the last case, if it had one

    // Runs one case; returns a description of the first difference, or nothing.
    std::optional<std::string> run_case(const std::vector<job_spec>& jobs, std::mt19937& rng) {
        reset();
        writer_gate gate;
        run(io, gate.block(db, io));
        const std::size_t n = jobs.size();
        std::vector<std::optional<sh::error_code>> answers(n);
        std::vector<std::unique_ptr<asio::cancellation_signal>> signals;
        for (std::size_t i = 0; i < n; ++i) {
            signals.push_back(std::make_unique<asio::cancellation_signal>());
            auto handler = asio::bind_cancellation_slot(
                signals.back()->slot(), [&answers, i](sh::error_code ec, auto&&...) { answers[i] = ec; });
            if (is_function(jobs[i].what)) {
                db.async_write(function_job{jobs[i]}, std::move(handler));
            } else {
                auto [sql, values] = statement_of(jobs[i]);
                db.async_execute(std::move(sql), std::move(values), std::move(handler));
            }
        }
        // An I/O fault in one case of four: a write, read or sync that fails once while the
        // group runs (SQLITE_IOERR_* or SQLITE_FULL). The job that meets it answers so and is
        // absent from the model; every other job still answers as alone.
        std::optional<sh::test::armed_faults> faults;
        sh::test::fault_plan plan;
        if (rng() % 4 == 0) {
            plan.fail_at = 1 + rng() % 12;
            plan.error = rng() % 2 ? SQLITE_FULL : 0;
            plan.kinds = plan.error ? sh::test::io_write : sh::test::all_io; // a read is never "full"
        }
        std::vector<std::unique_ptr<asio::steady_timer>> late;
        run(io, [&]() -> awaitable<void> {
            co_await until(io, [&] { return db.metrics().write_queue_depth == n; });
            for (std::size_t i = 0; i < n; ++i)
                if (jobs[i].cancel_early)
                    signals[i]->emit(asio::cancellation_type::terminal);
            for (std::size_t i = 0; i < n; ++i) {
                if (jobs[i].cancel_late_us < 0 || jobs[i].cancel_early)
                    continue;
                late.push_back(std::make_unique<asio::steady_timer>(
                    io, std::chrono::microseconds(jobs[i].cancel_late_us)));
                late.back()->async_wait([&, i](sh::error_code) {
                    if (!answers[i])
                        signals[i]->emit(asio::cancellation_type::terminal);
                });
            }
            if (plan.fail_at)
                faults.emplace(plan);
            gate.open.set_value();
            co_await until(io, [&] {
                for (const auto& a : answers)
                    if (!a)
                        return false;
                return gate.done.load();
            });
            faults.reset();
            for (auto& t : late)
                t->cancel();
        }());
        answered.clear();
        for (const auto& a : answers)
            answered.push_back(a->message() + " [" + a->category().name() + ":" +
                               std::to_string(a->value()) + "]");
        fault = plan.fail_at ? "I/O operation " + std::to_string(plan.fail_at) + " fails with " +
                                   (plan.error ? "SQLITE_FULL" : "SQLITE_IOERR_*")
                             : "none";
        for (std::size_t i = 0; i < n; ++i) {
            const auto real = *answers[i];
            if (plan.fail_at && (real == sh::condition::io_error || real == sh::condition::disk_full))
                continue; // met the fault: absent from the model
            if (jobs[i].cancel_early && real != asio::error::operation_aborted)
                return "job " + std::to_string(i) + " (" + describe(jobs[i]) +
                       ") was cancelled while queued but answered " + real.message();
            if (real == asio::error::operation_aborted && (jobs[i].cancel_early || jobs[i].cancel_late_us >= 0))
                continue; // absent from the model
            const auto expected = run_in_model(model, jobs[i]);
            if (real != expected)
                return "job " + std::to_string(i) + " (" + describe(jobs[i]) + ") answered '" +
                       real.message() + "' [" + real.category().name() + ":" +
                       std::to_string(real.value()) + "], the model '" + expected.message() + "' [" +
                       expected.category().name() + ":" + std::to_string(expected.value()) + "]";
        }
        if (run(io, db.async_query<std::tuple<std::int64_t, std::string, std::int64_t>>(kv_sql)) !=
            model.query<std::tuple<std::int64_t, std::string, std::int64_t>>(kv_sql).value())
            return std::string("the kv rows differ from the model's");
        if (run(io, db.async_query<std::tuple<std::int64_t, std::string>>(audit_sql)) !=
            model.query<std::tuple<std::int64_t, std::string>>(audit_sql).value())
            return std::string("the audit rows differ from the model's");
        if (run(io, db.async_query<int>(boom_sql)) != model.query<int>(boom_sql).value())
            return std::string("the boom rows differ from the model's");
        return std::nullopt;
    }
};

void check_against_model(std::size_t max_group_size) {
    model_fixture f(max_group_size);
    const unsigned seed = sh::test::model_seed();
    const int cases = sh::test::model_cases(1500);
    for (int c = 0; c < cases; ++c) {
        const unsigned case_seed = seed + static_cast<unsigned>(c);
        std::mt19937 rng(case_seed);
        std::vector<job_spec> jobs(1 + rng() % 12);
        for (auto& j : jobs)
            j = generate(rng);
        if (auto difference = f.run_case(jobs, rng)) {
            std::string listing;
            for (std::size_t i = 0; i < jobs.size(); ++i)
                listing += "\n  " + std::to_string(i) + ": " + describe(jobs[i]) + " -> " +
                           f.answered[i];
            FAIL() << *difference << "\nreplay with SQLITE_HYBRID_MODEL_SEED=" << case_seed
                   << " SQLITE_HYBRID_MODEL_CASES=1; fault: " << f.fault << "; jobs:" << listing;
        }
    }
    ::testing::Test::RecordProperty("cases", cases);
    const auto m = f.db.metrics();
    ::testing::Test::RecordProperty("job_reruns", static_cast<int>(m.job_reruns));
    std::printf("[ model    ] %d cases from seed %u: %llu groups, %llu job reruns, %llu lost "
                "transactions\n",
                cases, seed, static_cast<unsigned long long>(m.groups),
                static_cast<unsigned long long>(m.job_reruns),
                static_cast<unsigned long long>(m.transactions_lost));
}

TEST(GroupCommitModel, EveryJobAnswersAsIfItRanAloneInItsOwnTransaction) { check_against_model(512); }

TEST(GroupCommitModel, GroupsSplitBySizeAnswerAsTheModelToo) { check_against_model(3); }

} // namespace
