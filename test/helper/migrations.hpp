// SPDX-License-Identifier: BSL-1.0
// The migrations that the cross-process tests apply from several processes at once. Every
// step records itself, so a step that ran twice shows.
#pragma once

#include <string>
#include <vector>

namespace sqlite_hybrid::test {

inline std::vector<std::string> shared_migrations() {
    return {"CREATE TABLE ran(step INTEGER NOT NULL); INSERT INTO ran VALUES(1)",
            "CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT); INSERT INTO ran VALUES(2)",
            "CREATE INDEX kv_v ON kv(v); INSERT INTO ran VALUES(3)"};
}

} // namespace sqlite_hybrid::test
