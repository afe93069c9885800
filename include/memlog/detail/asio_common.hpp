#pragma once
// What the Asio adapters (<memlog/asio.hpp>, <memlog/asio_standalone.hpp>)
// share whatever the Asio: nothing here includes Asio.

#include <cassert>
#include <mutex>
#include <unordered_set>

namespace memlog::detail {

// Debug builds: the streams with an asynchronous next() outstanding, to
// assert that a stream has at most one at a time. Release builds: nothing.
class OutstandingNexts {
 public:
  static void enter([[maybe_unused]] const void* stream) {
#ifndef NDEBUG
    OutstandingNexts& self = instance();
    const std::lock_guard lock(self.mu_);
    const bool first = self.streams_.insert(stream).second;
    assert(first && "memlog: a second async_next on a stream whose first has not completed");
#endif
  }

  static void leave([[maybe_unused]] const void* stream) noexcept {
#ifndef NDEBUG
    OutstandingNexts& self = instance();
    const std::lock_guard lock(self.mu_);
    self.streams_.erase(stream);
#endif
  }

 private:
  static OutstandingNexts& instance() {
    static OutstandingNexts self;
    return self;
  }

  std::mutex mu_;
  std::unordered_set<const void*> streams_;
};

// The cancellation slot of a handler under an Asio that has none (before
// Asio 1.19, Boost 1.77): never connected.
struct NoCancellationSlot {
  [[nodiscard]] static constexpr bool is_connected() noexcept { return false; }
  template <class Handler, class... Args>
  void emplace(Args&&...) noexcept {}
  void clear() noexcept {}
};

}  // namespace memlog::detail
