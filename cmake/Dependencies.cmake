# SPDX-License-Identifier: BSL-1.0
find_package(Threads REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(Boost 1.81 REQUIRED)
find_package(spdlog REQUIRED)
find_package(PostgreSQL REQUIRED)
