// SPDX-License-Identifier: BSL-1.0
// The fault loops create, write and close hundreds of small databases, and on a disk their
// fsyncs take nearly all of the run time. Neither an injected I/O fault nor a killed process
// depends on what a disk keeps across a power loss, so scratch files go to memory (tmpfs) when
// the machine has one and TMPDIR does not say otherwise. Runs before main().
#include <unistd.h>

#include <cstdlib>

namespace {

const bool scratch_in_memory = [] {
    if (std::getenv("TMPDIR") == nullptr && access("/dev/shm", W_OK | X_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 0);
    return true;
}();

} // namespace
