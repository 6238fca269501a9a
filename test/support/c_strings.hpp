// SPDX-License-Identifier: BSL-1.0
// The null-terminated array of C strings that posix_spawn takes for argv and envp.
#pragma once

#include <string>
#include <vector>

namespace sqlite_hybrid::test {

// Pointers into `strings`, which must outlive the result, then a null pointer.
inline std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings)
        out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

} // namespace sqlite_hybrid::test
