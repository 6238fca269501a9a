// SPDX-License-Identifier: BSL-1.0
// The hidden modes `sqlh bench` starts copies of itself in: a workload process, and the helper
// that takes the write lock during the run.
#include "bench/child_main.hpp"

#include "bench/bench_config.hpp"
#include "bench/raw_sqlite.hpp"
#include "bench/strategy.hpp"

#include <boost/json.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

namespace sqlh::bench {

namespace json = boost::json;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return s(u.ru_utime) + s(u.ru_stime);
}

std::chrono::system_clock::time_point from_epoch_ms(std::int64_t ms) {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

clock_type::duration from_seconds(double s) {
    return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(s));
}

int run_workload_child(const child_config& c) {
    boost::asio::io_context io(1);
    auto s = c.strategy == "hybrid" || c.strategy == server_strategy ? make_hybrid_strategy(io, c)
                                                                       : make_direct_strategy(io, c);
    child_report out;
    run_workload(io, c, *s, out);
    s.reset();
    out.metrics["cpu_s"] = cpu_seconds(); // setup included
    write_child_report(c.out_path, out);
    return 0;
}

// When the lock holder takes the write lock, from the common start, and for how long.
struct lock_hold {
    double offset_s = 0;
    double length_s = 0;
};

// One hold: mid-run, for `hold_s`. Several: the run cut into equal slots, one hold at a random
// moment of each, for a random time up to `hold_s` (at most 80 % of the slot, so that the
// writers get the lock back in between).
std::vector<lock_hold> plan_holds(double duration_s, double hold_s, int holds) {
    if (holds <= 1)
        return {{duration_s / 2 - hold_s / 2, hold_s}};
    std::mt19937_64 random{std::random_device{}()};
    const double slot = duration_s / holds;
    std::vector<lock_hold> plan;
    for (int i = 0; i < holds; ++i) {
        const double longest = std::min(hold_s, 0.8 * slot);
        const double length = std::uniform_real_distribution<double>(0.1 * longest, longest)(random);
        const double offset =
            i * slot + std::uniform_real_distribution<double>(0, slot - length)(random);
        plan.push_back({offset, length});
    }
    return plan;
}

// Takes the write lock as planned. It polls instead of using SQLite's busy handler, whose
// sleeps (up to 100 ms) would let the writers keep the lock far past the planned instant.
int run_hold_child(const std::string& db_path, std::int64_t start_ms, double duration_s,
                   double hold_s, int holds, const std::string& out_path) {
    raw_connection conn(db_path, 0ms);
    double first_acquired_at_s = -1, worst_wait_ms = 0, held_s = 0, longest_s = 0;
    for (const auto& hold : plan_holds(duration_s, hold_s, holds)) {
        std::this_thread::sleep_until(from_epoch_ms(start_ms) + from_seconds(hold.offset_s));
        const auto asked = clock_type::now();
        int rc;
        while (((rc = sqlite3_exec(conn.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr)) &
                0xff) == SQLITE_BUSY)
            std::this_thread::sleep_for(50us);
        if (rc != SQLITE_OK)
            fail_sqlite(conn.get(), "BEGIN IMMEDIATE");
        const auto acquired = clock_type::now();
        if (first_acquired_at_s < 0)
            first_acquired_at_s = std::chrono::duration<double>(std::chrono::system_clock::now() -
                                                                from_epoch_ms(start_ms))
                                      .count();
        std::this_thread::sleep_for(from_seconds(hold.length_s));
        conn.exec("ROLLBACK");
        const double held = std::chrono::duration<double>(clock_type::now() - acquired).count();
        held_s += held;
        longest_s = std::max(longest_s, held);
        worst_wait_ms = std::max(
            worst_wait_ms, std::chrono::duration<double, std::milli>(acquired - asked).count());
    }
    const json::object r{{"holds", holds},
                         {"acquired_at_s", first_acquired_at_s},
                         {"waited_ms", worst_wait_ms},
                         {"held_s", held_s},
                         {"longest_s", longest_s}};
    std::ofstream(out_path) << json::serialize(r) << '\n';
    return 0;
}

} // namespace

bool is_child_mode(int argc, char** argv) {
    return argc > 1 && std::string_view(argv[1]).starts_with("--child");
}

int run_child_mode(int argc, char** argv) {
    const std::vector<std::string> a(argv + 1, argv + argc);
    if (a[0] == "--child" && a.size() == 12)
        return run_workload_child({a[1], std::stoi(a[2]), std::stoi(a[3]), std::stoi(a[4]),
                                   std::stoi(a[5]), a[6] == "1", std::stod(a[7]),
                                   std::stoll(a[8]), a[9], a[10], a[11]});
    if (a[0] == "--child-hold" && a.size() == 7)
        return run_hold_child(a[1], std::stoll(a[2]), std::stod(a[3]), std::stod(a[4]),
                              std::stoi(a[5]), a[6]);
    throw std::invalid_argument("bad arguments for " + a[0]);
}

std::vector<std::string> child_arguments(const child_config& c) {
    return {"--child",
            c.strategy,
            std::to_string(c.process),
            std::to_string(c.coroutines),
            std::to_string(c.workers),
            std::to_string(c.reads_per_write),
            c.logs ? "1" : "0",
            std::to_string(c.duration_s),
            std::to_string(c.start_ms),
            c.db_path,
            c.log_path,
            c.out_path};
}

std::vector<std::string> hold_arguments(const std::string& db_path, std::int64_t start_ms,
                                        double duration_s, double hold_s, int holds,
                                        const std::string& out_path) {
    return {"--child-hold",           db_path, std::to_string(start_ms),
            std::to_string(duration_s), std::to_string(hold_s), std::to_string(holds), out_path};
}

} // namespace sqlh::bench
