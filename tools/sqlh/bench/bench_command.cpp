// SPDX-License-Identifier: BSL-1.0
// sqlh bench: the baselines, every strategy (and the sweep), then the table or JSON and the
// HTML report.
#include "bench/bench_options.hpp"
#include "bench/child_main.hpp"
#include "bench/report.hpp"
#include "bench/runner.hpp"
#include "commands.hpp"

#include <boost/json/serialize.hpp>
#include <sqlite3.h>

#include <cstdlib>
#include <exception>
#include <fstream>
#include <thread>

namespace sqlh {

namespace {

namespace fs = std::filesystem;
using namespace bench;

std::string machine_description() {
    std::ifstream in("/proc/cpuinfo");
    std::string line, model = "unknown CPU";
    while (std::getline(in, line))
        if (line.starts_with("model name")) {
            model = line.substr(line.find(':') + 2);
            break;
        }
    return model + ", " + std::to_string(std::thread::hardware_concurrency()) +
           " hardware threads";
}

// A scratch directory for the children's result files (and the database unless --db).
class work_dir {
public:
    work_dir() {
        std::string pattern = (fs::temp_directory_path() / "sqlh-bench.XXXXXX").string();
        if (!mkdtemp(pattern.data()))
            throw std::runtime_error("cannot create a temporary directory");
        path_ = pattern;
    }
    work_dir(const work_dir&) = delete;
    work_dir& operator=(const work_dir&) = delete;
    ~work_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

bench_files files_for(const std::string& db_path, const fs::path& work) {
    fs::path log = db_path;
    log.replace_filename(log.stem().string() + "-logs.db");
    return {db_path, log.string(), work};
}

// "\r[2/4] seed  3.1 s of 5 s" on a terminal.
progress_callback progress_line(const bench_config& cfg, int step, int steps,
                                const std::string& label) {
    if (!cfg.progress)
        return {};
    return [=](double elapsed) {
        std::fprintf(stderr, "\r\033[K[%d/%d] %s  %.1f s of %g s", step, steps, label.c_str(),
                     std::min(elapsed, cfg.duration_s), cfg.duration_s);
    };
}

std::vector<int> sweep_counts(int processes) {
    std::vector<int> counts;
    for (int n = 1; n < processes; n *= 2)
        counts.push_back(n);
    counts.push_back(processes);
    return counts;
}

bench_results run(const bench_config& cfg, const bench_files& files) {
    bench_results r;
    r.sqlite_version = sqlite3_libversion();
    r.machine = machine_description();
    r.config = cfg;
    r.baseline = measure_baseline(files, std::min(1.0, cfg.duration_s));
    const auto counts = cfg.sweep ? sweep_counts(cfg.processes) : std::vector<int>{};
    const int steps = static_cast<int>(cfg.strategies.size() * (1 + counts.size()));
    int step = 0;
    for (const auto& name : cfg.strategies)
        r.strategies.push_back(run_strategy(cfg, name, cfg.processes, files, r.baseline,
                                            progress_line(cfg, ++step, steps, name)));
    for (const auto& name : cfg.strategies)
        for (int n : counts) {
            const auto s = run_strategy(cfg, name, n, files, r.baseline,
                                        progress_line(cfg, ++step, steps,
                                                      name + " x" + std::to_string(n)));
            const auto& writes = find_op(s, "api_write");
            r.sweep.push_back({name, n, writes.per_s, writes.p99_ms, s.errors, s.rows_lost});
        }
    if (cfg.progress)
        std::fputs("\r\033[K", stderr);
    return r;
}

} // namespace

int run_bench(int argc, char** argv) {
    try {
        if (is_child_mode(argc, argv))
            return run_child_mode(argc, argv);
        auto parsed = parse_bench_options(argc, argv);
        if (const int* status = std::get_if<int>(&parsed))
            return *status;
        auto& cfg = std::get<bench_config>(parsed);
        const work_dir work;
        if (cfg.db_path.empty())
            cfg.db_path = (work.path() / "bench.db").string();
        const auto results = run(cfg, files_for(cfg.db_path, work.path()));
        if (cfg.json)
            std::printf("%s\n", boost::json::serialize(to_json(results)).c_str());
        else
            print_table(stdout, results);
        if (!cfg.report_path.empty()) {
            std::ofstream out(cfg.report_path);
            out << html_report(results);
            if (!out)
                throw std::runtime_error("cannot write " + cfg.report_path);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sqlh bench: %s\n", e.what());
        return 1;
    }
}

} // namespace sqlh
