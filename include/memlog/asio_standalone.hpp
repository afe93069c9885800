#pragma once
// <memlog/asio_standalone.hpp>: <memlog/asio.hpp> for standalone Asio
// (Debian's libasio-dev 1.22), in namespace memlog::asio_standalone:
//
//   memlog::asio_standalone::async_next(stream, token)
//   memlog::asio_standalone::async_next(stream, canceller, token)
//
// Everything <memlog/asio.hpp> says holds, with ::asio for boost::asio and
// std::error_code for boost::system::error_code: memlog's errors are
// memlog::make_error_code(Errc) as everywhere else in memlog, and
// cancellation through the handler's slot gives asio::error::operation_aborted.
// Asio 1.22 has cancellation slots (so co_spawn with bind_cancellation_slot,
// parallel_group and the awaitable operators cancel a waiting operation),
// and asio::experimental::deferred. Under Clang with libstdc++, define
// ASIO_HAS_CO_AWAIT=1 for use_awaitable (Asio 1.22 looks for
// <experimental/coroutine> there). Not in the same translation unit as
// <memlog/asio.hpp>: Boost 1.74's Asio and Asio 1.22 declare the same global
// names (asio_execution_*_fn), whatever memlog does.

#include <asio/associated_allocator.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/error.hpp>
#include <asio/error_code.hpp>
#include <asio/execution.hpp>
#include <asio/execution_context.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/version.hpp>
#if ASIO_VERSION >= 101900
#include <asio/associated_cancellation_slot.hpp>
#endif

#include <atomic>
#include <cassert>
#include <concepts>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stop_token>
#include <system_error>
#include <type_traits>
#include <utility>

#include "async_waiter.hpp"
#include "detail/asio_common.hpp"
#include "errors.hpp"
#include "record.hpp"
#include "result.hpp"
#include "stream.hpp"

namespace memlog::asio_standalone {

namespace net = ::asio;
using error_code = ::asio::error_code;
static_assert(std::is_same_v<error_code, std::error_code>,
              "memlog: standalone Asio is expected to use std::error_code");

// Whether handlers' cancellation slots are honoured (Asio >= 1.19).
inline constexpr bool has_cancellation_slots = ASIO_VERSION >= 101900;

[[nodiscard]] inline error_code to_error_code(const std::error_code& error) noexcept { return error; }

// The handler's cancellation slot, where Asio has them.
template <class Handler>
[[nodiscard]] auto cancellation_slot_of([[maybe_unused]] const Handler& handler) noexcept {
#if ASIO_VERSION >= 101900
  return net::get_associated_cancellation_slot(handler);
#else
  return ::memlog::detail::NoCancellationSlot{};
#endif
}

#include "detail/asio_next.hpp"

}  // namespace memlog::asio_standalone
