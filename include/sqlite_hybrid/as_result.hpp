// SPDX-License-Identifier: BSL-1.0
// A completion-token adapter: `co_await op(..., as_result)` yields result<T> instead of
// throwing; `as_result(token)` adapts any other token the same way.
#pragma once

#include <sqlite_hybrid/detail/forwarding_handler.hpp>
#include <sqlite_hybrid/result.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <type_traits>
#include <utility>

namespace sqlite_hybrid {

template <class Token = boost::asio::use_awaitable_t<>> struct as_result_t {
    Token token{};

    template <class T> constexpr as_result_t<std::decay_t<T>> operator()(T&& t) const {
        return {std::forward<T>(t)};
    }
};

inline constexpr as_result_t<> as_result{};

namespace detail {

template <class... Values> struct to_result {
    template <class Handler> void operator()(Handler&& h, error_code ec, Values... v) const {
        using value_type = std::conditional_t<sizeof...(Values) == 0, void,
                                              std::tuple_element_t<0, std::tuple<Values..., void>>>;
        if (ec)
            std::move(h)(result<value_type>(ec));
        else if constexpr (sizeof...(Values) == 0)
            std::move(h)(result<void>(outcome::success()));
        else
            std::move(h)(result<value_type>(std::move(v)...));
    }
};

} // namespace detail
} // namespace sqlite_hybrid

template <class Token, class... Values>
    requires(sizeof...(Values) <= 1)
struct boost::asio::async_result<sqlite_hybrid::as_result_t<Token>,
                                 void(sqlite_hybrid::error_code, Values...)> {
    using value_type = std::conditional_t<sizeof...(Values) == 0, void,
                                          std::tuple_element_t<0, std::tuple<Values..., void>>>;
    using result_signature = void(sqlite_hybrid::result<value_type>);

    template <class Initiation, class RawToken, class... Args>
    static auto initiate(Initiation&& init, RawToken&& token, Args&&... args) {
        Token inner_token = token.token;
        return boost::asio::async_initiate<Token, result_signature>(
            [init = std::forward<Initiation>(init)](auto handler, auto&&... inner) mutable {
                using transform = sqlite_hybrid::detail::to_result<Values...>;
                std::move(init)(
                    sqlite_hybrid::detail::forward_to<transform>(std::move(handler), transform{}),
                    std::forward<decltype(inner)>(inner)...);
            },
            inner_token, std::forward<Args>(args)...);
    }
};
