// SPDX-License-Identifier: BSL-1.0
#include "doctor/inspect.hpp"

#include "doctor/checks.hpp"
#include "doctor/doctor_connection.hpp"

#include <filesystem>

namespace sqlh::doctor {
namespace {

// SQLite's own messages for these cases ("unable to open database file") do not say why.
void require_regular_file(const std::string& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (status.type() == std::filesystem::file_type::not_found)
        throw inspection_error("no such file (the doctor never creates one)");
    if (ec)
        throw inspection_error(ec.message());
    if (status.type() == std::filesystem::file_type::directory)
        throw inspection_error("is a directory, not a database file");
    if (status.type() != std::filesystem::file_type::regular)
        throw inspection_error("not a regular file");
}

} // namespace

report inspect(const std::string& path) {
    require_regular_file(path);
    report r;
    r.file = path;
    r.sqlite_version = sqlite3_libversion();
    // Before any read-write open: that open would roll a hot journal back.
    auto hot_journal = hot_journal_check(path);
    if (hot_journal.status == check_status::finding) {
        add_header_checks(path, r);
        r.checks.push_back(std::move(hot_journal));
        return r;
    }
    // Read-write (never create) for the write-lock probe and the checkpoint; in WAL mode this
    // opens the -wal and -shm files, as any reader does.
    doctor_connection c(path, doctor_connection::access::read_write);
    const auto facts = add_file_checks(c, r);
    r.checks.push_back(std::move(hot_journal));
    add_write_lock_check(c, facts, r);
    add_wal_checks(c, path, facts, r);
    add_connection_setting_checks(c, r);
    return r;
}

} // namespace sqlh::doctor
