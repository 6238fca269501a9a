// SPDX-License-Identifier: BSL-1.0
// The parent process: holds the port, starts the workers, announces the address once all of
// them listen, forwards SIGTERM/SIGINT to them and exits with their verdict.
#pragma once

#include "server_options.hpp"

namespace catalogue {

// The exit status: 0 when every worker stopped cleanly after a signal. Worker processes never
// return from it.
int run_supervisor(const server_options& options);

} // namespace catalogue
