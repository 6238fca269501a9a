// SPDX-License-Identifier: BSL-1.0
// A handler wrapper that transforms the completion arguments while keeping every association
// (executor, allocator, cancellation slot) of the handler it wraps.
#pragma once

#include <boost/asio/associator.hpp>

#include <utility>

namespace sqlite_hybrid::detail {

template <class Handler, class Transform> struct forwarding_handler {
    Handler handler;
    Transform transform;

    template <class... Args> void operator()(Args&&... args) {
        transform(std::move(handler), std::forward<Args>(args)...);
    }
};

template <class Transform, class Handler>
forwarding_handler<std::decay_t<Handler>, Transform> forward_to(Handler&& h, Transform t = {}) {
    return {std::forward<Handler>(h), std::move(t)};
}

} // namespace sqlite_hybrid::detail

template <template <class, class> class Associator, class Handler, class Transform,
          class DefaultCandidate>
struct boost::asio::associator<Associator,
                               sqlite_hybrid::detail::forwarding_handler<Handler, Transform>,
                               DefaultCandidate> : Associator<Handler, DefaultCandidate> {
    using wrapper = sqlite_hybrid::detail::forwarding_handler<Handler, Transform>;
    static typename Associator<Handler, DefaultCandidate>::type get(const wrapper& h) noexcept {
        return Associator<Handler, DefaultCandidate>::get(h.handler);
    }
    static auto get(const wrapper& h, const DefaultCandidate& c) noexcept
        -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler, c)) {
        return Associator<Handler, DefaultCandidate>::get(h.handler, c);
    }
};
