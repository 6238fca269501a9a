// SPDX-License-Identifier: BSL-1.0
// Where a database lives: an SQLite file or a PostgreSQL server, told apart by the text that
// names it, so that moving an application means changing that text.
//   app.db, /var/lib/app.db, file:app.db?mode=ro, sqlite:///var/lib/app.db, sqlite:app.db
//   postgresql://user:secret@host:5432/app?sslmode=require (also postgres://)
//   postgresql:host=/run/postgresql dbname=app            (libpq key=value settings)
#pragma once

#include <string>
#include <string_view>

namespace sqlite_hybrid {

enum class backend { sqlite, postgresql };

struct database_url {
    backend engine = backend::sqlite;
    std::string target; // the file name SQLite opens, or the connection string libpq reads
};

database_url parse_database_url(std::string_view url);

// The name with any password replaced by "***", for logs and messages.
std::string redact_database_url(std::string_view url);

} // namespace sqlite_hybrid
