// SPDX-License-Identifier: BSL-1.0
// Transactions belong to the library. On the SQLite connections a database owns, this runs the
// library's own BEGIN / COMMIT / ROLLBACK / SAVEPOINT statements (prepared once, outside the
// connection's statement cache, so that a caller's "COMMIT" never finds one of them there), and
// while a caller's code runs it refuses:
//   - transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE), through the authorizer,
//     when the statement is prepared; a write job of several statements may nest savepoints of
//     its own inside the one the library gives it (not named sqlite_hybrid...);
//   - PRAGMAs that set a per-connection value (they would change one connection of several)
//     and ATTACH / DETACH (use database_options::on_connect for both);
//   - any commit the library did not ask for (a commit hook): a job whose transaction SQLite
//     rolled back and that went on writing in autocommit mode.
#pragma once

#include <sqlite_hybrid/connection.hpp>
#include <sqlite_hybrid/error.hpp>

#include <array>
#include <string>

namespace sqlite_hybrid::detail {

enum class transaction_statement {
    begin_immediate,
    begin_deferred,
    commit,
    rollback,
    savepoint,   // SAVEPOINT around one job of a group
    release,     // RELEASE that savepoint
    rollback_to, // ROLLBACK TO that savepoint (it stays open: release it after)
};

class transaction_control {
public:
    enum class mode {
        library,     // the library's own statements: everything allowed
        job,         // a caller's job or statement: the refusals above
        write_job,   // a write job of several statements: the same, but nested savepoints
        maintenance, // a maintenance job runs outside transactions: everything allowed
    };

    explicit transaction_control(connection& conn);
    ~transaction_control();
    transaction_control(const transaction_control&) = delete;
    transaction_control& operator=(const transaction_control&) = delete;

    // Runs one of the library's statements; on failure the connection's diagnostics say why.
    error_code run(transaction_statement which);

    // Sets the mode until the scope ends.
    class scope {
    public:
        scope(transaction_control& c, mode m) noexcept : c_(c), previous_(c.mode_) { c.mode_ = m; }
        ~scope() { c_.mode_ = previous_; }
        scope(const scope&) = delete;
        scope& operator=(const scope&) = delete;

    private:
        transaction_control& c_;
        mode previous_;
    };

    // Why a statement was refused since the last call (empty: none); clears it.
    std::string take_refusal();

private:
    static int authorize(void* self, int action, const char* arg1, const char* arg2,
                         const char* db_name, const char* trigger);
    static int on_commit(void* self);

    connection& conn_;
    mode mode_ = mode::library;
    std::string refusal_;
    std::array<sqlite3_stmt*, 7> statements_{};
};

} // namespace sqlite_hybrid::detail
