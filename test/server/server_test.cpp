// SPDX-License-Identifier: BSL-1.0
// The catalogue server end to end: two worker processes on an ephemeral port, driven by
// concurrent Beast clients, stopped with SIGTERM; then the database file is checked against what
// the clients were told.
#include "server/http_client.hpp"
#include "server/prometheus_lint.hpp"
#include "server/server_process.hpp"
#include "sqlh/run_sqlh.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <sqlite_hybrid/connection.hpp>
#include <sqlite_hybrid/log_query.hpp>
#include <sqlite_hybrid/version.hpp>
#include <tuple>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

std::vector<std::string> server_args(const sh::test::temp_dir& dir,
                                     std::vector<std::string> extra = {}) {
    std::vector<std::string> args{CATALOGUE_SERVER,
                                  "--address",
                                  "127.0.0.1",
                                  "--port",
                                  "0",
                                  "--workers",
                                  "2",
                                  "--db",
                                  dir.file("catalogue.db"),
                                  "--log-level",
                                  "info"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

// Runs the coroutines on this thread until all are done; rethrows the first failure.
void run_all(std::vector<asio::awaitable<void>> tasks) {
    asio::io_context io;
    std::exception_ptr first;
    for (auto& t : tasks)
        asio::co_spawn(io, std::move(t), [&](std::exception_ptr e) {
            if (e && !first)
                first = e;
        });
    io.run();
    if (first)
        std::rethrow_exception(first);
}

void run_one(asio::awaitable<void> task) {
    std::vector<asio::awaitable<void>> tasks;
    tasks.push_back(std::move(task));
    run_all(std::move(tasks));
}

struct item_state {
    std::string sku, name;
    std::int64_t price = 0;
};

// What the clients were told.
struct tally {
    std::map<int, int> statuses;
    int busy_without_retry_after = 0;
    std::map<std::int64_t, item_state> items;   // acknowledged creates and replaces
    std::map<std::int64_t, std::int64_t> plays; // acknowledged increments
    std::vector<std::string> unexpected;

    void count(const sh::test::http_reply& r) {
        ++statuses[r.status];
        if (r.status == 503 && r.retry_after.empty())
            ++busy_without_retry_after;
    }
    void expect(bool ok, const std::string& what, const sh::test::http_reply& r) {
        if (!ok)
            unexpected.push_back(what + " -> " + std::to_string(r.status) + " " + r.body);
    }
};

std::string item_body(const std::string& sku, const std::string& name, std::int64_t price) {
    return json::serialize(json::object{{"sku", sku}, {"name", name}, {"price_cents", price}});
}

bool same(const json::value& v, const item_state& s) {
    const auto& o = v.as_object();
    return o.at("sku").as_string() == s.sku && o.at("name").as_string() == s.name &&
           o.at("price_cents").as_int64() == s.price;
}

asio::awaitable<void> create_items(unsigned short port, int client, int count, tally& t,
                                   std::vector<std::int64_t>& created) {
    sh::test::http_client c(co_await asio::this_coro::executor, port);
    for (int k = 0; k < count; ++k) {
        const item_state s{"c" + std::to_string(client) + "-" + std::to_string(k),
                           "item " + std::to_string(k), client * 100 + k};
        auto r = co_await c.request(http::verb::post, "/items", item_body(s.sku, s.name, s.price));
        t.count(r);
        if (r.status == 201) {
            const auto v = json::parse(r.body);
            t.expect(same(v, s), "POST /items body", r);
            created.push_back(v.at("id").as_int64());
            t.items[created.back()] = s;
        } else {
            t.expect(r.status == 503, "POST /items", r);
        }
    }
}

// Replaces, reads back and plays its own items and the shared hot ones.
asio::awaitable<void> catalogue_client(unsigned short port, int client, tally& t,
                                       const std::vector<std::int64_t>& hot) {
    std::vector<std::int64_t> mine;
    co_await create_items(port, client, 10, t, mine);
    sh::test::http_client c(co_await asio::this_coro::executor, port);
    if (!mine.empty()) {
        const auto& taken = t.items.at(mine.front());
        auto r = co_await c.request(http::verb::post, "/items", item_body(taken.sku, "again", 1));
        t.count(r);
        t.expect(r.status == 409 || r.status == 503, "POST /items with a taken sku", r);
    }
    for (std::size_t i = 0; i < mine.size(); ++i) {
        const auto id = mine[i];
        const auto target = "/items/" + std::to_string(id);
        item_state next = t.items.at(id);
        next.name = "renamed " + next.sku;
        next.price += 1;
        auto r =
            co_await c.request(http::verb::put, target, item_body(next.sku, next.name, next.price));
        t.count(r);
        if (r.status == 200) {
            t.expect(same(json::parse(r.body), next), "PUT body", r);
            t.items[id] = next;
        } else {
            t.expect(r.status == 503, "PUT " + target, r);
        }
        r = co_await c.request(http::verb::get, target);
        t.count(r);
        t.expect(r.status == 200 && same(json::parse(r.body), t.items.at(id)), "GET " + target, r);

        for (auto play : {id, hot[i % hot.size()]}) {
            for (std::size_t n = 0; n < i % 3 + 1; ++n) {
                r = co_await c.request(http::verb::post,
                                       "/items/" + std::to_string(play) + "/plays");
                t.count(r);
                if (r.status == 202)
                    ++t.plays[play];
                else
                    t.expect(r.status == 503, "POST plays", r);
            }
        }
    }
    auto r = co_await c.request(http::verb::get, "/items?limit=5&after=0");
    t.count(r);
    t.expect(r.status == 200 && json::parse(r.body).at("items").as_array().size() == 5,
             "GET /items?limit=5", r);
}

using item_row = std::tuple<std::string, std::string, std::int64_t, std::int64_t>;

} // namespace

class Server : public ::testing::Test {
protected:
    // Starts the server in a fresh directory and creates `items` items through it.
    void start(std::vector<std::string> extra, int items = 0) {
        server.emplace(server_args(dir, std::move(extra)), dir.file("server.log"));
        if (items > 0)
            run_one(create_items(server->port(), 99, items, t, seeded));
        ASSERT_EQ(seeded.size(), static_cast<std::size_t>(items)) << server->log();
    }

    sh::test::temp_dir dir;
    std::optional<sh::test::server_process> server;
    tally t; // what the clients were told
    std::vector<std::int64_t> seeded;
};

TEST_F(Server, ConcurrentClientsAcrossTwoWorkersAndEveryAcknowledgedWriteIsInTheFile) {
    ASSERT_NO_FATAL_FAILURE(start({}, 4));
    const auto& hot = seeded;

    std::vector<asio::awaitable<void>> clients;
    for (int c = 0; c < 12; ++c)
        clients.push_back(catalogue_client(server->port(), c, t, hot));
    run_all(std::move(clients));

    // The metrics and the logs of whichever worker answers.
    std::optional<sh::test::http_reply> metrics, logs;
    // (Coroutine lambdas are named: their captures must outlive the coroutine.)
    auto observe = [&]() -> asio::awaitable<void> {
        sh::test::http_client c(co_await asio::this_coro::executor, server->port());
        metrics = co_await c.request(http::verb::get, "/metrics");
        logs = co_await c.request(http::verb::get, "/logs?level=info&limit=5");
    };
    run_one(observe());
    ASSERT_EQ(metrics->status, 200);
    EXPECT_TRUE(metrics->content_type.starts_with("text/plain; version=0.0.4"));
    const auto parsed = sh::test::parse_prometheus(metrics->body);
    for (const auto& e : parsed.errors)
        ADD_FAILURE() << e;
    EXPECT_GT(parsed.value("sqlite_hybrid_db_operations_total", {{"kind", "write"}}).value_or(0),
              0);
    EXPECT_TRUE(parsed.value("sqlite_hybrid_write_buffer_accepted_total").has_value());
    EXPECT_TRUE(parsed.value("sqlite_hybrid_lock_wait_seconds_count").has_value());
    EXPECT_TRUE(parsed.value("sqlite_hybrid_log_written_total").has_value());
    ASSERT_EQ(logs->status, 200) << logs->body;
    const auto entries = json::parse(logs->body).at("entries").as_array();
    EXPECT_GE(entries.size(), 1u);
    EXPECT_LE(entries.size(), 5u);
    for (const auto& e : entries)
        EXPECT_NE(e.at("level").as_string(), "debug");

    server->signal(SIGTERM);
    ASSERT_EQ(server->wait(std::chrono::seconds(60)), 0) << server->log();

    for (const auto& u : t.unexpected)
        ADD_FAILURE() << u;
    for (const auto& [status, n] : t.statuses)
        EXPECT_TRUE(status < 500 || status == 503) << n << " answers " << status;
    EXPECT_EQ(t.busy_without_retry_after, 0);
    std::printf("answers:");
    for (const auto& [status, n] : t.statuses)
        std::printf(" %d x%d", status, n);
    std::printf("\n");

    auto db = sh::connection::open(dir.file("catalogue.db"), sh::open_mode::read_write, {}).value();
    EXPECT_EQ(db.query_one<std::int64_t>("SELECT count(*) FROM items").value(),
              static_cast<std::int64_t>(t.items.size()));
    for (const auto& [id, s] : t.items) {
        auto row = db.query_one<item_row>("SELECT sku, name, price_cents, plays FROM items "
                                          "WHERE id = ?",
                                          id)
                       .value();
        ASSERT_TRUE(row) << id;
        EXPECT_EQ(*row, item_row(s.sku, s.name, s.price, t.plays[id])) << id;
    }
    // Every run folded its plays and marked itself stopped.
    EXPECT_EQ(db.query_one<std::int64_t>("SELECT count(*) FROM item_plays").value(), 0);
    EXPECT_EQ(db.query_one<std::int64_t>("SELECT count(*) FROM worker_runs WHERE stopped_at IS "
                                         "NOT NULL")
                  .value(),
              2);
    // Both workers' last words reached the log database.
    auto log_db =
        sh::connection::open(dir.file("catalogue-logs.db"), sh::open_mode::read_only, {}).value();
    sh::log_filter stopped;
    stopped.text = " stopped";
    stopped.limit = 0;
    const auto last_words = sh::detail::log_query_job{stopped}(log_db).value();
    EXPECT_EQ(std::count_if(last_words.begin(), last_words.end(),
                            [](const sh::log_entry& e) {
                                return e.message.starts_with("worker ") &&
                                       e.message.ends_with(" stopped");
                            }),
              2)
        << server->log();
}

TEST_F(Server, MalformedRequestsGet4xxAndTheWorkersKeepServing) {
    ASSERT_NO_FATAL_FAILURE(start({"--request-timeout-ms", "1000"}));
    const auto port = server->port();
    const std::string host = "Host: x\r\n";
    auto status = [&](const std::string& bytes) {
        return sh::test::raw_status(sh::test::raw_exchange(port, bytes).text);
    };
    EXPECT_EQ(status("GARBAGE\r\n\r\n"), 400);
    EXPECT_EQ(status("GET / HTTP/1.1\r\n" + host + "Bad Header\r\n\r\n"), 400);
    EXPECT_EQ(status("GET /healthz HTTTP/1.1\r\n" + host + "\r\n"), 400);
    EXPECT_EQ(
        status("POST /items HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
        400);
    std::string many_fields;
    for (int i = 0; i < 100; ++i)
        many_fields += "X-Field-" + std::to_string(i) + ": 1\r\n";
    EXPECT_EQ(status("GET /healthz HTTP/1.1\r\n" + host + many_fields + "\r\n"), 431);
    EXPECT_EQ(status("GET /healthz HTTP/1.1\r\n" + host + "X-Big: " + std::string(9000, 'a') +
                     "\r\n\r\n"),
              431);
    EXPECT_EQ(status("POST /items HTTP/1.1\r\n" + host + "Content-Length: 10000000\r\n\r\n"), 413);

    // Expect: 100-continue is answered before the body is read.
    const std::string body = item_body("continued", "with expect", 5);
    auto continued = sh::test::raw_exchange(
        port, "POST /items HTTP/1.1\r\n" + host + "Connection: close\r\nExpect: 100-continue\r\n" +
                  "Content-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body);
    EXPECT_TRUE(continued.text.starts_with("HTTP/1.1 100 Continue")) << continued.text;
    EXPECT_NE(continued.text.find("HTTP/1.1 201 Created"), std::string::npos) << continued.text;

    // A client that stops in the middle of its request is disconnected.
    auto slow = sh::test::raw_exchange(port, "GET /healthz HTTP/1.1\r\nHo");
    EXPECT_TRUE(slow.closed);
    EXPECT_EQ(slow.text, "");

    std::vector<std::pair<std::string, int>> answers;
    std::set<std::int64_t> workers;
    auto misbehave = [&]() -> asio::awaitable<void> {
        sh::test::http_client c(co_await asio::this_coro::executor, port);
        auto ask = [&](http::verb m, std::string target, std::string body,
                       std::string type) -> asio::awaitable<void> {
            auto r = co_await c.request(m, target, std::move(body), std::move(type));
            answers.emplace_back(std::string(http::to_string(m)) + " " + target + " " + r.body,
                                 r.status);
        };
        const std::string json_type = "application/json";
        co_await ask(http::verb::post, "/items", "{not json", json_type);
        co_await ask(http::verb::post, "/items", R"({"sku":"a"})", json_type);
        co_await ask(http::verb::post, "/items", R"({"sku":"a","name":"b","price_cents":"1"})",
                     json_type);
        co_await ask(http::verb::post, "/items", R"({"sku":"a","name":"b","price_cents":-1})",
                     json_type);
        co_await ask(http::verb::post, "/items", R"([1,2])", json_type);
        co_await ask(http::verb::post, "/items", R"({"sku":"a","name":"b","price_cents":1})",
                     "text/plain");
        co_await ask(http::verb::put, "/items/1", "{", json_type);
        co_await ask(http::verb::get, "/items/abc", "", json_type);
        co_await ask(http::verb::get, "/items/999999", "", json_type);
        co_await ask(http::verb::put, "/items/999999", R"({"sku":"z","name":"b","price_cents":1})",
                     json_type);
        co_await ask(http::verb::post, "/items/999999/plays", "", json_type);
        co_await ask(http::verb::get, "/items?limit=0", "", json_type);
        co_await ask(http::verb::get, "/items?after=-3", "", json_type);
        co_await ask(http::verb::get, "/logs?level=loud", "", json_type);
        co_await ask(http::verb::delete_, "/items/1", "", json_type);
        co_await ask(http::verb::get, "/nothing/here", "", json_type);
        // New connections land on both workers (SO_REUSEPORT spreads them).
        for (int i = 0; i < 40; ++i) {
            sh::test::http_client fresh(co_await asio::this_coro::executor, port);
            auto r = co_await fresh.request(http::verb::get, "/healthz");
            answers.emplace_back("GET /healthz", r.status);
            workers.insert(json::parse(r.body).at("worker").as_int64());
        }
    };
    run_one(misbehave());
    const std::vector<int> expected{400, 400, 400, 400, 400, 415, 400, 400,
                                    404, 404, 404, 400, 400, 400, 405, 404};
    ASSERT_EQ(answers.size(), expected.size() + 40);
    for (std::size_t i = 0; i < expected.size(); ++i)
        EXPECT_EQ(answers[i].second, expected[i]) << answers[i].first;
    EXPECT_NE(answers[0].first.find("malformed JSON"), std::string::npos) << answers[0].first;
    EXPECT_NE(answers[1].first.find("missing field 'name'"), std::string::npos);
    for (std::size_t i = expected.size(); i < answers.size(); ++i)
        EXPECT_EQ(answers[i].second, 200);
    EXPECT_EQ(workers, (std::set<std::int64_t>{0, 1}));

    server->signal(SIGTERM);
    EXPECT_EQ(server->wait(std::chrono::seconds(60)), 0) << server->log();
}

TEST_F(Server, SigtermUnderLoadFinishesInFlightRequestsAndKeepsEveryAcknowledgedPlay) {
    ASSERT_NO_FATAL_FAILURE(start({}, 4));
    const auto& items = seeded;

    std::int64_t acknowledged = 0;
    std::int64_t unanswered = 0; // requests that got no answer: applied or not, unknown
    bool signalled = false;
    auto player = [&](int client) -> asio::awaitable<void> {
        sh::test::http_client c(co_await asio::this_coro::executor, server->port());
        for (int i = 0; i < 5000; ++i) {
            const auto id = items[static_cast<std::size_t>(client + i) % items.size()];
            sh::test::http_reply r;
            try {
                r = co_await c.request(http::verb::post, "/items/" + std::to_string(id) + "/plays");
            } catch (const boost::system::system_error&) {
                ++unanswered; // the server stopped; connecting again fails
                co_return;
            }
            t.count(r);
            if (r.status == 202) {
                ++t.plays[id];
                ++acknowledged;
            } else {
                t.expect(r.status == 503, "POST plays", r);
            }
            if (acknowledged >= 400 && !signalled) {
                signalled = true;
                server->signal(SIGTERM);
            }
        }
    };
    std::vector<asio::awaitable<void>> players;
    for (int c = 0; c < 8; ++c)
        players.push_back(player(c));
    run_all(std::move(players));
    ASSERT_TRUE(signalled);
    ASSERT_EQ(server->wait(std::chrono::seconds(60)), 0) << server->log();
    for (const auto& u : t.unexpected)
        ADD_FAILURE() << u;

    auto db = sh::connection::open(dir.file("catalogue.db"), sh::open_mode::read_write, {}).value();
    std::int64_t stored_total = 0;
    for (auto id : items) {
        const auto stored =
            db.query_one<std::int64_t>("SELECT plays FROM items WHERE id = ?", id).value().value();
        EXPECT_GE(stored, t.plays[id]) << id;
        stored_total += stored;
    }
    std::printf("plays acknowledged %lld, unanswered %lld, stored %lld\n",
                static_cast<long long>(acknowledged), static_cast<long long>(unanswered),
                static_cast<long long>(stored_total));
    EXPECT_GE(stored_total, acknowledged);
    EXPECT_LE(stored_total, acknowledged + unanswered);
    EXPECT_EQ(db.query_one<std::int64_t>("SELECT count(*) FROM item_plays").value(), 0);
}

TEST(ServerCommandLine, VersionIsPrintedAndBadOptionsAreRefused) {
    const auto version = sh::test::run_program(CATALOGUE_SERVER, {"--version"});
    EXPECT_EQ(version.status, 0);
    EXPECT_EQ(version.out, std::string("catalogue_server ") + SQLITE_HYBRID_VERSION_STRING + "\n");
    for (std::vector<std::string> bad : {std::vector<std::string>{"--workers", "0"},
                                         {"--port", "http"}, {"--no-such-option"}}) {
        const auto r = sh::test::run_program(CATALOGUE_SERVER, bad);
        EXPECT_EQ(r.status, 2) << bad[0] << ": " << r.err;
        EXPECT_FALSE(r.err.empty()) << bad[0];
    }
}
