// SPDX-License-Identifier: BSL-1.0
// One worker process: opens the database, the log database and the play buffer, listens on the
// shared port (SO_REUSEPORT), serves until SIGTERM or SIGINT, then stops gracefully.
#pragma once

#include "server_options.hpp"

namespace catalogue {

struct worker_identity {
    int index = 0;
    unsigned short port = 0; // the port every worker binds
    int ready_fd = -1;       // one byte is written here once the worker listens
};

// SIGTERM and SIGINT must be blocked when this is called: the worker takes them over. Returns
// the process's exit status: 0 after a clean stop.
int run_worker(const server_options& options, const worker_identity& id);

} // namespace catalogue
