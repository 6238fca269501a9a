// SPDX-License-Identifier: BSL-1.0
#include "log_path.hpp"

#include <sqlite_hybrid/database_url.hpp>

#include <filesystem>

namespace sqlite_hybrid::detail {
namespace {

namespace fs = std::filesystem;

// The file a path or a "file:" URI names (the URI's query and fragment dropped).
fs::path file_of(const std::string& path) {
    if (!path.starts_with("file:"))
        return path;
    std::string rest = path.substr(5);
    rest = rest.substr(0, rest.find_first_of("?#"));
    if (rest.starts_with("//localhost/"))
        rest.erase(0, 11);
    else if (rest.starts_with("///"))
        rest.erase(0, 2);
    return rest;
}

bool is_memory(const std::string& path) {
    return path.empty() || path == ":memory:" || path.starts_with("file::memory:") ||
           (path.starts_with("file:") && path.find("mode=memory") != std::string::npos) ||
           file_of(path).empty();
}

// Symlinks and "." / ".." resolved as far as the path exists.
fs::path resolved(const fs::path& p) {
    std::error_code ec;
    auto r = fs::weakly_canonical(p, ec);
    return ec ? fs::absolute(p, ec) : r;
}

bool same_file(const fs::path& a, const fs::path& b) {
    if (resolved(a) == resolved(b))
        return true;
    std::error_code ec;
    return fs::equivalent(a, b, ec); // hard links; false when either is missing
}

} // namespace

error_code check_log_path(const std::string& path, const log_database_options& options,
                          std::string& why) {
    if (parse_database_url(path).engine == backend::postgresql) {
        why = "'" + redact_database_url(path) +
              "' is a PostgreSQL server: a log database is an SQLite file of its own";
        return make_error_code(errc::path_refused);
    }
    if (is_memory(path)) {
        if (options.allow_memory)
            return {};
        why = "'" + path +
              "' is not a file: a log database needs one of its own "
              "(log_database_options::allow_memory permits it for tests)";
        return make_error_code(errc::path_refused);
    }
    const auto main = parse_database_url(options.main_database_path);
    if (main.target.empty() || main.engine != backend::sqlite || is_memory(main.target))
        return {}; // a server's database is no file here
    const fs::path log_file = file_of(path);
    const fs::path main_file = file_of(main.target);
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        fs::path candidate = main_file;
        candidate += suffix;
        if (same_file(log_file, candidate)) {
            why = "'" + path + "' is the main database's " +
                  (*suffix ? std::string(suffix + 1) + " file" : std::string("file")) + " ('" +
                  options.main_database_path +
                  "'): logs go to a file of their own, so that logging never takes the main "
                  "database's locks";
            return make_error_code(errc::path_refused);
        }
    }
    return {};
}

} // namespace sqlite_hybrid::detail
