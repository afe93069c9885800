#pragma once
// The calls of a replica source's Config::after_write, recorded, and the
// rules they keep (test_redis and test_kafka).

#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <memlog/memlog.hpp>

#include "catch.hpp"

namespace memlog_test {

class WriteHookCalls {
 public:
  // An after_write that records the calling thread and `next_offset()` (how
  // far the log had come when it ran).
  [[nodiscard]] std::function<void()> callback(std::function<memlog::Offset()> next_offset) {
    return [this, next_offset = std::move(next_offset)] {
      const memlog::Offset next = next_offset();
      const std::lock_guard lock(mu_);
      calls_.push_back({std::this_thread::get_id(), next});
    };
  }

  // Once the source has stopped: every call came from one thread, not this
  // one; each after a read that wrote (the log had grown since the call
  // before); the last with the log at `last_next`.
  void check(memlog::Offset last_next) const {
    const std::lock_guard lock(mu_);
    REQUIRE_FALSE(calls_.empty());
    memlog::Offset previous = -1;
    for (const Call& call : calls_) {
      CHECK(call.thread != std::this_thread::get_id());
      CHECK(call.thread == calls_.front().thread);
      CHECK(call.next > previous);
      previous = call.next;
    }
    CHECK(calls_.back().next == last_next);
  }

 private:
  struct Call {
    std::thread::id thread;
    memlog::Offset next;
  };
  mutable std::mutex mu_;
  std::vector<Call> calls_;
};

}  // namespace memlog_test
