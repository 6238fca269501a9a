// SPDX-License-Identifier: BSL-1.0
#include "database_impl.hpp"


#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/system_executor.hpp>

namespace sqlite_hybrid {

database::database(std::shared_ptr<detail::database_impl> impl) noexcept : impl_(std::move(impl)) {}

database& database::operator=(database&& other) noexcept {
    if (this != &other) {
        this->~database();
        new (this) database(std::move(other));
    }
    return *this;
}

database::~database() {
    if (!impl_)
        return;
    impl_->shutdown();
    if (impl_->own_pool_)
        impl_->own_pool_->join(); // the pool's last tasks may still hold the implementation
}

void database::start(std::shared_ptr<detail::database_impl> impl, detail::job_kind kind,
                     detail::job_ptr job, diagnostics* diag, detail::job_handler handler) {
    asio::any_io_executor fallback = impl ? impl->io_executor()
                                          : asio::any_io_executor(asio::system_executor());
    auto op = std::make_unique<detail::pending_op>(kind, std::move(job), std::move(handler), diag,
                                                   fallback);
    if (impl) {
        // A caller's deadline (with_retry's) reaches the wait through the cancellation slot.
        op->lock_deadline = std::chrono::steady_clock::now() + impl->options_.lock_timeout;
        ++impl->in_flight_; // before the check, so that a close racing with us waits for us
        if (!impl->closed()) {
            impl->submit(std::move(op));
            return;
        }
    }
    op->diag.message = "the database is closed";
    detail::completion_batch done;
    done.add(std::move(op), make_error_code(errc::closed));
    done.flush();
    if (impl)
        impl->operation_finished(1);
}

void database::start_open(executor_type ex, std::string path, database_options options,
                          diagnostics* diag,
                          asio::any_completion_handler<void(error_code, database)> handler) {
    auto caller = detail::tracked_executor(handler, ex);
    auto impl = std::make_shared<detail::database_impl>(ex, std::move(path), std::move(options));
    auto strand = impl->writer_strand();
    asio::post(strand, [impl = std::move(impl), caller, diag,
                        handler = std::move(handler)]() mutable {
        diagnostics why;
        const error_code ec = impl->open(why);
        // Completing on the caller's executor also destroys a failed implementation there,
        // never on a thread of the pool it owns.
        detail::hand_over(std::move(caller), [impl = std::move(impl), ec, diag, why = std::move(why),
                                   handler = std::move(handler)]() mutable {
            if (diag)
                *diag = std::move(why);
            if (ec) {
                auto failed = std::move(impl);
                std::move(handler)(ec, database());
            } else {
                std::move(handler)(ec, database(std::move(impl)));
            }
        });
    });
}

void database::start_close(std::shared_ptr<detail::database_impl> impl,
                           asio::any_completion_handler<void(error_code)> handler) {
    if (!impl) {
        auto ex = asio::get_associated_executor(handler, asio::system_executor());
        asio::dispatch(ex, [h = std::move(handler)]() mutable { std::move(h)(make_error_code(errc::closed)); });
        return;
    }
    impl->request_close(std::move(handler));
}

bool database::is_open() const noexcept { return impl_ && !impl_->closed(); }
metrics_snapshot database::metrics() const { return impl_ ? impl_->metrics() : metrics_snapshot{}; }
applied_settings database::writer_settings() const {
    return impl_ ? impl_->writer_settings() : applied_settings{};
}
const std::string& database::path() const noexcept {
    static const std::string none;
    return impl_ ? impl_->path() : none;
}
database::executor_type database::get_executor() const noexcept {
    return impl_ ? impl_->io_executor() : executor_type();
}

} // namespace sqlite_hybrid
