#pragma once
// <memlog/asio.hpp>: read a memlog::Stream inside a Boost.Asio event loop,
// without a thread per reader. CMake target memlog::asio (memlog plus
// Boost's headers); <memlog/asio_standalone.hpp> is the same for standalone
// Asio (namespace memlog::asio_standalone).
//
//   memlog::asio::async_next(stream, token)             (also memlog::async_next)
//   memlog::asio::async_next(stream, canceller, token)  (see NextCanceller)
//
// completes with the record at stream.position() once it is written, and
// moves the stream past it: an asynchronous Stream::next(). Completion
// signature void(boost::system::error_code, memlog::Record<T>); on an error
// the record is Record<T>{} (so T must be default-constructible). Any
// completion token: a callback (bind_executor for its executor),
// use_awaitable, use_future, redirect_error, and deferred where the Boost
// has it. In a coroutine:
//
//   auto stream = log.stream(0, stop.get_token());   // outlives the operation
//   for (;;) {
//     memlog::Record<std::string> r = co_await memlog::async_next(stream, use_awaitable);
//     ...   // throws boost::system::system_error: e.code() == memlog::Errc::closed, ...
//   }
//
// Errors (`ec == memlog::Errc::closed` works for the Boost error_code):
//   Errc::closed          the log was closed and the stream has delivered
//                         everything written before; the stream has ended
//   Errc::out_of_range    the position was purged or expired, also while
//                         waiting (unless StreamOptions::reset says to go on)
//   Errc::cancelled       the stream's stop_token was triggered, also while
//                         waiting; the stream has ended
//   Errc::offset_overflow the position can never be written
//   boost::asio::error::operation_aborted
//                         this operation was cancelled (its cancellation slot
//                         or a NextCanceller); nothing was consumed and the
//                         stream goes on
// Boost.Asio's conventions make the error a boost::system::error_code: it is
// what use_awaitable and use_future turn into an exception and what
// redirect_error captures (a std::error_code would come back as a tuple
// element instead). Boost 1.74's error_code cannot hold a
// std::error_category, so memlog's errors travel in boost_error_category(),
// which mirrors memlog::error_category() (name "memlog", same values and
// messages); to_std_error_code() gives memlog's std::error_code back.
//
// Conventions followed:
// - The handler runs on its associated executor (system_executor if it has
//   none, as with boost::asio::post), never inside the initiating call: even
//   when the record is there, the completion is posted. While the operation
//   waits it counts as work on that executor (run() does not return).
// - The operation's state is allocated with the handler's associated
//   allocator and freed before the handler is called.
// - While it waits, nothing runs on the writer's thread but the hand-off: the
//   write (or close()) that reaches the operation posts its continuation to
//   the handler's executor, which reads the record there.
// - Cancellation: the stream's stop_token completes a waiting operation with
//   Errc::cancelled (as Stream::next() does). Per-operation cancellation,
//   which leaves the stream usable, comes from the handler's associated
//   cancellation slot (Boost >= 1.77; every cancellation type is honoured,
//   as a cancelled operation has consumed nothing) or from a NextCanceller
//   (any Boost; cancel() from any thread).
//
// What Boost 1.74 (Debian 12; Asio 1.18) lacks, and what to do instead:
// - cancellation slots (Boost 1.77): a NextCanceller, or the stop_token;
// - deferred (Boost 1.80) and as_tuple (Boost 1.78): a callback, or catch;
// - immediate executors (Boost 1.82): an immediate completion is posted;
// - co_await under Clang with libstdc++: Boost 1.74 looks for
//   <experimental/coroutine> only; compile with BOOST_ASIO_HAS_CO_AWAIT=1
//   (GCC needs nothing).
//
// Why Boost.Asio first: a server that streams a log to many clients is
// written on Boost.Beast, which needs Boost.Asio, and Debian ships both.
// <memlog/asio_standalone.hpp> shares the implementation
// (detail/asio_next.hpp) and differs in namespaces and error_code only.
//
// Rules:
// - One async_next per stream at a time (debug builds assert), and nothing
//   else uses the stream until its handler runs: the operation reads the
//   stream on the handler's executor.
// - The stream and its log outlive the operation. An execution context
//   destroyed while an operation waits (stopped, or never run again)
//   destroys the operation without calling its handler, as Asio does with
//   its own pending operations (a coroutine waiting in it is destroyed); it
//   needs the stream and the log for that, so declare them before the
//   io_context.
// - If copying the record throws, or the log cannot allocate its first
//   waiter's parking, the exception leaves the initiating call or the
//   executor's run(); the handler is destroyed without being called and the
//   stream stays where it was. A post that cannot allocate on a writer's
//   thread terminates.

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/version.hpp>
#include <boost/system/error_code.hpp>
#if BOOST_ASIO_VERSION >= 101900
#include <boost/asio/associated_cancellation_slot.hpp>
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
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "async_waiter.hpp"
#include "detail/asio_common.hpp"
#include "errors.hpp"
#include "record.hpp"
#include "result.hpp"
#include "stream.hpp"

namespace memlog::asio {

namespace net = ::boost::asio;
using error_code = ::boost::system::error_code;

// Whether handlers' cancellation slots are honoured (Boost >= 1.77).
inline constexpr bool has_cancellation_slots = BOOST_ASIO_VERSION >= 101900;

namespace detail {

class BoostErrorCategory final : public ::boost::system::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return ::memlog::error_category().name(); }
  [[nodiscard]] std::string message(int code) const override { return ::memlog::error_category().message(code); }
};

}  // namespace detail

// memlog's error category as a Boost.System one.
[[nodiscard]] inline const ::boost::system::error_category& boost_error_category() noexcept {
  static const detail::BoostErrorCategory category;
  return category;
}

// A memlog std::error_code as the error_code of a completion.
[[nodiscard]] inline error_code to_error_code(const std::error_code& error) noexcept {
  if (!error) return {};
  if (error.category() == ::memlog::error_category()) return {error.value(), boost_error_category()};
  if (error.category() == std::system_category()) return {error.value(), ::boost::system::system_category()};
  return {error.value(), ::boost::system::generic_category()};
}

// A completion's error_code as a std::error_code: memlog's errors in
// memlog::error_category(), others as Boost.System converts them.
[[nodiscard]] inline std::error_code to_std_error_code(const error_code& error) noexcept {
  if (error.category() == boost_error_category()) return {error.value(), ::memlog::error_category()};
  return error;
}

// The handler's cancellation slot, where Boost.Asio has them.
template <class Handler>
[[nodiscard]] auto cancellation_slot_of([[maybe_unused]] const Handler& handler) noexcept {
#if BOOST_ASIO_VERSION >= 101900
  return net::get_associated_cancellation_slot(handler);
#else
  return ::memlog::detail::NoCancellationSlot{};
#endif
}

#include "detail/asio_next.hpp"

}  // namespace memlog::asio

namespace memlog {

using asio::async_next;

// `ec == memlog::Errc::closed` for a completion's error_code (found by ADL
// through Errc; != follows).
[[nodiscard]] inline bool operator==(const ::boost::system::error_code& error, Errc code) noexcept {
  return error.category() == asio::boost_error_category() && error.value() == static_cast<int>(code);
}

}  // namespace memlog
