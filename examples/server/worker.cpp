// SPDX-License-Identifier: BSL-1.0
#include "worker.hpp"

#include "app.hpp"
#include "catalogue.hpp"
#include "http_session.hpp"
#include "logging.hpp"
#include "play_counter.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <spdlog/spdlog.h>
#include <sqlite_hybrid/as_result.hpp>
#include <sqlite_hybrid/database.hpp>
#include <sqlite_hybrid/log_database.hpp>
#include <sys/socket.h>
#include <unistd.h>

namespace sh = sqlite_hybrid;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace catalogue {
namespace {

constexpr auto tuple = asio::as_tuple(asio::use_awaitable);

std::string log_database_path(const server_options& o) {
    if (!o.log_database.empty())
        return o.log_database;
    const std::filesystem::path p(o.database);
    return (p.parent_path() / (p.stem().string() + "-logs" + p.extension().string())).string();
}

// Every worker binds the same port with SO_REUSEPORT; the kernel spreads new connections
// among their listeners.
tcp::acceptor listen_shared(const asio::any_io_executor& ex, const std::string& address,
                            unsigned short port) {
    const tcp::endpoint endpoint(asio::ip::make_address(address), port);
    tcp::acceptor acceptor(ex);
    acceptor.open(endpoint.protocol());
    const int on = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
        throw boost::system::system_error(errno, boost::system::system_category(), "SO_REUSEPORT");
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    return acceptor;
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, app& a, connection_tracker& tracker) {
    auto ex = co_await asio::this_coro::executor;
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(tuple);
        if (a.stopping || !acceptor.is_open())
            co_return;
        if (ec) {
            // Out of descriptors or memory: give open connections a moment to end.
            a.log.warn("accept: {}", ec.message());
            asio::steady_timer pause(ex, std::chrono::milliseconds(50));
            co_await pause.async_wait(tuple);
            continue;
        }
        if (tracker.size() >= a.options.max_connections)
            continue; // closed as `socket` goes
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        asio::co_spawn(ex, serve_connection(std::move(socket), a, tracker),
                       [&log = a.log](std::exception_ptr e) {
                           try {
                               if (e)
                                   std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                               log.error("connection: {}", ex.what());
                           }
                       });
    }
}

asio::awaitable<int> serve(const server_options& o, const worker_identity& id,
                           sh::log_database& logs, spdlog::logger& log, asio::signal_set& signals) {
    auto ex = co_await asio::this_coro::executor;
    sh::database_options dbo;
    dbo.migrations = catalogue_store::migrations();
    sh::diagnostics diag;
    auto opened = co_await sh::database::async_open(ex, o.database, dbo, diag, sh::as_result);
    if (!opened) {
        log.critical("cannot open {}: {} {}", o.database, opened.error().message(), diag.message);
        co_return 1;
    }
    auto db = std::move(opened).value();
    catalogue_store items(db, o.write_deadline);
    play_counter plays(db, items, o.flush_interval);
    co_await plays.start(id.index);

    auto acceptor = listen_shared(ex, o.address, id.port);
    app a{o, id.index, db, items, plays, logs, log};
    connection_tracker tracker(ex);
    bool accepting = true;
    asio::steady_timer accept_ended(ex, std::chrono::steady_clock::time_point::max());
    asio::co_spawn(ex, accept_loop(acceptor, a, tracker), [&](std::exception_ptr) {
        accepting = false;
        accept_ended.cancel();
    });
    log.info("worker {} (pid {}, run {}) serving {} on {}:{}", id.index, getpid(), plays.run_id(),
             o.database, o.address, id.port);
    const char ready = 'r';
    if (::write(id.ready_fd, &ready, 1) != 1)
        log.warn("cannot tell the supervisor that this worker is ready");
    ::close(id.ready_fd);

    auto [signal_error, signal] = co_await signals.async_wait(tuple);
    log.info("worker {}: signal {}, stopping", id.index, signal_error ? 0 : signal);
    a.stopping = true;
    acceptor.close();
    while (accepting)
        co_await accept_ended.async_wait(tuple);
    co_await tracker.drain(o.shutdown_timeout);

    bool ok = co_await plays.stop();
    auto closed = co_await db.async_close(sh::as_result);
    if (!closed) {
        log.error("closing {}: {}", o.database, closed.error().message());
        ok = false;
    }
    log.info("worker {} stopped{}", id.index, ok ? "" : " with errors");
    co_return ok ? 0 : 1;
}

} // namespace

int run_worker(const server_options& o, const worker_identity& id) {
    asio::io_context io;
    // Installed before the signals are unblocked: none can be missed.
    asio::signal_set signals(io, SIGTERM, SIGINT);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);

    std::optional<sh::log_database> logs;
    try {
        sh::log_database_options lo;
        lo.main_database_path = o.database;
        logs.emplace(io.get_executor(), log_database_path(o), lo);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "worker %d: log database: %s\n", id.index, e.what());
        return 1;
    }
    auto log = worker_logger(*logs, id.index, o.log_level);

    int status = 1;
    asio::co_spawn(io, serve(o, id, *logs, *log, signals), [&](std::exception_ptr e, int s) {
        status = s;
        try {
            if (e)
                std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            status = 1;
            log->critical("worker {} failed: {}", id.index, ex.what());
        }
        // Writes what is buffered and closes; io.run() returns once that is done.
        logs->async_stop([](sh::error_code) {});
    });
    io.run();
    // The log database's sinks share its state, whose timers belong to `io`: release them
    // while `io` exists (spdlog's registry would keep them until exit).
    console_logger(o.log_level, "worker " + std::to_string(id.index));
    log.reset();
    return status;
}

} // namespace catalogue
