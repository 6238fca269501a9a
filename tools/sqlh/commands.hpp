// SPDX-License-Identifier: BSL-1.0
// The sqlh subcommands. Each parses its own options (argv[0] is the subcommand's name) and
// returns the process exit status.
#pragma once

namespace sqlh {

int run_bench(int argc, char** argv);
int run_doctor(int argc, char** argv);
int run_logs(int argc, char** argv);

} // namespace sqlh
