// SPDX-License-Identifier: BSL-1.0
// SQLite's allocations failing, one at a time (N = 1, 2, ...) or from the Nth on, during group
// commits and opens. The allocator can only be replaced before SQLite initializes, hence a
// process of its own. Checks: every caller gets an answer (success or an error with a message),
// nothing crashes or hangs, a job's rows are all there or none, acknowledged jobs are there,
// and once allocations succeed again the same database writes again.
#include "reliability/child_modes.hpp"
#include "support/run.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>

#include <boost/asio/detached.hpp>

#include <sqlite3.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

namespace sqlite_hybrid::test {

namespace asio = boost::asio;

namespace {

sqlite3_mem_methods real_allocator;
std::atomic<long long> fail_at{0}; // 0: disarmed
std::atomic<bool> fail_persistently{false};
std::atomic<long long> allocations{0};
std::atomic<long long> failed{0};

bool fail_this_one() {
    const long long target = fail_at.load();
    if (target == 0)
        return false;
    const long long n = ++allocations;
    if (n == target || (n > target && fail_persistently.load())) {
        ++failed;
        return true;
    }
    return false;
}

void* failing_malloc(int size) {
    return fail_this_one() ? nullptr : real_allocator.xMalloc(size);
}
void* failing_realloc(void* p, int size) {
    return fail_this_one() ? nullptr : real_allocator.xRealloc(p, size);
}

bool install_failing_allocator() {
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_allocator) != SQLITE_OK)
        return false;
    sqlite3_mem_methods failing = real_allocator;
    failing.xMalloc = failing_malloc;
    failing.xRealloc = failing_realloc;
    return sqlite3_config(SQLITE_CONFIG_MALLOC, &failing) == SQLITE_OK;
}

void arm(long long n, bool persistent) {
    allocations = 0;
    failed = 0;
    fail_persistently = persistent;
    fail_at = n;
}
bool disarm() { // whether any allocation failed since arm()
    fail_at = 0;
    return failed > 0;
}

constexpr long long max_points = 20000;

struct scenario_result {
    long long points = 0;
    std::map<std::string, int> errors;
    int violations = 0;

    void violation(const std::string& what) {
        ++violations;
        std::fprintf(stderr, "violation: %s\n", what.c_str());
    }
    void answer(const error_code& ec, const std::string& who) {
        if (!ec)
            return;
        ++errors[ec.message()];
        if (ec.message().empty())
            violation(who + " failed without a message");
    }
    // Counts a point that reached a failure; false when the scenario is done.
    bool another_point(bool hit) {
        if (!hit)
            return false;
        if (++points < max_points)
            return true;
        violation("allocations still fail after " + std::to_string(max_points) + " points");
        return false;
    }
    std::string summary() const {
        std::string out;
        for (const auto& [message, n] : errors)
            out += (out.empty() ? "" : "; ") + message + " x" + std::to_string(n);
        return out.empty() ? "none" : out;
    }
};

database_options schema() {
    database_options o;
    o.readers = 1;
    o.log = null_logger();
    o.max_group_duration = std::chrono::microseconds(0);
    o.migrations = {"CREATE TABLE jobs(job INTEGER NOT NULL, part INTEGER NOT NULL, "
                    "  PRIMARY KEY(job, part));"};
    return o;
}

// Six jobs (four writes of three rows, two single-row executes) with allocations failing.
void group_commit(const std::string& path, bool persistent, scenario_result& out) {
    asio::io_context io;
    auto db = open_database(io, path, schema());
    constexpr int jobs = 6, parts = 3;
    long long next_job = 0;
    for (long long n = 1;; ++n) {
        const long long first = next_job;
        next_job += jobs;
        std::vector<error_code> outcome(jobs);
        int done = 0;
        arm(n, persistent);
        for (int j = 0; j < jobs; ++j)
            asio::co_spawn(
                io,
                [&, j]() -> asio::awaitable<void> {
                    const long long job = first + j;
                    if (j < 4) {
                        auto r = co_await db.async_write(
                            [job](connection& c) -> result<void> {
                                for (int part = 0; part < parts; ++part)
                                    if (auto inserted = c.execute(
                                            "INSERT INTO jobs(job, part) VALUES(?, ?)", job, part);
                                        !inserted)
                                        return inserted.error();
                                return outcome::success();
                            },
                            as_result);
                        outcome[j] = r ? error_code() : r.error();
                    } else {
                        auto r = co_await db.async_execute(
                            "INSERT INTO jobs(job, part) VALUES(?, 0)", args(job), as_result);
                        outcome[j] = r ? error_code() : r.error();
                    }
                    ++done;
                },
                asio::detached);
        run(io, until(io, [&] { return done == jobs; }));
        const bool hit = disarm();
        for (int j = 0; j < jobs; ++j)
            out.answer(outcome[j], "job " + std::to_string(first + j));

        auto later = run(
            io, db.async_execute("INSERT INTO jobs(job, part) VALUES(?, 0)", args(-n), as_result));
        if (!later)
            out.violation("point " + std::to_string(n) +
                          ": a write after the failures failed: " + later.error().message());
        auto counts = run(io, db.async_query<std::tuple<long long, int>>(
                                  "SELECT job, count(*) FROM jobs WHERE job >= ? AND job < ? "
                                  "GROUP BY job",
                                  args(first, first + jobs), as_result));
        if (!counts) {
            out.violation("reading back failed: " + counts.error().message());
        } else {
            std::map<long long, int> rows;
            for (auto [job, count] : counts.value())
                rows[job] = count;
            for (int j = 0; j < jobs; ++j) {
                const int expected = j < 4 ? parts : 1;
                const int present = rows[first + j];
                if (!outcome[j] && present != expected)
                    out.violation("point " + std::to_string(n) + ": acknowledged job " +
                                  std::to_string(first + j) + " has " + std::to_string(present) +
                                  " rows");
                if (present != 0 && present != expected)
                    out.violation("point " + std::to_string(n) + ": job " +
                                  std::to_string(first + j) + " is half there");
            }
        }
        if (!out.another_point(hit))
            break;
    }
    run(io, db.async_close());
    auto c = connection::open(path, open_mode::read_write, {});
    if (!c || c.value().query_one<std::string>("PRAGMA integrity_check").value() != "ok")
        out.violation("integrity check failed after the group commits");
}

// Opening a fresh file (WAL switch, migrations, readers) with allocations failing. An open makes
// over a thousand allocations: from the Nth on, every `stride`th N is enough (the first failure
// is the same as in the one-failure run; what differs is the error paths failing too).
void open_fresh(const std::string& dir, bool persistent, scenario_result& out) {
    const long long stride = persistent ? 4 : 1;
    for (long long n = 1;; n += stride) {
        const auto path = dir + "/open-" + std::to_string(n) + ".db";
        asio::io_context io;
        auto options = schema();
        diagnostics diag;
        arm(n, persistent);
        auto r = run(io, database::async_open(io.get_executor(), path, options, diag, as_result));
        const bool hit = disarm();
        if (r) {
            auto w = run(io, r.value().async_execute("INSERT INTO jobs(job, part) VALUES(1, 0)", {},
                                                     as_result));
            if (!w)
                out.violation(
                    "point " + std::to_string(n) +
                    ": a database opened under failures cannot write: " + w.error().message());
            run(io, r.value().async_close());
        } else {
            out.answer(r.error(), "open");
        }
        auto again = run(io, database::async_open(io.get_executor(), path, options, as_result));
        if (!again)
            out.violation("point " + std::to_string(n) +
                          ": reopening failed: " + again.error().message());
        else
            run(io, again.value().async_close());
        if (!out.another_point(hit))
            break;
    }
}

} // namespace

int malloc_faults(const std::string& dir) try {
    if (!install_failing_allocator()) {
        std::fprintf(stderr, "cannot install the failing allocator\n");
        return 2;
    }
    int violations = 0;
    for (const bool persistent : {false, true}) {
        const char* mode = persistent ? "persistent" : "transient";
        scenario_result writes;
        group_commit(dir + "/writes-" + mode + ".db", persistent, writes);
        scenario_result opens;
        open_fresh(dir, persistent, opens);
        const std::pair<const char*, scenario_result*> scenarios[] = {{"group_commit", &writes},
                                                                      {"open", &opens}};
        for (const auto& [name, r] : scenarios) {
            std::printf("malloc_faults scenario=%s mode=%s points=%lld errors=%s\n", name, mode,
                        r->points, r->summary().c_str());
            violations += r->violations;
        }
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
            std::filesystem::remove(entry.path(), ec);
    }
    std::fflush(stdout);
    return violations == 0 ? 0 : 1;
} catch (const std::exception& e) { // a hang (run() gives up) or an unexpected throw
    std::fprintf(stderr, "malloc faults failed: %s\n", e.what());
    return 3;
}

} // namespace sqlite_hybrid::test
