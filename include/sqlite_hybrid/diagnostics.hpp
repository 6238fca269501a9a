// SPDX-License-Identifier: BSL-1.0
// What an error code cannot say: SQLite's message and the offset of the error in the SQL.
#pragma once

#include <string>

namespace sqlite_hybrid {

struct diagnostics {
    std::string message; // sqlite3_errmsg, or the library's own explanation
    int error_offset = -1; // byte offset into `sql` (sqlite3_error_offset), -1 when unknown
    std::string sql;       // the statement that failed, when there was one

    void clear() {
        message.clear();
        error_offset = -1;
        sql.clear();
    }
};

} // namespace sqlite_hybrid
