#pragma once
// memlog::AsyncWaiter: waiting for a record without blocking a thread.
//
// A blocking Stream parks its thread until a write wakes it. A reader that
// lives in an event loop (Asio, libuv, epoll) must not block: it arms an
// AsyncWaiter for the offset it wants, goes back to its loop, and the write
// of that offset calls the waiter's callback. The callback runs on the
// writer's thread (or the thread calling close()) after the log's locks are
// released, and must only hand the event to the reader's own thread: post to
// an executor, write to an eventfd, call uv_async_send. The reader then reads
// there (Stream::try_next(), Log::read_batch), and arms again when it has
// caught up. For example, with epoll and an eventfd:
//
//   struct Wakeup : memlog::AsyncWaiter {  // derive to carry context
//     int event_fd;
//     explicit Wakeup(int fd) : AsyncWaiter([](memlog::AsyncWaiter& w) noexcept {
//       const std::uint64_t one = 1;  // the loop wakes up
//       (void)::write(static_cast<Wakeup&>(w).event_fd, &one, sizeof one);
//     }), event_fd(fd) {}
//   } waiter(event_fd);
//   // In the loop, whenever event_fd is readable (and once at the start):
//   //   drain event_fd; while (auto r = stream.try_next()) send(*r);
//   //   if the error is timed_out: if (!stream.wait_async(waiter)) go round again
//   //   else the stream has ended: stream.error() says why
//
// A write pays nothing for a waiter that waits for a later offset; the write
// that reaches it unlinks it and calls it once.
//
// Rules: a waiter is armed at most once at a time; while armed it must not be
// moved or destroyed. cancel_wait() disarms it: when it returns true the
// callback will not be called; when it returns false the callback has been
// called or is being called right now, and the waiter must live until the
// callback has returned (the callback's hand-off is what tells the owner).

#include "detail/event_count.hpp"
#include "record.hpp"

namespace memlog {

template <class T>
class Log;

class AsyncWaiter : private detail::WaitNode {
 public:
  // Called once per arming that is not cancelled; noexcept, and quick.
  using Callback = void (*)(AsyncWaiter&) noexcept;

  explicit AsyncWaiter(Callback callback) noexcept : callback_(callback) {
    complete = [](detail::WaitNode& node) noexcept {
      auto& self = static_cast<AsyncWaiter&>(node);
      self.callback_(self);
    };
  }

  AsyncWaiter(const AsyncWaiter&) = delete;
  AsyncWaiter& operator=(const AsyncWaiter&) = delete;

  // The offset of the last arming (for its owner, while it is not armed or
  // in its callback).
  [[nodiscard]] Offset offset() const noexcept { return target; }

 private:
  template <class>
  friend class Log;

  [[nodiscard]] detail::WaitNode& node() noexcept { return *this; }

  Callback callback_;
};

}  // namespace memlog
