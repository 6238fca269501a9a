// SPDX-License-Identifier: BSL-1.0
#include <sqlite_hybrid/log_database_options.hpp>

namespace sqlite_hybrid {

database_options default_log_database_settings() {
    database_options o;
    o.readers = 1;                      // queries and follows; logs are written far more than read
    o.connection.cache_size = -8000;    // 8 MB: inserts at the end of the indexes need little
    o.connection.secure_delete = false; // retention need not zero what it deletes
    o.lock_timeout = std::chrono::seconds(1); // a locked file: fail the batch, keep it buffered
    o.open_timeout = std::chrono::seconds(2); // then the open is retried after retry_interval
    return o;
}

} // namespace sqlite_hybrid
