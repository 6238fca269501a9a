// contention_bench: lock contention between P processes x C coroutines on one SQLite file. Every
// coroutine does acknowledged single-row INSERTs of its own unique keys
// (process * 10^9 + coroutine * 10^6 + n) for a fixed time, with one of these strategies:
//
//   naive         a raw connection per coroutine (busy_timeout 0) runs BEGIN IMMEDIATE; INSERT;
//                 COMMIT synchronously on the io_context thread; SQLITE_BUSY is surfaced.
//   busy_timeout  the same with busy_timeout 5000 ms: no errors, but the event loop blocks.
//   seed          the original Python design: a connection per coroutine, busy_timeout 500 ms,
//                 the blocking transaction wrapped in with_retry (default policy: 3 retries).
//   hybrid        the library: one database per process, with_retry(async_execute), 5 s deadline.
//
// The parent creates the table, measures the raw sqlite3 baseline (one connection, single-row
// IMMEDIATE transactions, no contention), then per strategy starts P copies of itself (--child)
// that begin at one common instant. Each child also runs a 1 ms ticker whose worst lateness is
// the event-loop lag. The parent reads the children's results back, merges their latency
// samples, and counts each process's rows in the file: an acknowledged write that is missing is a
// lost row. --hold-lock S adds a helper process (--child-hold) that holds the write lock for S
// seconds in the middle of the run.
//
// Latencies are those of committed writes, from the call to the acknowledgement. The raw
// strategies yield to the event loop first (a request handler runs only when the loop is free),
// so every strategy's latency includes the wait for the loop.
//
// Usage: contention_bench [--processes P] [--coroutines C] [--duration SECONDS]
//                         [--strategy naive|busy_timeout|seed|hybrid|all] [--hold-lock SECONDS]
//                         [--db PATH] [--json FILE]
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/lock_metrics.hpp>
#include <sqlite_hybrid/retry.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/describe/class.hpp>
#include <boost/json.hpp>

#include <spawn.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace json = boost::json;
namespace sh = sqlite_hybrid;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::int64_t kProcessKeys = 1'000'000'000; // keys of one process
constexpr std::int64_t kCoroutineKeys = 1'000'000;   // keys of one coroutine
constexpr const char* kInsertSql = "INSERT INTO kv(k, v) VALUES(?, ?)";
constexpr const char* kStrategies[] = {"naive", "busy_timeout", "seed", "hybrid"};

// Errors come back as values, so that a failed operation is counted instead of thrown.
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct config {
    int processes = 4;
    int coroutines = 16;
    double duration_s = 3.0;
    std::string strategy = "all";
    double hold_lock_s = 0; // 0: no helper holding the lock
    std::string db_path;    // empty: a file in a temporary directory, removed at the end
    std::string json_path;
};

double millis(clock_type::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}
double seconds(clock_type::duration d) {
    return std::chrono::duration<double>(d).count();
}
clock_type::duration from_seconds(double s) {
    return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(s));
}
std::chrono::system_clock::time_point from_epoch_ms(std::int64_t ms) {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

std::string make_value(std::int64_t key) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "value-%013lld", static_cast<long long>(key));
    return buf;
}

std::uint64_t wal_bytes(const std::string& db_path) {
    std::error_code ec;
    const auto size = fs::file_size(db_path + "-wal", ec);
    return ec ? 0 : size;
}

// CPU time (user + system) of this process (RUSAGE_SELF) or its waited-for children.
double cpu_seconds(int who) {
    rusage u{};
    getrusage(who, &u);
    auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return s(u.ru_utime) + s(u.ru_stime);
}

// ---- reports (Boost.Describe gives them their JSON form, files and --json alike) -----------

// What one child process measured (its latency samples travel separately).
struct process_report {
    std::uint64_t committed = 0;
    std::uint64_t errors = 0; // surfaced to the caller
    std::string first_error;
    double elapsed_s = 0;                // from the common start to the last acknowledgement
    double start_skew_ms = 0;            // how late the process was for the common start
    double worst_lag_ms = 0;             // worst lateness of the 1 ms ticker
    double worst_lag_at_s = 0;           // when it happened, from the start
    std::uint64_t wal_bytes_end = 0;     // -wal file size when the duration ended
    std::uint64_t wal_bytes_peak = 0;    // largest -wal size seen (sampled every 50 ms)
    std::uint64_t rows_in_file = 0;      // filled in by the parent
    std::vector<double> lag_timeline_ms; // worst lag in each half second of the run
    json::object metrics; // counters; keys starting with "max_" merge by max, others add up
};
BOOST_DESCRIBE_STRUCT(process_report, (),
                      (committed, errors, first_error, elapsed_s, start_skew_ms, worst_lag_ms,
                       worst_lag_at_s, wal_bytes_end, wal_bytes_peak, rows_in_file, lag_timeline_ms,
                       metrics))

// One strategy: its processes merged, latencies over every committed write.
struct strategy_report : process_report {
    std::string name;
    double ops_per_s = 0; // committed / the longest elapsed
    double ratio = 0;     // ops_per_s / the raw baseline's
    double p50_ms = 0, p99_ms = 0, max_ms = 0;
    std::uint64_t rows_lost = 0;           // acknowledged, not in the file
    std::uint64_t rows_unacknowledged = 0; // in the file, reported as failed
    double other_cpu_s = 0; // CPU time other processes took from the machine meanwhile
    json::array processes;
    json::object hold_lock; // the helper's report, when --hold-lock
};
BOOST_DESCRIBE_STRUCT(strategy_report, (process_report),
                      (name, ops_per_s, ratio, p50_ms, p99_ms, max_ms, rows_lost,
                       rows_unacknowledged, other_cpu_s, processes, hold_lock))
} // namespace
// A described class with a base: Boost.JSON flattens it once asked to.
template <> struct boost::json::is_described_class<strategy_report> : std::true_type {};
namespace {

struct raw_report {
    std::uint64_t committed = 0;
    double ops_per_s = 0;
    double p50_ms = 0, p99_ms = 0, max_ms = 0;
    double other_cpu_s = 0;
};
BOOST_DESCRIBE_STRUCT(raw_report, (), (committed, ops_per_s, p50_ms, p99_ms, max_ms, other_cpu_s))

struct hold_report {
    double acquired_at_s = 0; // from the common start
    double waited_ms = 0;     // to take the lock from the writers
    double held_s = 0;
};
BOOST_DESCRIBE_STRUCT(hold_report, (), (acquired_at_s, waited_ms, held_s))

// Nearest rank percentiles (the smallest latency that at least q of the writes did not
// exceed) of latencies in nanoseconds; sorts them.
template <class Report> void set_latencies(Report& r, std::vector<std::int64_t>& ns) {
    if (ns.empty())
        return;
    std::sort(ns.begin(), ns.end());
    auto at = [&](double q) {
        const auto rank =
            static_cast<std::size_t>(std::max(1.0, std::ceil(q * static_cast<double>(ns.size()))));
        return static_cast<double>(ns[rank - 1]) / 1e6;
    };
    r.p50_ms = at(0.50);
    r.p99_ms = at(0.99);
    r.max_ms = static_cast<double>(ns.back()) / 1e6;
}

// On a shared machine, other processes' CPU time during a run says whether to trust it: the
// machine's busy time (/proc/stat) less this process's and its waited-for children's.
class other_cpu_meter {
public:
    other_cpu_meter() : machine_(machine_seconds()), own_(own_seconds()) {}
    double seconds() const {
        return std::max(0.0, machine_seconds() - machine_ - (own_seconds() - own_));
    }

private:
    static double machine_seconds() {
        std::ifstream in("/proc/stat");
        std::string cpu;
        double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
               steal = 0;
        in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
        return (user + nice + system + irq + softirq + steal) /
               static_cast<double>(sysconf(_SC_CLK_TCK));
    }
    static double own_seconds() { return cpu_seconds(RUSAGE_SELF) + cpu_seconds(RUSAGE_CHILDREN); }

    double machine_, own_;
};

// ---- raw sqlite3 -----------------------------------------------------------------------------

[[noreturn]] void fail_sqlite(sqlite3* db, const std::string& what) {
    throw std::runtime_error(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

// A bare connection with the pragmas the library applies by default (WAL, synchronous=NORMAL,
// cache, mmap; taken from its default options). Set up under a 5 s busy_timeout, so that
// opening never fails while other processes write; `busy_timeout` applies afterwards.
class raw_connection {
public:
    raw_connection(const std::string& path, std::chrono::milliseconds busy_timeout) {
        if (sqlite3_open_v2(path.c_str(), &db_,
                            SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            nullptr) != SQLITE_OK)
            fail_sqlite(db_, "open " + path);
        sqlite3_extended_result_codes(db_, 1);
        const sh::connection_options o;
        const sh::database_options d;
        sqlite3_busy_timeout(db_, 5000);
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=NORMAL");
        exec("PRAGMA cache_size=" + std::to_string(o.cache_size));
        exec("PRAGMA temp_store=MEMORY");
        exec("PRAGMA mmap_size=" + std::to_string(o.mmap_size));
        exec("PRAGMA journal_size_limit=" + std::to_string(o.journal_size_limit));
        exec("PRAGMA wal_autocheckpoint=" + std::to_string(d.checkpoint_threshold_pages));
        sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout.count()));
    }
    raw_connection(const raw_connection&) = delete;
    raw_connection& operator=(const raw_connection&) = delete;
    ~raw_connection() { sqlite3_close_v2(db_); }

    void exec(const std::string& sql) {
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
            fail_sqlite(db_, sql);
    }
    sqlite3* get() const { return db_; }

private:
    sqlite3* db_ = nullptr;
};

class raw_statement {
public:
    raw_statement(sqlite3* db, const std::string& sql) {
        if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) !=
            SQLITE_OK)
            fail_sqlite(db, sql);
    }
    raw_statement(const raw_statement&) = delete;
    raw_statement& operator=(const raw_statement&) = delete;
    ~raw_statement() { sqlite3_finalize(stmt_); }

    sqlite3_stmt* get() const { return stmt_; }
    // Runs to completion and resets: SQLITE_OK, or SQLite's extended result code.
    int run() {
        int rc;
        while ((rc = sqlite3_step(stmt_)) == SQLITE_ROW) {
        }
        sqlite3_reset(stmt_);
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }

private:
    sqlite3_stmt* stmt_ = nullptr;
};

// One connection's blocking single-row transaction, as an application without the library
// writes it: BEGIN IMMEDIATE; INSERT; COMMIT, rolled back on failure.
class raw_inserter {
public:
    raw_inserter(const std::string& path, std::chrono::milliseconds busy_timeout)
        : conn_(path, busy_timeout), begin_(conn_.get(), "BEGIN IMMEDIATE"),
          insert_(conn_.get(), kInsertSql), commit_(conn_.get(), "COMMIT"),
          rollback_(conn_.get(), "ROLLBACK") {}

    // SQLITE_OK once committed, else SQLite's extended result code.
    int insert(std::int64_t key) { return insert_all(std::span(&key, 1)); }

    // All rows in one transaction (the raw ceiling of group commit).
    int insert_all(std::span<const std::int64_t> keys) {
        int rc = begin_.run();
        for (std::size_t i = 0; i < keys.size() && rc == SQLITE_OK; ++i) {
            const std::string value = make_value(keys[i]);
            sqlite3_bind_int64(insert_.get(), 1, keys[i]);
            sqlite3_bind_text(insert_.get(), 2, value.data(), static_cast<int>(value.size()),
                              SQLITE_STATIC);
            rc = insert_.run();
        }
        if (rc == SQLITE_OK)
            rc = commit_.run();
        if (!sqlite3_get_autocommit(conn_.get()))
            (void)rollback_.run();
        return rc;
    }

private:
    raw_connection conn_;
    raw_statement begin_, insert_, commit_, rollback_;
};

// The table every strategy starts from: empty, compacted, WAL truncated.
void reset_table(const std::string& path) {
    raw_connection conn(path, 5000ms);
    conn.exec("DROP TABLE IF EXISTS kv");
    conn.exec("CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    conn.exec("VACUUM");
    conn.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

// Rows in the file per process index (its keys: [p * 10^9, (p + 1) * 10^9)); the last entry
// counts keys of no process.
std::vector<std::uint64_t> rows_per_process(const std::string& path, int processes) {
    raw_connection conn(path, 5000ms);
    raw_statement count(conn.get(), "SELECT k / " + std::to_string(kProcessKeys) +
                                        ", count(*) FROM kv GROUP BY 1");
    std::vector<std::uint64_t> rows(static_cast<std::size_t>(processes) + 1);
    int rc;
    while ((rc = sqlite3_step(count.get())) == SQLITE_ROW) {
        const auto p = sqlite3_column_int64(count.get(), 0);
        const auto n = static_cast<std::uint64_t>(sqlite3_column_int64(count.get(), 1));
        rows[p >= 0 && p < processes ? static_cast<std::size_t>(p) : rows.size() - 1] += n;
    }
    if (rc != SQLITE_DONE)
        fail_sqlite(conn.get(), "count rows");
    return rows;
}

// One connection, IMMEDIATE transactions back to back, no contention. One row each: what one
// writer gets from SQLite on this machine, the yardstick of every strategy. `rows_per_tx` rows,
// each in a key range of its own as the C coroutines of a process write them: what a perfect
// group commit of C writes could reach (its latencies are per transaction).
raw_report measure_raw(const std::string& path, double duration_s, int rows_per_tx = 1) {
    const other_cpu_meter others;
    raw_inserter tx(path, 5000ms);
    std::vector<std::int64_t> ns, keys(static_cast<std::size_t>(rows_per_tx));
    const auto start = clock_type::now();
    const auto deadline = start + from_seconds(duration_s);
    for (auto t0 = start; t0 < deadline; t0 = clock_type::now()) {
        for (std::size_t i = 0; i < keys.size(); ++i)
            keys[i] = static_cast<std::int64_t>(i) * kCoroutineKeys +
                      static_cast<std::int64_t>(ns.size());
        if (const int rc = tx.insert_all(keys); rc != SQLITE_OK)
            throw std::runtime_error(std::string("raw baseline: ") + sqlite3_errstr(rc));
        ns.push_back((clock_type::now() - t0).count());
    }
    raw_report r;
    r.committed = ns.size() * keys.size();
    r.ops_per_s = static_cast<double>(r.committed) / seconds(clock_type::now() - start);
    set_latencies(r, ns);
    r.other_cpu_s = others.seconds();
    return r;
}

// ---- a child process: one strategy, one io_context ------------------------------------------

struct child_config {
    std::string strategy;
    int process = 0;
    int coroutines = 0;
    double duration_s = 0;
    std::int64_t start_ms = 0; // the common start instant, ms since the epoch
    std::string db_path;
    std::string out_path;
};

struct child_state {
    process_report report;
    std::vector<std::int64_t> latencies_ns; // committed writes only
};

// The results file: one line of JSON, then the latency samples as raw int64 nanoseconds.
void write_child_file(const std::string& path, const child_state& s) {
    json::object head = json::value_from(s.report).as_object();
    head["samples"] = s.latencies_ns.size();
    std::ofstream out(path, std::ios::binary);
    out << json::serialize(head) << '\n';
    out.write(reinterpret_cast<const char*>(s.latencies_ns.data()),
              static_cast<std::streamsize>(s.latencies_ns.size() * sizeof(std::int64_t)));
    if (!out)
        throw std::runtime_error("cannot write " + path);
}

child_state read_child_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string line;
    if (!std::getline(in, line))
        throw std::runtime_error("no results in " + path);
    json::object head = json::parse(line).as_object();
    const auto samples = head.at("samples").to_number<std::size_t>();
    head.erase("samples"); // value_to wants exactly the described members
    child_state s{json::value_to<process_report>(json::value(std::move(head))), {}};
    s.latencies_ns.resize(samples);
    in.read(reinterpret_cast<char*>(s.latencies_ns.data()),
            static_cast<std::streamsize>(s.latencies_ns.size() * sizeof(std::int64_t)));
    if (!in)
        throw std::runtime_error("truncated results in " + path);
    return s;
}

// Sleeps until the common start instant; returns how late this process was for it.
double wait_for_start(std::int64_t start_ms) {
    std::this_thread::sleep_until(from_epoch_ms(start_ms));
    const auto late = std::chrono::system_clock::now() - from_epoch_ms(start_ms);
    return std::max(0.0, std::chrono::duration<double, std::milli>(late).count());
}

// Wakes every 1 ms: how late it wakes is how long the event loop was kept from its work.
asio::awaitable<void> ticker(clock_type::time_point start, clock_type::time_point deadline,
                             std::string db_path, process_report& out) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (int tick = 0; clock_type::now() < deadline; ++tick) {
        timer.expires_after(1ms);
        co_await timer.async_wait(asio::use_awaitable);
        const auto now = clock_type::now();
        const double lag = millis(now - timer.expiry());
        if (lag > out.worst_lag_ms) {
            out.worst_lag_ms = lag;
            out.worst_lag_at_s = seconds(now - start);
        }
        // Per half second, to tell the lag during a held lock from the lag around it.
        const auto slot = static_cast<std::size_t>(seconds(now - start) * 2);
        if (out.lag_timeline_ms.size() <= slot)
            out.lag_timeline_ms.resize(slot + 1);
        out.lag_timeline_ms[slot] = std::max(out.lag_timeline_ms[slot], lag);
        if (tick % 50 == 0)
            out.wal_bytes_peak = std::max(out.wal_bytes_peak, wal_bytes(db_path));
    }
    out.wal_bytes_end = wal_bytes(db_path);
    out.wal_bytes_peak = std::max(out.wal_bytes_peak, out.wal_bytes_end);
}

// One coroutine's writes: `insert(key)` awaited back to back until the deadline; it yields an
// empty string once the row is committed, else the error surfaced.
template <class Insert>
asio::awaitable<void> writer(Insert insert, std::int64_t key, clock_type::time_point deadline,
                             child_state& out) {
    for (; clock_type::now() < deadline; ++key) {
        const auto t0 = clock_type::now();
        const std::string failure = co_await insert(key);
        if (failure.empty()) {
            ++out.report.committed;
            out.latencies_ns.push_back((clock_type::now() - t0).count());
        } else if (out.report.errors++ == 0) {
            out.report.first_error = failure;
        }
    }
}

// Waits for the common start, then runs the ticker and C writers on io (this thread only) for
// the duration. `make_insert(i)` gives coroutine i's insert operation.
template <class MakeInsert>
void run_workers(asio::io_context& io, const child_config& c, child_state& out,
                 MakeInsert make_insert) {
    out.report.start_skew_ms = wait_for_start(c.start_ms);
    const auto start = clock_type::now();
    const auto deadline = start + from_seconds(c.duration_s);
    auto rethrow = [](std::exception_ptr e) {
        if (e)
            std::rethrow_exception(e); // out of io.run(): a bench bug
    };
    asio::co_spawn(io, ticker(start, deadline, c.db_path, out.report), rethrow);
    for (int i = 0; i < c.coroutines; ++i) {
        const std::int64_t first_key = c.process * kProcessKeys + i * kCoroutineKeys;
        asio::co_spawn(io, writer(make_insert(i), first_key, deadline, out), rethrow);
    }
    io.restart();
    io.run();
    out.report.elapsed_s = seconds(clock_type::now() - start);
}

json::object retry_metrics() {
    const auto s = sh::global_lock_metrics().snapshot();
    return {{"lock_errors", s.lock_errors},
            {"retries", s.retries},
            {"retry_give_ups", s.failures},
            {"retry_wait_ms", static_cast<double>(s.total_wait.count()) / 1e3}};
}

// naive, busy_timeout and seed: a connection per coroutine, opened before the start.
std::vector<std::unique_ptr<raw_inserter>> open_inserters(const child_config& c,
                                                          std::chrono::milliseconds timeout) {
    std::vector<std::unique_ptr<raw_inserter>> v;
    for (int i = 0; i < c.coroutines; ++i)
        v.push_back(std::make_unique<raw_inserter>(c.db_path, timeout));
    return v;
}

// naive and busy_timeout: the blocking transaction right on the event loop's thread.
void child_blocking(asio::io_context& io, const child_config& c,
                    std::chrono::milliseconds busy_timeout, child_state& out) {
    auto inserters = open_inserters(c, busy_timeout);
    run_workers(io, c, out, [&](int i) {
        return [&io, tx = inserters[static_cast<std::size_t>(i)].get()](
                   std::int64_t key) -> asio::awaitable<std::string> {
            co_await asio::post(io.get_executor(), asio::use_awaitable); // wait for the loop
            const int rc = tx->insert(key);
            co_return rc == SQLITE_OK ? std::string() : std::string(sqlite3_errstr(rc));
        };
    });
}

// The seed's pattern: the blocking transaction as an awaitable that throws, retried with
// backoff on a timer by with_retry's default policy.
void child_seed(asio::io_context& io, const child_config& c, child_state& out) {
    auto inserters = open_inserters(c, 500ms);
    run_workers(io, c, out, [&](int i) {
        return [tx = inserters[static_cast<std::size_t>(i)].get()](
                   std::int64_t key) -> asio::awaitable<std::string> {
            auto attempt = [tx, key]() -> asio::awaitable<void> {
                if (const int rc = tx->insert(key); rc != SQLITE_OK)
                    throw boost::system::system_error(sh::make_sqlite_error(rc));
                co_return;
            };
            auto [ec] = co_await sh::with_retry(attempt, sh::retry_policy{}, use_tuple);
            co_return ec ? ec.message() : std::string();
        };
    });
    out.report.metrics = retry_metrics();
}

template <class T> T wait(asio::io_context& io, std::future<T> f) {
    io.restart();
    io.run();
    return f.get();
}

json::object database_metrics(const sh::metrics_snapshot& m) {
    auto o = retry_metrics();
    o["groups"] = m.groups;
    o["grouped_jobs"] = m.grouped_jobs;
    o["max_group"] = m.largest_group;
    o["max_write_queue"] = m.max_write_queue_depth;
    o["busy_waits"] = m.busy_waits;
    o["busy_wait_ms"] = static_cast<double>(m.busy_wait_time.count()) / 1e3;
    o["db_errors"] = m.errors;
    o["checkpoints"] = m.checkpoints;
    o["checkpoints_incomplete"] = m.checkpoints_incomplete;
    o["checkpoint_restarts"] = m.checkpoint_restarts;
    return o;
}

// The library: one database per process (default options), every write through with_retry.
void child_hybrid(asio::io_context& io, const child_config& c, child_state& out) {
    sh::database db = wait(io, sh::database::async_open(io.get_executor(), c.db_path,
                                                        sh::database_options{}, asio::use_future));
    sh::retry_policy policy;
    policy.deadline = 5s;
    run_workers(io, c, out, [&](int) {
        return [&db, &policy](std::int64_t key) -> asio::awaitable<std::string> {
            auto [ec, result] = co_await sh::with_retry(
                [&db, key](auto token) {
                    return db.async_execute(kInsertSql, sh::args(key, make_value(key)),
                                            std::move(token));
                },
                policy, use_tuple);
            co_return ec ? ec.message() : std::string();
        };
    });
    out.report.metrics = database_metrics(db.metrics());
    wait(io, db.async_close(asio::use_future));
}

int run_child(const child_config& c) {
    asio::io_context io(1);
    child_state out;
    if (c.strategy == "naive")
        child_blocking(io, c, 0ms, out);
    else if (c.strategy == "busy_timeout")
        child_blocking(io, c, 5000ms, out);
    else if (c.strategy == "seed")
        child_seed(io, c, out);
    else
        child_hybrid(io, c, out);
    out.report.metrics["cpu_s"] = cpu_seconds(RUSAGE_SELF); // setup included
    write_child_file(c.out_path, out);
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
    hold_report r;
    r.acquired_at_s =
        std::chrono::duration<double>(std::chrono::system_clock::now() - from_epoch_ms(start_ms))
            .count();
    r.waited_ms = millis(acquired - asked);
    std::this_thread::sleep_for(from_seconds(hold_s));
    conn.exec("ROLLBACK");
    r.held_s = seconds(clock_type::now() - acquired);
    std::ofstream(out_path) << json::serialize(json::value_from(r)) << '\n';
    return 0;
}

// ---- the parent ------------------------------------------------------------------------------

pid_t spawn_self(std::vector<std::string> args) {
    args.insert(args.begin(), "contention_bench");
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    if (const int rc = posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ))
        throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
    return pid;
}

bool exited_ok(pid_t pid) {
    int status = 0;
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void merge_metrics(json::object& into, const json::object& from) {
    for (const auto& [key, v] : from) {
        const double x = v.to_number<double>();
        auto it = into.find(key);
        if (it == into.end())
            into[key] = x;
        else if (key.starts_with("max_"))
            it->value() = std::max(it->value().to_number<double>(), x);
        else
            it->value() = it->value().to_number<double>() + x;
    }
}

// Sums the children's counts, merges their samples, and checks their rows in the file.
strategy_report combine(const std::string& name, std::vector<child_state>& children,
                        const std::vector<std::uint64_t>& rows, double raw_ops_per_s) {
    strategy_report r;
    r.name = name;
    std::vector<std::int64_t> samples;
    for (std::size_t p = 0; p < children.size(); ++p) {
        auto& c = children[p].report;
        c.rows_in_file = rows[p];
        r.committed += c.committed;
        r.errors += c.errors;
        r.rows_in_file += c.rows_in_file;
        if (r.first_error.empty())
            r.first_error = c.first_error;
        r.elapsed_s = std::max(r.elapsed_s, c.elapsed_s);
        r.start_skew_ms = std::max(r.start_skew_ms, c.start_skew_ms);
        if (c.worst_lag_ms > r.worst_lag_ms) {
            r.worst_lag_ms = c.worst_lag_ms;
            r.worst_lag_at_s = c.worst_lag_at_s;
        }
        r.lag_timeline_ms.resize(std::max(r.lag_timeline_ms.size(), c.lag_timeline_ms.size()));
        for (std::size_t i = 0; i < c.lag_timeline_ms.size(); ++i)
            r.lag_timeline_ms[i] = std::max(r.lag_timeline_ms[i], c.lag_timeline_ms[i]);
        r.wal_bytes_end = std::max(r.wal_bytes_end, c.wal_bytes_end);
        r.wal_bytes_peak = std::max(r.wal_bytes_peak, c.wal_bytes_peak);
        r.rows_lost += c.committed > rows[p] ? c.committed - rows[p] : 0;
        r.rows_unacknowledged += rows[p] > c.committed ? rows[p] - c.committed : 0;
        merge_metrics(r.metrics, c.metrics);
        r.processes.push_back(json::value_from(c));
        samples.insert(samples.end(), children[p].latencies_ns.begin(),
                       children[p].latencies_ns.end());
        children[p].latencies_ns = {};
    }
    r.rows_unacknowledged += rows.back(); // keys of no process
    r.ops_per_s = r.elapsed_s > 0 ? static_cast<double>(r.committed) / r.elapsed_s : 0;
    r.ratio = raw_ops_per_s > 0 ? r.ops_per_s / raw_ops_per_s : 0;
    set_latencies(r, samples);
    return r;
}

// One strategy: a fresh table, P children (and the lock holder) from one common instant.
strategy_report run_strategy(const config& cfg, const std::string& name, const fs::path& work,
                             double raw_ops_per_s) {
    reset_table(cfg.db_path);
    const other_cpu_meter others;
    // Far enough ahead for every child to start and open its connections first.
    const auto start_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch() + 300ms + cfg.processes * 100ms)
            .count();
    std::vector<pid_t> pids;
    std::vector<std::string> outputs;
    for (int p = 0; p < cfg.processes; ++p) {
        outputs.push_back((work / (name + "." + std::to_string(p) + ".out")).string());
        pids.push_back(spawn_self({"--child", name, std::to_string(p),
                                   std::to_string(cfg.coroutines), std::to_string(cfg.duration_s),
                                   std::to_string(start_ms), cfg.db_path, outputs.back()}));
    }
    const std::string hold_out = (work / (name + ".hold.out")).string();
    if (cfg.hold_lock_s > 0)
        pids.push_back(spawn_self({"--child-hold", cfg.db_path, std::to_string(start_ms),
                                   std::to_string(cfg.duration_s / 2 - cfg.hold_lock_s / 2),
                                   std::to_string(cfg.hold_lock_s), hold_out}));
    bool all_ok = true;
    for (pid_t pid : pids)
        all_ok = exited_ok(pid) && all_ok; // wait for every child, even after a failure
    if (!all_ok)
        throw std::runtime_error("a child process of strategy " + name + " failed");

    std::vector<child_state> children;
    for (const auto& out : outputs)
        children.push_back(read_child_file(out));
    auto r = combine(name, children, rows_per_process(cfg.db_path, cfg.processes), raw_ops_per_s);
    r.other_cpu_s = others.seconds();
    if (cfg.hold_lock_s > 0) {
        std::ifstream in(hold_out);
        std::string line;
        std::getline(in, line);
        r.hold_lock = json::parse(line).as_object();
    }
    return r;
}

// ---- output ----------------------------------------------------------------------------------

struct goal {
    std::string goal;
    bool met = false;
};
BOOST_DESCRIBE_STRUCT(goal, (), (goal, met))

// The goals are about the library: checked on hybrid's figures when it ran.
std::vector<goal> check_goals(const config& cfg, const std::vector<strategy_report>& reports) {
    const auto h = std::find_if(reports.begin(), reports.end(),
                                [](const auto& r) { return r.name == "hybrid"; });
    if (h == reports.end())
        return {};
    if (cfg.hold_lock_s > 0)
        return {{"zero errors surfaced under a held lock (5 s deadline)", h->errors == 0},
                {"event-loop lag <= 2 ms under a held lock", h->worst_lag_ms <= 2.0},
                {"rows lost = 0", h->rows_lost == 0}};
    return {{"zero errors surfaced", h->errors == 0},
            {"aggregate >= 2.5x the raw single-connection commit rate", h->ratio >= 2.5},
            {"p99 <= 5 ms", h->p99_ms <= 5.0},
            {"max <= 25 ms", h->max_ms <= 25.0},
            {"rows lost = 0", h->rows_lost == 0}};
}

std::string describe_metrics(const json::object& m) {
    std::string line;
    char buf[96];
    for (const auto& [key, v] : m) {
        std::snprintf(buf, sizeof buf, "%s%.*s %.6g", line.empty() ? "" : ", ",
                      static_cast<int>(key.size()), key.data(), v.to_number<double>());
        line += buf;
    }
    if (m.contains("groups") && m.at("groups").to_number<double>() > 0) {
        std::snprintf(buf, sizeof buf, ", mean group %.2f",
                      m.at("grouped_jobs").to_number<double>() /
                          m.at("groups").to_number<double>());
        line += buf;
    }
    return line;
}

void print_report(const config& cfg, const raw_report& raw, const raw_report& batched,
                  const std::vector<strategy_report>& reports, const std::vector<goal>& goals) {
    char hold[32] = "off";
    if (cfg.hold_lock_s > 0)
        std::snprintf(hold, sizeof hold, "%g s", cfg.hold_lock_s);
    std::printf("contention_bench: SQLite %s, %u hardware threads, %d processes x %d coroutines, "
                "%g s, hold-lock %s, db %s\n\n",
                sqlite3_libversion(), std::thread::hardware_concurrency(), cfg.processes,
                cfg.coroutines, cfg.duration_s, hold, cfg.db_path.c_str());
    const std::string rule(109, '-');
    std::printf("%-12s %10s %8s %10s %7s %8s %8s %9s %9s %6s %11s\n%s\n", "strategy", "committed",
                "errors", "ops/s", "ratio", "p50 ms", "p99 ms", "max ms", "lag ms", "lost",
                "WAL bytes", rule.c_str());
    const std::string batched_name = "raw tx" + std::to_string(cfg.coroutines);
    for (const auto* r : {&raw, &batched})
        std::printf("%-12s %10llu %8d %10.0f %6.2fx %8.3f %8.3f %9.2f %9s %6s %11s\n",
                    r == &raw ? "raw 1x1" : batched_name.c_str(),
                    static_cast<unsigned long long>(r->committed), 0, r->ops_per_s,
                    r->ops_per_s / raw.ops_per_s, r->p50_ms, r->p99_ms, r->max_ms, "-", "-", "-");
    for (const auto& r : reports)
        std::printf("%-12s %10llu %8llu %10.0f %6.2fx %8.3f %8.3f %9.2f %9.2f %6llu %11llu\n",
                    r.name.c_str(), static_cast<unsigned long long>(r.committed),
                    static_cast<unsigned long long>(r.errors), r.ops_per_s, r.ratio, r.p50_ms,
                    r.p99_ms, r.max_ms, r.worst_lag_ms,
                    static_cast<unsigned long long>(r.rows_lost),
                    static_cast<unsigned long long>(r.wal_bytes_end));
    std::printf("%s\n", rule.c_str());
    std::printf("%-12s other processes' CPU %.2f s (and %.2f s during %s)\n", "raw 1x1",
                raw.other_cpu_s, batched.other_cpu_s, batched_name.c_str());
    for (const auto& r : reports) {
        std::printf("%-12s WAL peak %llu bytes, elapsed %.2f s, start skew %.1f ms, worst lag at "
                    "t=%.3f s, %llu rows in the file not acknowledged, other processes' CPU "
                    "%.2f s\n",
                    r.name.c_str(), static_cast<unsigned long long>(r.wal_bytes_peak), r.elapsed_s,
                    r.start_skew_ms, r.worst_lag_at_s,
                    static_cast<unsigned long long>(r.rows_unacknowledged), r.other_cpu_s);
        if (r.errors)
            std::printf("%-12s first error: %s\n", "", r.first_error.c_str());
        std::printf("%-12s worst lag per 0.5 s (ms):", "");
        for (double lag : r.lag_timeline_ms)
            std::printf(" %.1f", lag);
        std::printf("\n");
        std::printf("%-12s %s\n", "", describe_metrics(r.metrics).c_str());
        if (!r.hold_lock.empty()) {
            const auto h = json::value_to<hold_report>(json::value(r.hold_lock));
            std::printf("%-12s lock held %.2f s from t=%.2f s (waited %.1f ms to take it)\n", "",
                        h.held_s, h.acquired_at_s, h.waited_ms);
        }
    }
    std::printf("\n%s: one connection, %d rows per transaction, each row in a key range of its\n"
                "own (as a process's coroutines write them): the ceiling of group commit here\n"
                "(latencies per transaction).\n",
                batched_name.c_str(), cfg.coroutines);
    std::printf("ratio: aggregate committed/s over the raw single-connection rate. lag: worst\n"
                "lateness of a 1 ms timer on a child's io_context. lost: acknowledged writes not\n"
                "in the file. WAL bytes: -wal file size when the duration ended (largest seen).\n"
                "other processes' CPU: what the rest of the machine used meanwhile; a run where\n"
                "it is large measured a shared machine.\n");
    if (!goals.empty())
        std::printf("\ngoals (hybrid, %dx%d%s):\n", cfg.processes, cfg.coroutines,
                    cfg.hold_lock_s > 0 ? ", lock held" : "");
    for (const auto& g : goals)
        std::printf("  %-58s %s\n", g.goal.c_str(), g.met ? "met" : "MISSED");
}

void write_json(const config& cfg, const raw_report& raw, const raw_report& batched,
                const std::vector<strategy_report>& reports, const std::vector<goal>& goals) {
    const json::object doc{{"sqlite_version", sqlite3_libversion()},
                           {"db", cfg.db_path},
                           {"processes", cfg.processes},
                           {"coroutines", cfg.coroutines},
                           {"duration_s", cfg.duration_s},
                           {"hold_lock_s", cfg.hold_lock_s},
                           {"raw", json::value_from(raw)},
                           {"raw_batched", json::value_from(batched)},
                           {"strategies", json::value_from(reports)},
                           {"goals", json::value_from(goals)}};
    std::ofstream out(cfg.json_path);
    out << json::serialize(doc) << '\n';
    if (!out)
        throw std::runtime_error("cannot write " + cfg.json_path);
}

// ---- main ------------------------------------------------------------------------------------

constexpr const char* kUsage =
    "usage: contention_bench [--processes P] [--coroutines C] [--duration SECONDS]\n"
    "                        [--strategy naive|busy_timeout|seed|hybrid|all]\n"
    "                        [--hold-lock SECONDS] [--db PATH] [--json FILE]\n"
    "  --processes   writer processes (default 4)\n"
    "  --coroutines  writing coroutines per process (default 16, at most 999)\n"
    "  --duration    length of each timed run, the raw baseline's too (default 3)\n"
    "  --strategy    which strategy to run (default all)\n"
    "  --hold-lock   a helper process holds the write lock this long, mid-run (default 0: off)\n"
    "  --db          database file to use and keep; its kv table is recreated per strategy\n"
    "                (default: a temporary one, removed)\n"
    "  --json        also write the figures as JSON to FILE\n";

double parse_number(const std::string& option, const std::string& text, double min, double max) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(v >= min && v <= max)) {
        char range[64];
        std::snprintf(range, sizeof range, " wants a number from %g to %g", min, max);
        throw std::invalid_argument(option + range + ", not '" + text + "'");
    }
    return v;
}

int parse_count(const std::string& option, const std::string& text, int max) {
    const double v = parse_number(option, text, 1, max);
    if (v != std::floor(v))
        throw std::invalid_argument(option + " wants a whole number, not '" + text + "'");
    return static_cast<int>(v);
}

std::optional<config> parse_args(int argc, char** argv) {
    config cfg;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h")
            return std::nullopt;
        if (i + 1 >= argc)
            throw std::invalid_argument("missing value after " + arg);
        const std::string val = argv[++i];
        if (arg == "--processes") {
            cfg.processes = parse_count(arg, val, 64);
        } else if (arg == "--coroutines") {
            cfg.coroutines = parse_count(arg, val, 999); // keys: 10^6 per coroutine
        } else if (arg == "--duration") {
            cfg.duration_s = parse_number(arg, val, 0.1, 3600);
        } else if (arg == "--strategy") {
            if (val != "all" && std::none_of(std::begin(kStrategies), std::end(kStrategies),
                                             [&](const char* s) { return val == s; }))
                throw std::invalid_argument("unknown strategy '" + val + "'");
            cfg.strategy = val;
        } else if (arg == "--hold-lock") {
            cfg.hold_lock_s = parse_number(arg, val, 0, 3600);
        } else if (arg == "--db") {
            cfg.db_path = val;
        } else if (arg == "--json") {
            cfg.json_path = val;
        } else {
            throw std::invalid_argument("unknown option " + arg);
        }
    }
    if (cfg.hold_lock_s > cfg.duration_s)
        throw std::invalid_argument("--hold-lock must not be longer than --duration");
    return cfg;
}

int run(config cfg) {
    bench::temp_dir work("contention_bench");
    if (cfg.db_path.empty())
        cfg.db_path = (work.path() / "bench.db").string();
    reset_table(cfg.db_path);
    const raw_report raw = measure_raw(cfg.db_path, cfg.duration_s);
    reset_table(cfg.db_path);
    const raw_report batched = measure_raw(cfg.db_path, cfg.duration_s, cfg.coroutines);

    std::vector<strategy_report> reports;
    for (const char* name : kStrategies)
        if (cfg.strategy == "all" || cfg.strategy == name)
            reports.push_back(run_strategy(cfg, name, work.path(), raw.ops_per_s));

    const auto goals = check_goals(cfg, reports);
    print_report(cfg, raw, batched, reports, goals);
    if (!cfg.json_path.empty())
        write_json(cfg, raw, batched, reports, goals);
    return 0;
}

// The hidden modes a parent starts its children in.
int run_hidden(const std::vector<std::string>& a) {
    if (a[0] == "--child" && a.size() == 8)
        return run_child({a[1], std::stoi(a[2]), std::stoi(a[3]), std::stod(a[4]), std::stoll(a[5]),
                          a[6], a[7]});
    if (a[0] == "--child-hold" && a.size() == 6)
        return run_hold_child(a[1], std::stoll(a[2]), std::stod(a[3]), std::stod(a[4]), a[5]);
    throw std::invalid_argument("bad arguments for " + a[0]);
}

} // namespace

int main(int argc, char** argv) {
    try {
        if (argc > 1 && std::string(argv[1]).starts_with("--child"))
            return run_hidden(std::vector<std::string>(argv + 1, argv + argc));
        auto cfg = parse_args(argc, argv);
        if (!cfg) {
            std::fputs(kUsage, stdout);
            return 0;
        }
        return run(std::move(*cfg));
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "contention_bench: %s\n%s", e.what(), kUsage);
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "contention_bench: %s\n", e.what());
        return 1;
    }
}
