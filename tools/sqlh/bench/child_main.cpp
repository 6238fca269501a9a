// The hidden modes `sqlh bench` starts copies of itself in: a workload process, and the helper
// that holds the write lock mid-run.
#include "bench/child_main.hpp"

#include "bench/raw_sqlite.hpp"
#include "bench/strategy.hpp"

#include <boost/json.hpp>

#include <sys/resource.h>

#include <fstream>
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
    auto s = c.strategy == "hybrid" ? make_hybrid_strategy(io, c) : make_direct_strategy(io, c);
    child_report out;
    run_workload(io, c, *s, out);
    s.reset();
    out.metrics["cpu_s"] = cpu_seconds(); // setup included
    write_child_report(c.out_path, out);
    return 0;
}

// Takes the write lock `offset_s` after the common start and holds it for `hold_s`. It polls
// instead of using SQLite's busy handler, whose sleeps (up to 100 ms) would let the writers
// keep the lock far past the planned instant.
int run_hold_child(const std::string& db_path, std::int64_t start_ms, double offset_s,
                   double hold_s, const std::string& out_path) {
    raw_connection conn(db_path, 0ms);
    std::this_thread::sleep_until(from_epoch_ms(start_ms) + from_seconds(offset_s));
    const auto asked = clock_type::now();
    int rc;
    while (((rc = sqlite3_exec(conn.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr)) & 0xff) ==
           SQLITE_BUSY)
        std::this_thread::sleep_for(50us);
    if (rc != SQLITE_OK)
        fail_sqlite(conn.get(), "BEGIN IMMEDIATE");
    const auto acquired = clock_type::now();
    const double acquired_at_s =
        std::chrono::duration<double>(std::chrono::system_clock::now() - from_epoch_ms(start_ms))
            .count();
    std::this_thread::sleep_for(from_seconds(hold_s));
    conn.exec("ROLLBACK");
    const json::object r{
        {"acquired_at_s", acquired_at_s},
        {"waited_ms", std::chrono::duration<double, std::milli>(acquired - asked).count()},
        {"held_s", std::chrono::duration<double>(clock_type::now() - acquired).count()}};
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
    if (a[0] == "--child-hold" && a.size() == 6)
        return run_hold_child(a[1], std::stoll(a[2]), std::stod(a[3]), std::stod(a[4]), a[5]);
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
                                        double offset_s, double hold_s,
                                        const std::string& out_path) {
    return {"--child-hold",           db_path, std::to_string(start_ms), std::to_string(offset_s),
            std::to_string(hold_s), out_path};
}

} // namespace sqlh::bench
