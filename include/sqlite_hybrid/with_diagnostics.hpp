// SPDX-License-Identifier: BSL-1.0
// The default completion token of the database's operations: `co_await db.async_execute(...)`
// throws error_with_diagnostics, a boost::system::system_error whose what() holds the
// database's own message (SQLite's sqlite3_errmsg, PostgreSQL's message), the error's offset
// and the start of the SQL, and which hands out the whole `diagnostics`.
//
//   try {
//       co_await db.async_execute("INSERT INTO nosuch VALUES (1)");
//   } catch (const sh::error_with_diagnostics& e) {
//       e.what();                  // "no such table: nosuch (in 'INSERT INTO nosuch VALUES (1)'):
//                                  //  SQL logic error [sqlite:1]"
//       e.code();                  // errc / sqlite codes, as ever
//       e.get_diagnostics().message;
//   }
//
// with_diagnostics(token) gives any other token the same: its handler gets
// (std::exception_ptr, T...) instead of (error_code, T...).
#pragma once

#include <sqlite_hybrid/diagnostics.hpp>
#include <sqlite_hybrid/error.hpp>

#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/system/system_error.hpp>

#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace sqlite_hybrid {

class error_with_diagnostics : public boost::system::system_error {
public:
    error_with_diagnostics(error_code ec, diagnostics d) : system_error(with_text(ec, d)), diag_(std::move(d)) {}

    const diagnostics& get_diagnostics() const noexcept { return diag_; }

private:
    // what(): "message (at offset N in 'SQL...'): the code's message [category:value]".
    static system_error with_text(error_code ec, const diagnostics& d);

    diagnostics diag_;
};

template <class Token> struct with_diagnostics_t {
    Token token;
};

template <class Token> with_diagnostics_t<std::decay_t<Token>> with_diagnostics(Token&& token) {
    return {std::forward<Token>(token)};
}

namespace detail {

// Turns (error_code, T...) into (exception_ptr, T...), the error carrying what the operation
// wrote into `diag` (and copying it to the caller's own diagnostics, if one was passed too).
template <class Handler> struct diagnosing_handler {
    Handler handler;
    std::unique_ptr<diagnostics> diag = std::make_unique<diagnostics>();
    diagnostics* also = nullptr;

    template <class... Args> void operator()(error_code ec, Args&&... args) {
        std::exception_ptr error;
        if (ec) {
            if (also)
                *also = *diag;
            error = std::make_exception_ptr(error_with_diagnostics(ec, std::move(*diag)));
        } else if (also) {
            also->clear();
        }
        diag.reset();
        std::move(handler)(std::move(error), std::forward<Args>(args)...);
    }
};

// Where an operation writes its diagnostics: the handler's own when it has some (the caller's
// `diag`, if any, then gets a copy), else the caller's.
template <class Handler> diagnostics* diagnostics_target(Handler&, diagnostics* diag) { return diag; }
template <class Handler>
diagnostics* diagnostics_target(diagnosing_handler<Handler>& h, diagnostics* diag) {
    h.also = diag;
    return h.diag.get();
}

} // namespace detail
} // namespace sqlite_hybrid

template <template <class, class> class Associator, class Handler, class DefaultCandidate>
struct boost::asio::associator<Associator, sqlite_hybrid::detail::diagnosing_handler<Handler>,
                               DefaultCandidate> : Associator<Handler, DefaultCandidate> {
    using wrapper = sqlite_hybrid::detail::diagnosing_handler<Handler>;
    static typename Associator<Handler, DefaultCandidate>::type get(const wrapper& h) noexcept {
        return Associator<Handler, DefaultCandidate>::get(h.handler);
    }
    static auto get(const wrapper& h, const DefaultCandidate& c) noexcept
        -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler, c)) {
        return Associator<Handler, DefaultCandidate>::get(h.handler, c);
    }
};

template <class Token, class... Args>
struct boost::asio::async_result<sqlite_hybrid::with_diagnostics_t<Token>,
                                 void(sqlite_hybrid::error_code, Args...)> {
    template <class Initiation, class RawToken, class... InitArgs>
    static auto initiate(Initiation&& init, RawToken&& token, InitArgs&&... args) {
        return boost::asio::async_initiate<Token, void(std::exception_ptr, Args...)>(
            [init = std::forward<Initiation>(init)](auto handler, auto&&... a) mutable {
                std::move(init)(sqlite_hybrid::detail::diagnosing_handler<decltype(handler)>{
                                    std::move(handler)},
                                std::forward<decltype(a)>(a)...);
            },
            token.token, std::forward<InitArgs>(args)...);
    }
};
