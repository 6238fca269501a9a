// SPDX-License-Identifier: BSL-1.0
// The write buffer over tables that reference each other (foreign keys on, the default): the
// order of a flush, rows deleted and written again, cycles refused, and the buffer against its
// model. The model applies each write, as it is accepted, with plain SQL to a second file; the
// buffer must leave the same rows and bury none, whatever the flushes in between, the chunk
// size, the tables' priorities, the types the keys are given in and the I/O faults that make a
// flush fail and try again. A failure prints the seed; SQLITE_HYBRID_MODEL_SEED replays it and
// SQLITE_HYBRID_MODEL_CASES sets how many cases run.
#include "support/fault_vfs.hpp"
#include "support/model_cases.hpp"
#include "support/run.hpp"
#include "support/temp_dir.hpp"

#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/write_buffer.hpp>

#include <boost/asio/as_tuple.hpp>

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <random>
#include <sstream>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using sh::test::open_database;
using sh::test::run;
using sh::test::temp_dir;
using namespace std::chrono_literals;

namespace {

const char* schema_sql =
    "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, tier INTEGER DEFAULT 0);"
    "CREATE TABLE orders(code TEXT PRIMARY KEY, customer INTEGER NOT NULL REFERENCES customers(id),"
    "  total REAL, note TEXT DEFAULT 'none');"
    "CREATE TABLE items(order_code TEXT NOT NULL REFERENCES orders(code), line INTEGER NOT NULL,"
    "  qty INTEGER, PRIMARY KEY (order_code, line));"
    "CREATE TABLE tags(name TEXT PRIMARY KEY, weight NUMERIC,"
    "  customer INTEGER REFERENCES customers(id));";

// Every column as SQLite quotes it, by key: equal text means equal values and types.
const char* contents_sql[] = {
    "SELECT quote(id) || ',' || quote(name) || ',' || quote(tier) FROM customers ORDER BY id",
    "SELECT quote(code) || ',' || quote(customer) || ',' || quote(total) || ',' || quote(note)"
    "  FROM orders ORDER BY code",
    "SELECT quote(order_code) || ',' || quote(line) || ',' || quote(qty) FROM items"
    "  ORDER BY order_code, line",
    "SELECT quote(name) || ',' || quote(weight) || ',' || quote(customer) FROM tags ORDER BY name",
};

sh::write_buffer_options quiet() {
    sh::write_buffer_options o;
    o.flush_interval = 1h; // flushes happen when the test asks
    o.log = sh::null_logger();
    return o;
}

sh::database_options with_schema(std::string extra = {}) {
    sh::database_options o;
    o.migrations = {schema_sql + extra};
    return o;
}

using flush_answer = std::tuple<sh::error_code, std::size_t>;

flush_answer force_flush(asio::io_context& io, sh::write_buffer& b) {
    return run(io, b.async_force_flush(asio::as_tuple(asio::use_awaitable)));
}

// ---- the flush order -----------------------------------------------------------------------

TEST(WriteBufferForeignKeys, ParentsAreWrittenBeforeChildrenWhateverTheirPriorityOrName) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("fk.db"), with_schema());
    auto o = quiet();
    o.priorities = {{"items", 10}, {"orders", 5}}; // the children would go first by priority
    o.batch_size = 2;                              // and in chunks of their own
    sh::write_buffer buffer(db, o);
    run(io, buffer.async_start());
    for (int i = 1; i <= 3; ++i) {
        ASSERT_FALSE(buffer.buffer_upsert("items", {{"order_code", i}, {"line", 1}, {"qty", i}},
                                          {"order_code", "line"}));
        ASSERT_FALSE(buffer.buffer_upsert("orders", {{"code", i}, {"customer", i}}, {"code"}));
        ASSERT_FALSE(buffer.buffer_upsert("customers", {{"id", i}}, {"id"}));
    }
    EXPECT_EQ(force_flush(io, buffer), flush_answer(sh::error_code(), 9));
    EXPECT_TRUE(buffer.dead_letters().empty());
    EXPECT_EQ(run(io, db.async_query<int>("SELECT count(*) FROM items")), std::vector<int>{3});
    run(io, buffer.async_stop());
}

TEST(WriteBufferForeignKeys, ChildrenAreDeletedBeforeTheirParentsAndMovedBeforeTheirOldParentGoes) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("fk.db"), with_schema());
    run(io, db.async_execute("INSERT INTO customers(id) VALUES (1), (2)"));
    run(io, db.async_execute("INSERT INTO orders(code, customer) VALUES ('a', 1), ('b', 1)"));
    run(io, db.async_execute("INSERT INTO items VALUES ('a', 1, 1), ('a', 2, 1)"));
    sh::write_buffer buffer(db, quiet());
    run(io, buffer.async_start());
    // As a user would: the order 'b' moves to customer 2, then the children of 'a', 'a' and
    // customer 1 go, each delete valid at the moment it is made.
    ASSERT_FALSE(buffer.buffer_update("orders", {{"code", "b"}}, {{"customer", 2}}));
    for (int line : {1, 2})
        ASSERT_FALSE(buffer.buffer_delete("items", {{"order_code", "a"}, {"line", line}}));
    ASSERT_FALSE(buffer.buffer_delete("orders", {{"code", "a"}}));
    ASSERT_FALSE(buffer.buffer_delete("customers", {{"id", 1}}));
    EXPECT_EQ(force_flush(io, buffer), flush_answer(sh::error_code(), 5));
    EXPECT_TRUE(buffer.dead_letters().empty());
    EXPECT_EQ(run(io, db.async_query<std::string>("SELECT code || customer FROM orders")),
              std::vector<std::string>{"b2"});
    EXPECT_EQ(run(io, db.async_query<int>("SELECT id FROM customers")), std::vector<int>{2});
    run(io, buffer.async_stop());
}

TEST(WriteBufferForeignKeys, AParentDeletedAndWrittenAgainIsReplacedInPlaceUnderItsChildren) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("fk.db"), with_schema());
    run(io, db.async_execute("INSERT INTO customers VALUES (1, 'old', 7)"));
    run(io, db.async_execute("INSERT INTO orders(code, customer, note) VALUES ('a', 1, 'x')"));
    run(io, db.async_execute("INSERT INTO items VALUES ('a', 1, 1)"));
    sh::write_buffer buffer(db, quiet());
    run(io, buffer.async_start());
    // Each write valid at the moment it is made: the children go, then the parents, then both
    // come back (fewer columns given: the others take their defaults).
    ASSERT_FALSE(buffer.buffer_delete("items", {{"order_code", "a"}, {"line", 1}}));
    ASSERT_FALSE(buffer.buffer_delete("orders", {{"code", "a"}}));
    ASSERT_FALSE(buffer.buffer_delete("customers", {{"id", 1}}));
    ASSERT_FALSE(buffer.buffer_upsert("customers", {{"id", 1}, {"name", "new"}}, {"id"}));
    ASSERT_FALSE(buffer.buffer_upsert("orders", {{"code", "a"}, {"customer", 1}}, {"code"}));
    ASSERT_FALSE(buffer.buffer_upsert("items", {{"order_code", "a"}, {"line", 2}}, {"order_code", "line"}));
    EXPECT_EQ(force_flush(io, buffer), flush_answer(sh::error_code(), 4));
    EXPECT_TRUE(buffer.dead_letters().empty());
    // Written again: the columns the new row does not give are back to their defaults.
    EXPECT_EQ(run(io, db.async_query<std::string>("SELECT quote(note) FROM orders")),
              std::vector<std::string>{"'none'"});
    EXPECT_EQ(run(io, db.async_query<std::string>("SELECT name || tier FROM customers")),
              std::vector<std::string>{"new0"});
    EXPECT_EQ(run(io, db.async_query<int>("SELECT line FROM items")), std::vector<int>{2});
    run(io, buffer.async_stop());
}

TEST(WriteBufferForeignKeys, ACascadeStillActsWhenAParentIsDeletedAndWrittenAgain) {
    temp_dir dir;
    asio::io_context io;
    auto o = with_schema("CREATE TABLE notes(id INTEGER PRIMARY KEY,"
                         "  customer INTEGER REFERENCES customers(id) ON DELETE CASCADE);");
    auto db = open_database(io, dir.file("fk.db"), o);
    run(io, db.async_execute("INSERT INTO customers VALUES (1, 'old', 7)"));
    run(io, db.async_execute("INSERT INTO notes VALUES (1, 1), (2, 1)"));
    sh::write_buffer buffer(db, quiet());
    run(io, buffer.async_start());
    ASSERT_FALSE(buffer.buffer_delete("customers", {{"id", 1}})); // the notes go with it
    ASSERT_FALSE(buffer.buffer_upsert("customers", {{"id", 1}, {"name", "new"}}, {"id"}));
    ASSERT_FALSE(buffer.buffer_upsert("notes", {{"id", 3}, {"customer", 1}}, {"id"}));
    EXPECT_EQ(force_flush(io, buffer), flush_answer(sh::error_code(), 2));
    EXPECT_EQ(run(io, db.async_query<int>("SELECT id FROM notes")), std::vector<int>{3});
    EXPECT_EQ(run(io, db.async_query<std::string>("SELECT name || tier FROM customers")),
              std::vector<std::string>{"new0"});
    run(io, buffer.async_stop());
}

TEST(WriteBufferForeignKeys, TablesOnACycleOfReferencesAreRefusedAtTheCallWithTheCycleNamed) {
    const std::string cycles =
        "CREATE TABLE staff(id INTEGER PRIMARY KEY, manager INTEGER REFERENCES staff(id));"
        "CREATE TABLE a(id INTEGER PRIMARY KEY, b INTEGER REFERENCES b(id));"
        "CREATE TABLE b(id INTEGER PRIMARY KEY, a INTEGER REFERENCES a(id));"
        "CREATE TABLE below(id INTEGER PRIMARY KEY, a INTEGER REFERENCES a(id));";
    for (bool enforced : {true, false}) {
        SCOPED_TRACE(enforced ? "foreign keys on" : "foreign keys off");
        temp_dir dir;
        asio::io_context io;
        auto o = with_schema(cycles);
        o.connection.foreign_keys = enforced;
        auto db = open_database(io, dir.file("fk.db"), o);
        sh::write_buffer buffer(db, quiet());
        run(io, buffer.async_start());
        const auto expected = enforced ? sh::error_code(sh::errc::foreign_key_cycle) : sh::error_code();
        sh::diagnostics d;
        EXPECT_EQ(buffer.buffer_upsert("staff", {{"id", 1}}, {"id"}, &d), expected);
        if (enforced) {
            EXPECT_NE(d.message.find("staff -> staff"), std::string::npos) << d.message;
        }
        EXPECT_EQ(buffer.buffer_delete("b", {{"id", 1}}, &d), expected);
        if (enforced) {
            EXPECT_NE(d.message.find("b -> a -> b"), std::string::npos) << d.message;
        }
        // Below a cycle is not on it: its writes are ordered after the cycle's tables.
        EXPECT_FALSE(buffer.buffer_upsert("below", {{"id", 1}}, {"id"}));
        EXPECT_FALSE(buffer.buffer_upsert("customers", {{"id", 1}}, {"id"}));
        EXPECT_EQ(std::get<0>(force_flush(io, buffer)), sh::error_code());
        run(io, buffer.async_stop());
    }
}

TEST(WriteBufferForeignKeys, AnUpdateOverwrittenByALaterUpsertDoesNotNameAParentThatIsGone) {
    temp_dir dir;
    asio::io_context io;
    auto db = open_database(io, dir.file("fk.db"), with_schema());
    run(io, db.async_execute("INSERT INTO customers(id) VALUES (2)"));
    run(io, db.async_execute("INSERT INTO tags(name) VALUES ('b')"));
    sh::write_buffer buffer(db, quiet());
    run(io, buffer.async_start());
    // Each valid when made: 'b' points at customer 3 for a while, then at 2, then 3 goes.
    ASSERT_FALSE(buffer.buffer_upsert("customers", {{"id", 3}}, {"id"}));
    ASSERT_FALSE(buffer.buffer_update("tags", {{"name", "b"}}, {{"weight", 5}, {"customer", 3}}));
    ASSERT_FALSE(buffer.buffer_upsert("tags", {{"name", "b"}, {"customer", 2}}, {"name"}));
    ASSERT_FALSE(buffer.buffer_delete("customers", {{"id", 3}}));
    EXPECT_EQ(force_flush(io, buffer), flush_answer(sh::error_code(), 2));
    EXPECT_TRUE(buffer.dead_letters().empty());
    EXPECT_EQ(run(io, db.async_query<std::string>("SELECT name || weight || customer FROM tags")),
              std::vector<std::string>{"b52"});
    EXPECT_EQ(run(io, db.async_query<int>("SELECT id FROM customers")), std::vector<int>{2});
    run(io, buffer.async_stop());
}

// ---- the model -----------------------------------------------------------------------------

struct table_spec {
    const char* name;
    std::vector<std::string> key, others;
};
const table_spec tables[] = {
    {"customers", {"id"}, {"name", "tier"}},
    {"orders", {"code"}, {"customer", "total", "note"}},
    {"items", {"order_code", "line"}, {"qty"}},
    {"tags", {"name"}, {"weight", "customer"}},
};

// A key of customers given as an integer, a REAL or text; of orders as text or an integer.
sh::value some_value(const std::string& column, std::mt19937& rng) {
    const int k = 1 + static_cast<int>(rng() % 3);
    const int form = static_cast<int>(rng() % 3);
    if (column == "id" || column == "customer") {
        if (column == "customer" && rng() % 8 == 0)
            return sh::value(); // NOT NULL in orders: refused there by the model
        return form == 0 ? sh::value(k) : form == 1 ? sh::value(k * 1.0) : sh::value(std::to_string(k));
    }
    if (column == "code" || column == "order_code")
        return form == 0 ? sh::value(k) : sh::value(std::to_string(k));
    if (column == "line")
        return sh::value(1 + static_cast<int>(rng() % 2));
    if (column == "name")
        return rng() % 5 == 0 ? sh::value() : sh::value(std::string(1, static_cast<char>('a' + rng() % 3)));
    if (column == "tier" || column == "qty")
        return form == 2 ? sh::value(std::to_string(rng() % 9)) : sh::value(static_cast<int>(rng() % 9));
    if (column == "total" || column == "weight")
        return form == 0 ? sh::value(static_cast<int>(rng() % 9))
                         : form == 1 ? sh::value((rng() % 90) / 10.0) : sh::value("1.5");
    return sh::value("note " + std::to_string(rng() % 3));
}

struct buffered_write {
    sh::write_kind kind;
    const table_spec* table;
    sh::row key, values; // values: the other columns (upsert) or the changes (update)

    sh::error_code into(sh::write_buffer& b) const {
        switch (kind) {
        case sh::write_kind::upsert: {
            sh::row whole = key;
            whole.insert(whole.end(), values.begin(), values.end());
            return b.buffer_upsert(table->name, whole, table->key);
        }
        case sh::write_kind::update: return b.buffer_update(table->name, key, values);
        case sh::write_kind::remove: return b.buffer_delete(table->name, key);
        }
        return {};
    }

    // The same write as plain SQL, with its values bound.
    std::pair<std::string, sh::params> as_sql() const {
        sh::params p;
        std::string where;
        for (const auto& f : key)
            where += (where.empty() ? " WHERE " : " AND ") + f.column + " = ?";
        if (kind == sh::write_kind::remove) {
            for (const auto& f : key)
                p.push_back(f.v);
            return {std::string("DELETE FROM ") + table->name + where, p};
        }
        if (kind == sh::write_kind::update) {
            std::string set;
            for (const auto& f : values) {
                set += (set.empty() ? "" : ", ") + f.column + " = ?";
                p.push_back(f.v);
            }
            for (const auto& f : key)
                p.push_back(f.v);
            return {std::string("UPDATE ") + table->name + " SET " + set + where, p};
        }
        std::string columns, marks, set, conflict;
        for (const auto* part : {&key, &values})
            for (const auto& f : *part) {
                columns += (columns.empty() ? "" : ", ") + f.column;
                marks += marks.empty() ? "?" : ", ?";
                p.push_back(f.v);
            }
        for (const auto& f : values)
            set += (set.empty() ? "" : ", ") + f.column + " = excluded." + f.column;
        for (const auto& k : table->key)
            conflict += (conflict.empty() ? "" : ", ") + k;
        return {std::string("INSERT INTO ") + table->name + " (" + columns + ") VALUES (" + marks +
                    ") ON CONFLICT (" + conflict + ") " +
                    (set.empty() ? "DO NOTHING" : "DO UPDATE SET " + set),
                p};
    }

    std::string describe() const {
        auto [sql, p] = as_sql();
        std::ostringstream s;
        s << sql << " --";
        for (const auto& v : p)
            s << ' ' << (v.is_null() ? std::string("NULL")
                         : v.type() == sh::value_type::text ? "'" + v.as_text() + "'"
                         : v.type() == sh::value_type::real ? std::to_string(v.as_double()) + "r"
                                                            : std::to_string(v.as_int64()));
        return s.str();
    }
};

buffered_write generate(std::mt19937& rng) {
    buffered_write w;
    w.table = &tables[rng() % 4];
    const unsigned k = rng() % 4;
    w.kind = k < 2 ? sh::write_kind::upsert : k == 2 ? sh::write_kind::update : sh::write_kind::remove;
    for (const auto& c : w.table->key) {
        sh::value v;
        while (v.is_null()) // a NULL key is refused at the call, as the tests above show
            v = some_value(c, rng);
        w.key.push_back({c, v});
    }
    if (w.kind != sh::write_kind::remove)
        for (const auto& c : w.table->others)
            if (rng() % 2 == 0)
                w.values.push_back({c, some_value(c, rng)});
    if (w.kind == sh::write_kind::update && w.values.empty())
        w.values.push_back({w.table->others[0], some_value(w.table->others[0], rng)});
    return w;
}

struct buffer_model {
    temp_dir dir;
    asio::io_context io;
    sh::database db;
    sh::connection model;
    std::size_t accepted = 0, refused = 0, flushes = 0, faulted = 0; // over every case

    buffer_model()
        : db(open_database(io, sh::test::fault_vfs::uri(dir.file("buffered.db")), with_schema())),
          model(sh::connection::open(dir.file("model.db"), sh::open_mode::read_write_create, {})
                    .value()) {
        model.execute_script(schema_sql).value();
    }

    void reset() {
        for (const char* sql : {"DELETE FROM items", "DELETE FROM tags", "DELETE FROM orders",
                                "DELETE FROM customers"}) {
            run(io, db.async_execute(sql));
            model.execute(sql).value();
        }
    }

    // Applies a write to the model; false (and no change) when plain SQL refuses it there.
    bool accepted_by_model(const buffered_write& w) {
        model.execute_script("SAVEPOINT w").value();
        auto [sql, p] = w.as_sql();
        const bool ok = model.execute(sql, p).has_value();
        model.execute_script(ok ? "RELEASE w" : "ROLLBACK TO w; RELEASE w").value();
        return ok;
    }

    std::optional<std::string> run_case(std::mt19937& rng, std::vector<std::string>& log) {
        reset();
        auto o = quiet();
        o.batch_size = std::vector<std::size_t>{1, 2, 3, 8, 1000}[rng() % 5];
        for (const auto& t : tables)
            o.priorities[t.name] = static_cast<int>(rng() % 3) - 1;
        sh::write_buffer buffer(db, o);
        run(io, buffer.async_start());
        log.push_back("batch_size " + std::to_string(o.batch_size));
        const std::size_t writes = 1 + rng() % 60;
        std::optional<std::string> difference;
        auto flush = [&](bool with_fault) {
            std::optional<sh::test::armed_faults> faults;
            if (with_fault) {
                sh::test::fault_plan plan;
                plan.fail_at = 1 + rng() % 6;
                plan.error = rng() % 2 ? SQLITE_FULL : 0;
                plan.kinds = plan.error ? sh::test::io_write : sh::test::all_io; // reads are never "full"
                faults.emplace(plan);
            }
            const auto ec = std::get<0>(force_flush(io, buffer));
            log.push_back(std::string("flush") + (with_fault ? " with a fault: " : ": ") +
                          ec.message());
            ++flushes;
            faulted += ec ? 1 : 0;
            faults.reset();
            if (ec && !(with_fault && (ec == sh::condition::io_error || ec == sh::condition::disk_full))) {
                difference = "a flush failed with '" + ec.message() + "'";
                for (const auto& letter : buffer.dead_letters())
                    *difference += "\n  dead letter: " + letter.table + ": " + letter.message;
            }
        };
        for (std::size_t i = 0; i < writes && !difference; ++i) {
            const auto w = generate(rng);
            if (!accepted_by_model(w)) {
                ++refused;
                continue;
            }
            ++accepted;
            log.push_back(w.describe());
            if (auto ec = w.into(buffer); ec)
                return "the buffer refused " + w.describe() + ": " + ec.message();
            if (rng() % 12 == 0)
                flush(rng() % 3 == 0);
        }
        if (!difference)
            flush(false);
        if (!difference && buffer.metrics().pending != 0)
            flush(false); // after a fault, the rows it kept
        run(io, buffer.async_stop());
        if (difference)
            return difference;
        if (!buffer.dead_letters().empty())
            return "a row became a dead letter: " + buffer.dead_letters().front().message;
        for (const char* sql : contents_sql)
            if (run(io, db.async_query<std::string>(sql)) != model.query<std::string>(sql).value())
                return std::string("rows differ from the model's: ") + sql;
        return std::nullopt;
    }
};

TEST(WriteBufferModel, EveryAcceptedWriteLeavesWhatPlainSqlLeavesWithNothingBuried) {
    buffer_model m;
    const unsigned seed = sh::test::model_seed();
    const int cases = sh::test::model_cases(1000);
    // Cases that once failed run first, every time.
    const std::vector<unsigned> known = {2337122276u};
    for (std::size_t c = 0; c < known.size() + static_cast<std::size_t>(cases); ++c) {
        const unsigned case_seed = c < known.size() ? known[c] : seed + static_cast<unsigned>(c - known.size());
        std::mt19937 rng(case_seed);
        std::vector<std::string> log;
        if (auto difference = m.run_case(rng, log)) {
            std::string listing;
            for (const auto& line : log)
                listing += "\n  " + line;
            FAIL() << *difference << "\nreplay with SQLITE_HYBRID_MODEL_SEED=" << case_seed
                   << " SQLITE_HYBRID_MODEL_CASES=1; what happened:" << listing;
        }
    }
    std::printf("[ model    ] %d write buffer cases from seed %u: %zu writes buffered (%zu refused "
                "by the model), %zu flushes, %zu failed by a fault and written later\n",
                cases, seed, m.accepted, m.refused, m.flushes, m.faulted);
}

} // namespace
