// The Asio adapters (issue 14, item 2): memlog::asio::async_next (Boost.Asio,
// <memlog/asio.hpp>) and memlog::asio_standalone::async_next (Asio,
// <memlog/asio_standalone.hpp>). This file is built twice: test_asio with
// Boost.Asio, and test_asio_standalone with MEMLOG_TEST_ASIO_STANDALONE.
//
// What is checked: completion on write, on the handler's executor and never
// inside the initiating call; close(); out_of_range for a position purged
// while waiting; cancellation by the stream's stop_token, by a NextCanceller
// and (where the Asio has them) by the handler's cancellation slot, each
// also racing with the write (exactly one outcome, and a cancelled
// operation consumes nothing); thousands of operations on one offset and on
// many offsets; an io_context destroyed while operations wait (nothing
// called, nothing leaked: counted objects and, under ASan, LeakSanitizer);
// use_awaitable in a coroutine, use_future from a thread without an
// io_context, deferred (Asio 1.22), and the handler's allocator.
//
// No sleeps: each io_context runs with a long run_for() only as a safety net,
// and the checks after it say what should have happened. Logs, streams and
// cancellers are declared before their io_context: an operation still
// waiting when it is destroyed (after a failed check) is destroyed with it,
// and needs them.

#if defined(MEMLOG_TEST_ASIO_STANDALONE)
#include <memlog/asio_standalone.hpp>

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/system_executor.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <asio/version.hpp>
#if ASIO_VERSION >= 101900
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#define MEMLOG_TEST_SLOTS 1
#endif
#if ASIO_VERSION >= 102200
#include <asio/experimental/deferred.hpp>
#define MEMLOG_TEST_DEFERRED 1
#endif
namespace net = ::asio;
namespace adapter = memlog::asio_standalone;
using ErrorCode = std::error_code;
using SystemError = std::system_error;
#else
#include <memlog/asio.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/version.hpp>
#include <boost/system/system_error.hpp>
#if BOOST_ASIO_VERSION >= 101900
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#define MEMLOG_TEST_SLOTS 1
#endif
namespace net = ::boost::asio;
namespace adapter = memlog::asio;
using ErrorCode = boost::system::error_code;
using SystemError = boost::system::system_error;
#endif

#include <memlog/memlog.hpp>

#include "support/catch.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <latch>
#include <memory>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using memlog::Errc;
using memlog::Offset;
using Record = memlog::Record<std::string>;
using Stream = memlog::Stream<std::string>;

// Only a safety net: every run below ends by itself when the adapter works.
constexpr auto safety_net = 60s;

// What a handler saw.
struct Outcome {
  int calls = 0;
  ErrorCode error;
  Record record;
  std::thread::id thread;
};

// A handler that fills `out`, bound to `executor`.
template <class Executor>
auto fill(Outcome& out, const Executor& executor) {
  return net::bind_executor(executor, [&out](ErrorCode error, Record record) {
    ++out.calls;
    out.error = error;
    out.record = std::move(record);
    out.thread = std::this_thread::get_id();
  });
}

// Counts live instances: a handler that carries one proves it was destroyed.
struct Counted {
  static inline std::atomic<int> live{0};
  Counted() noexcept { live.fetch_add(1); }
  Counted(const Counted&) noexcept { live.fetch_add(1); }
  Counted(Counted&&) noexcept { live.fetch_add(1); }
  Counted& operator=(const Counted&) = default;
  Counted& operator=(Counted&&) = default;
  ~Counted() { live.fetch_sub(1); }
};

// Starts two threads' work together, and joins them. The second one
// first spins for `delay` rounds, so that a test can vary who wins.
template <class A, class B>
void race(A&& a, B&& b, unsigned delay = 0) {
  std::latch start(2);
  std::thread first([&] {
    start.arrive_and_wait();
    a();
  });
  std::thread second([&] {
    start.arrive_and_wait();
    std::atomic<unsigned> spin{0};
    while (spin.fetch_add(1, std::memory_order_relaxed) < delay) {
    }
    b();
  });
  first.join();
  second.join();
}

// Delays for race(), from a fixed seed: printed with the outcomes.
constexpr std::uint32_t race_seed = 14;

TEST_CASE("async_next completes when the awaited record is written, on the handler's executor", "[asio]") {
  memlog::Log<std::string> log;
  Stream stream = log.stream(0);
  Outcome out;
  net::io_context io;
  adapter::async_next(stream, fill(out, io.get_executor()));
  io.poll();
  CHECK(out.calls == 0);
  CHECK(log.stats().waiting == 1);

  std::thread writer([&] { REQUIRE(log.write("a") == 0); });
  writer.join();
  CHECK(out.calls == 0);  // the write only posted to the io_context
  io.run_for(safety_net);
  CHECK(out.calls == 1);
  CHECK_FALSE(out.error);
  CHECK(out.record.metadata.offset == 0);
  CHECK(out.record.data == "a");
  CHECK(out.thread == std::this_thread::get_id());
  CHECK(stream.position() == 1);
  CHECK(log.stats().waiting == 0);
}

TEST_CASE("a waiting operation keeps run() going until a write completes it", "[asio]") {
  memlog::Log<std::string> log;
  Stream stream = log.stream(0);
  Outcome out;
  net::io_context io;
  adapter::async_next(stream, fill(out, io.get_executor()));
  // Without the operation's work on the executor, run() would return at
  // once and the write's completion would never run.
  std::size_t handlers = 0;
  std::thread runner([&] { handlers = io.run_for(safety_net); });
  REQUIRE(log.write("a") == 0);
  runner.join();
  CHECK(handlers >= 1);
  CHECK(out.calls == 1);
  CHECK(out.record.data == "a");
}

TEST_CASE("a record that is there already completes through the executor, never inside the initiating call",
          "[asio]") {
  memlog::Log<std::string> log;
  REQUIRE(log.write("a") == 0);
  REQUIRE(log.write("b") == 1);
  Stream stream = log.stream(0);
  Outcome first;
  net::io_context io;
  adapter::async_next(stream, fill(first, io.get_executor()));
  CHECK(first.calls == 0);
  CHECK(log.stats().waiting == 0);  // nothing armed: the record is there

  // Also from a handler running on the same executor, where a dispatch
  // would run the handler inline.
  Outcome second;
  int calls_right_after = -1;
  net::post(io, [&] {
    adapter::async_next(stream, fill(second, io.get_executor()));
    calls_right_after = second.calls;
  });
  io.run_for(safety_net);
  CHECK(calls_right_after == 0);
  CHECK(first.calls == 1);
  CHECK(first.record.metadata.offset == 0);
  CHECK(second.calls == 1);
  CHECK(second.record.metadata.offset == 1);
}

TEST_CASE("a handler may start the next async_next: a chain reads every record in order", "[asio]") {
  memlog::Log<std::string> log({.max_segment_size = 1000});
  Stream stream = log.stream(0);
  net::io_context io;
  std::vector<Offset> got;
  ErrorCode end;
  std::function<void()> next = [&] {
    adapter::async_next(stream, net::bind_executor(io, [&](ErrorCode error, Record record) {
                          if (error) {
                            end = error;
                            return;
                          }
                          got.push_back(record.metadata.offset);
                          next();
                        }));
  };
  next();
  std::thread writer([&] {
    for (int i = 0; i < 500; ++i) REQUIRE(log.write(std::to_string(i)) == i);
    log.close();
  });
  io.run_for(safety_net);
  writer.join();
  REQUIRE(got.size() == 500);
  for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == static_cast<Offset>(i));
  CHECK(end == Errc::closed);
}

TEST_CASE("close() completes a waiting operation with closed, after the records written before it", "[asio]") {
  memlog::Log<std::string> log;
  Stream stream = log.stream(0);
  Outcome out;
  net::io_context io;

  SECTION("close() while waiting, nothing written") {
    adapter::async_next(stream, fill(out, io.get_executor()));
    io.poll();
    log.close();
    io.run_for(safety_net);
    CHECK(out.calls == 1);
    CHECK(out.error == Errc::closed);
    CHECK(out.record == Record{});
    CHECK(stream.error() == Errc::closed);
  }

  SECTION("records written, then close(), while waiting") {
    adapter::async_next(stream, fill(out, io.get_executor()));
    io.poll();
    REQUIRE(log.write("a") == 0);
    REQUIRE(log.write("b") == 1);
    log.close();
    io.run_for(safety_net);
    CHECK(out.record.data == "a");
    for (const char* expected : {"b", ""}) {
      Outcome more;
      adapter::async_next(stream, fill(more, io.get_executor()));
      io.restart();
      io.run_for(safety_net);
      CHECK(more.calls == 1);
      CHECK(more.record.data == expected);
      CHECK((more.error == Errc::closed) == (std::string(expected).empty()));
    }
  }
  CHECK(log.stats().waiting == 0);
}

TEST_CASE("a position purged while the operation waits completes it with out_of_range", "[asio]") {
  memlog::Log<std::string> log({.max_segment_size = 2});
  Outcome out;

  SECTION("the stream ends") {
    Stream stream = log.stream(0);
    net::io_context io;
    adapter::async_next(stream, fill(out, io.get_executor()));
    io.poll();
    // The write of offset 0 completes the waiter; the handler has not run
    // when the next writes purge it.
    for (int i = 0; i < 6; ++i) REQUIRE(log.write(std::to_string(i)) == i);
    io.run_for(safety_net);
    CHECK(out.calls == 1);
    CHECK(out.error == Errc::out_of_range);
    CHECK(stream.error() == Errc::out_of_range);
  }

  SECTION("Reset::earliest goes on from the earliest record") {
    Stream stream = log.stream(0, {}, {.reset = memlog::Reset::earliest});
    net::io_context io;
    adapter::async_next(stream, fill(out, io.get_executor()));
    io.poll();
    for (int i = 0; i < 6; ++i) REQUIRE(log.write(std::to_string(i)) == i);
    io.run_for(safety_net);
    CHECK(out.calls == 1);
    CHECK_FALSE(out.error);
    CHECK(out.record.metadata.offset == log.range().earliest);
    CHECK(stream.skipped() > 0);
  }
}

TEST_CASE("the stream's stop_token completes a waiting operation with cancelled", "[asio]") {
  memlog::Log<std::string> log;
  std::stop_source stop;
  Stream stream = log.stream(0, stop.get_token());
  Outcome out;
  net::io_context io;
  adapter::async_next(stream, fill(out, io.get_executor()));
  io.poll();
  REQUIRE(log.stats().waiting == 1);
  std::thread stopper([&] { stop.request_stop(); });
  stopper.join();
  CHECK(log.stats().waiting == 0);  // disarmed by the stop callback
  io.run_for(safety_net);
  CHECK(out.calls == 1);
  CHECK(out.error == Errc::cancelled);
  CHECK(stream.error() == Errc::cancelled);
}

TEST_CASE("a stop requested before async_next completes it with cancelled, as next() does", "[asio]") {
  memlog::Log<std::string> log;
  REQUIRE(log.write("a") == 0);
  std::stop_source stop;
  Stream stream = log.stream(0, stop.get_token());
  net::io_context io;
  stop.request_stop();
  Outcome out;
  adapter::async_next(stream, fill(out, io.get_executor()));
  io.run_for(safety_net);
  CHECK(out.calls == 1);
  CHECK(out.error == Errc::cancelled);
}

TEST_CASE("a stop racing with the write: exactly one outcome", "[asio][concurrent]") {
  std::minstd_rand delays(race_seed);
  int records = 0;
  int cancelled = 0;
  for (int round = 0; round < 400; ++round) {
    memlog::Log<std::string> log;
    std::stop_source stop;
    Stream stream = log.stream(0, stop.get_token());
    Outcome out;
    net::io_context io;
    adapter::async_next(stream, fill(out, io.get_executor()));
    io.poll();
    // The io_context runs meanwhile: the completion races with the stop.
    std::thread runner([&] { io.run_for(safety_net); });
    race([&] { REQUIRE(log.write("a") == 0); }, [&] { stop.request_stop(); }, delays() % 20000);
    runner.join();
    REQUIRE(out.calls == 1);
    if (out.error) {
      REQUIRE(out.error == Errc::cancelled);
      ++cancelled;
    } else {
      REQUIRE(out.record.data == "a");
      ++records;
    }
    REQUIRE(log.stats().waiting == 0);
  }
  CHECK(records + cancelled == 400);
  WARN("seed " << race_seed << ", stop vs write: " << records << " records, " << cancelled << " cancelled");
}

TEST_CASE("a NextCanceller completes a waiting operation with operation_aborted, and the stream goes on", "[asio]") {
  memlog::Log<std::string> log;
  Stream stream = log.stream(0);
  adapter::NextCanceller canceller;
  net::io_context io;
  canceller.cancel();  // nothing attached: nothing happens
  Outcome out;
  adapter::async_next(stream, canceller, fill(out, io.get_executor()));
  io.poll();
  REQUIRE(log.stats().waiting == 1);
  std::thread other([&] { canceller.cancel(); });  // any thread
  other.join();
  CHECK(log.stats().waiting == 0);
  io.run_for(safety_net);
  CHECK(out.calls == 1);
  CHECK(out.error == net::error::operation_aborted);
  CHECK_FALSE(stream.error());
  CHECK(stream.position() == 0);

  // The canceller serves the next operation; a cancel after completion does nothing.
  REQUIRE(log.write("a") == 0);
  Outcome next;
  adapter::async_next(stream, canceller, fill(next, io.get_executor()));
  io.restart();
  io.run_for(safety_net);
  canceller.cancel();
  CHECK(next.calls == 1);
  CHECK_FALSE(next.error);
  CHECK(next.record.data == "a");
}

TEST_CASE("a NextCanceller racing with the write: exactly one outcome, and no record lost", "[asio][concurrent]") {
  std::minstd_rand delays(race_seed);
  int records = 0;
  int aborted = 0;
  for (int round = 0; round < 400; ++round) {
    memlog::Log<std::string> log;
    Stream stream = log.stream(0);
    adapter::NextCanceller canceller;
    Outcome out;
    net::io_context io;
    adapter::async_next(stream, canceller, fill(out, io.get_executor()));
    io.poll();
    std::thread runner([&] { io.run_for(safety_net); });
    race([&] { REQUIRE(log.write("a") == 0); }, [&] { canceller.cancel(); }, delays() % 20000);
    runner.join();
    REQUIRE(out.calls == 1);
    if (out.error) {
      REQUIRE(out.error == net::error::operation_aborted);
      ++aborted;
      // Nothing was consumed: the record comes next.
      Outcome again;
      adapter::async_next(stream, fill(again, io.get_executor()));
      io.restart();
      io.run_for(safety_net);
      REQUIRE(again.calls == 1);
      REQUIRE(again.record.data == "a");
    } else {
      REQUIRE(out.record.data == "a");
      ++records;
    }
    REQUIRE(stream.position() == 1);
    REQUIRE(log.stats().waiting == 0);
  }
  CHECK(records + aborted == 400);
  WARN("seed " << race_seed << ", cancel vs write: " << records << " records, " << aborted << " aborted");
}

// The operation arms itself on the io_context's thread while the stop or
// the cancellation comes from another: one that lands after the operation's
// last look but before it is armed must still complete it.
TEST_CASE("a stop or a cancellation racing with the arming still completes the operation", "[asio][concurrent]") {
  std::minstd_rand delays(race_seed);
  const bool by_stop = GENERATE(true, false);
  int waited = 0;  // rounds in which the operation was armed before the cancellation came
  for (int round = 0; round < 1000; ++round) {
    memlog::Log<std::string> log;
    std::stop_source stop;
    Stream stream = log.stream(0, stop.get_token());
    adapter::NextCanceller canceller;
    Outcome out;
    net::io_context io;
    adapter::async_next(stream, canceller, fill(out, io.get_executor()));
    std::atomic<std::size_t> armed{0};
    race([&] { io.run_for(safety_net); },
         [&] {
           armed = log.stats().waiting;
           if (by_stop) {
             stop.request_stop();
           } else {
             canceller.cancel();
           }
         },
         delays() % 4000);
    REQUIRE(out.calls == 1);
    if (by_stop) {
      REQUIRE(out.error == Errc::cancelled);
    } else {
      REQUIRE(out.error == net::error::operation_aborted);
    }
    REQUIRE(log.stats().waiting == 0);
    waited += armed > 0 ? 1 : 0;
  }
  WARN("seed " << race_seed << (by_stop ? ", stop" : ", cancel") << " vs arming: armed first in " << waited
               << " of 1000 rounds");
}

#if defined(MEMLOG_TEST_SLOTS)
TEST_CASE("the handler's cancellation slot completes a waiting operation with operation_aborted", "[asio]") {
  static_assert(adapter::has_cancellation_slots);
  const auto type = GENERATE(net::cancellation_type::terminal, net::cancellation_type::partial,
                             net::cancellation_type::total);
  memlog::Log<std::string> log;
  Stream stream = log.stream(0);
  net::io_context io;
  net::cancellation_signal signal;
  Outcome out;
  adapter::async_next(stream, net::bind_cancellation_slot(signal.slot(), fill(out, io.get_executor())));
  io.poll();
  REQUIRE(log.stats().waiting == 1);
  signal.emit(type);
  CHECK(log.stats().waiting == 0);
  io.run_for(safety_net);
  CHECK(out.calls == 1);
  CHECK(out.error == net::error::operation_aborted);
  CHECK_FALSE(stream.error());
  CHECK(stream.position() == 0);
  signal.emit(type);  // the slot was cleared: nothing happens
  CHECK(out.calls == 1);
}

TEST_CASE("slot cancellation racing with the write: exactly one outcome, and no record lost", "[asio][concurrent]") {
  std::minstd_rand delays(race_seed);
  int records = 0;
  int aborted = 0;
  for (int round = 0; round < 400; ++round) {
    memlog::Log<std::string> log;
    Stream stream = log.stream(0);
    net::io_context io;
    net::cancellation_signal signal;
    Outcome out;
    adapter::async_next(stream, net::bind_cancellation_slot(signal.slot(), fill(out, io.get_executor())));
    io.poll();
    // The signal is emitted on the io_context's thread, as Asio requires,
    // while another thread writes.
    std::thread runner([&] { io.run_for(safety_net); });
    race([&] { REQUIRE(log.write("a") == 0); },
         [&] { net::post(io, [&] { signal.emit(net::cancellation_type::terminal); }); }, delays() % 20000);
    runner.join();
    REQUIRE(out.calls == 1);
    if (out.error) {
      REQUIRE(out.error == net::error::operation_aborted);
      ++aborted;
      Outcome again;
      adapter::async_next(stream, fill(again, io.get_executor()));
      io.restart();
      io.run_for(safety_net);
      REQUIRE(again.record.data == "a");
    } else {
      REQUIRE(out.record.data == "a");
      ++records;
    }
    REQUIRE(log.stats().waiting == 0);
  }
  CHECK(records + aborted == 400);
  WARN("seed " << race_seed << ", slot vs write: " << records << " records, " << aborted << " aborted");
}
#else
TEST_CASE("this Asio has no cancellation slots", "[asio]") { STATIC_REQUIRE_FALSE(adapter::has_cancellation_slots); }
#endif

TEST_CASE("thousands of operations on one offset all complete with its write", "[asio]") {
  constexpr std::size_t readers = 5000;
  memlog::Log<std::string> log;
  std::vector<Stream> streams;
  std::vector<Outcome> outs(readers);
  net::io_context io;
  streams.reserve(readers);
  for (std::size_t i = 0; i < readers; ++i) {
    streams.push_back(log.stream(0));
    adapter::async_next(streams.back(), fill(outs[i], io.get_executor()));
  }
  io.poll();
  CHECK(log.stats().waiting == readers);
  REQUIRE(log.write("a") == 0);
  CHECK(log.stats().waiting == 0);
  io.run_for(safety_net);
  for (const Outcome& out : outs) {
    REQUIRE(out.calls == 1);
    REQUIRE_FALSE(out.error);
    REQUIRE(out.record.data == "a");
  }
}

TEST_CASE("operations on different offsets complete exactly when their offset is written", "[asio]") {
  constexpr Offset readers = 100;
  memlog::Log<std::string> log;
  std::vector<Stream> streams;
  std::vector<Outcome> outs(readers);
  net::io_context io;
  for (Offset i = 0; i < readers; ++i) {
    streams.push_back(log.stream(i));
  }
  for (Offset i = 0; i < readers; ++i) {
    adapter::async_next(streams[static_cast<std::size_t>(i)], fill(outs[static_cast<std::size_t>(i)], io.get_executor()));
  }
  io.poll();
  REQUIRE(log.stats().waiting == readers);
  for (Offset written = 0; written < readers; ++written) {
    REQUIRE(log.write(std::to_string(written)) == written);
    io.poll();
    for (Offset i = 0; i < readers; ++i) {
      const Outcome& out = outs[static_cast<std::size_t>(i)];
      REQUIRE(out.calls == (i <= written ? 1 : 0));
      if (i <= written) REQUIRE(out.record.metadata.offset == i);
    }
    REQUIRE(log.stats().waiting == static_cast<std::size_t>(readers - written - 1));
  }
}

TEST_CASE("a thousand readers on a two-thread io_context each get every record in order", "[asio][concurrent]") {
  constexpr std::size_t readers = 1000;
  constexpr int records = 100;
  memlog::Log<std::string> log({.max_segment_size = records});  // nothing purged
  struct Reader {
    Stream stream;
    std::vector<Offset> got;
    ErrorCode end;
  };
  std::vector<std::unique_ptr<Reader>> all;
  net::io_context io(2);
  // Each reader's chain is sequential (one operation at a time), so its
  // state needs no lock even with two threads running the io_context.
  std::function<void(Reader&)> next = [&](Reader& reader) {
    adapter::async_next(reader.stream, net::bind_executor(io, [&next, &reader](ErrorCode error, Record record) {
                          if (error) {
                            reader.end = error;
                            return;
                          }
                          reader.got.push_back(record.metadata.offset);
                          next(reader);
                        }));
  };
  for (std::size_t i = 0; i < readers; ++i) {
    all.push_back(std::make_unique<Reader>(Reader{log.stream(0), {}, {}}));
    next(*all.back());
  }
  std::thread writer([&] {
    for (int i = 0; i < records; ++i) REQUIRE(log.write(std::to_string(i)) == i);
    log.close();
  });
  std::thread second([&] { io.run_for(safety_net); });
  io.run_for(safety_net);
  second.join();
  writer.join();
  for (const auto& reader : all) {
    REQUIRE(reader->got.size() == static_cast<std::size_t>(records));
    for (int i = 0; i < records; ++i) REQUIRE(reader->got[static_cast<std::size_t>(i)] == i);
    REQUIRE(reader->end == Errc::closed);
  }
}

// Each write lands just after the operation has armed itself: sometimes
// before its last look at the log (it then reads the record), sometimes
// while it is still arming (the write's hand-off is then the arming
// thread's to make), mostly once it is armed. A hand-off lost anywhere
// leaves the reader waiting for ever: the writer gives up and the count
// falls short.
TEST_CASE("writes that land while the operation arms itself are never lost", "[asio][concurrent]") {
  constexpr int records = 50000;
  memlog::Log<std::string> log({.max_segment_size = records});
  Stream stream = log.stream(0);
  net::io_context io;
  int got = 0;
  std::function<void()> next = [&] {
    adapter::async_next(stream, net::bind_executor(io, [&](ErrorCode error, Record) {
                          if (error) return;
                          ++got;
                          next();
                        }));
  };
  next();
  std::atomic<bool> gave_up{false};
  std::thread writer([&] {
    const auto deadline = std::chrono::steady_clock::now() + safety_net / 2;
    for (int i = 0; i < records; ++i) {
      while (log.stats().waiting == 0) {  // until the reader has linked its waiter
        if (std::chrono::steady_clock::now() > deadline) {
          gave_up = true;
          log.close();
          return;
        }
      }
      REQUIRE(log.write("r") == i);
    }
    log.close();
  });
  io.run_for(safety_net);
  writer.join();
  CHECK_FALSE(gave_up);
  CHECK(got == records);
}

TEST_CASE("an io_context destroyed while operations wait destroys them without calling their handlers",
          "[asio]") {
  memlog::Log<std::string> log;  // outlives the io_context
  int calls = 0;
  auto handler = [&calls, counted = Counted{}](ErrorCode, Record) { ++calls; };
  REQUIRE(Counted::live == 1);
  Stream waiting = log.stream(0);
  Stream written = log.stream(0);
  std::stop_source stop;
  Stream stoppable = log.stream(0, stop.get_token());
  {
    std::optional<net::io_context> io(std::in_place);
    adapter::async_next(waiting, net::bind_executor(*io, handler));
    adapter::async_next(written, net::bind_executor(*io, handler));
    adapter::async_next(stoppable, net::bind_executor(*io, handler));
    io->poll();
    REQUIRE(log.stats().waiting == 3);
    REQUIRE(Counted::live == 4);

    SECTION("stopped, then destroyed") {
      io->stop();
      io.reset();
      CHECK(log.stats().waiting == 0);
      CHECK(log.write("a") == 0);  // finds nothing armed
    }
    SECTION("a write posts the completions, then the io_context is destroyed unrun") {
      REQUIRE(log.write("a") == 0);
      CHECK(log.stats().waiting == 0);
      io.reset();
    }
    SECTION("destroyed while another thread writes") {
      race([&] { REQUIRE(log.write("a") == 0); }, [&] { io.reset(); });
      CHECK(log.stats().waiting == 0);
    }
  }
  stop.request_stop();  // the stop callback is gone with its operation
  CHECK(calls == 0);
  CHECK(Counted::live == 1);
}

TEST_CASE("an io_context destroyed racing with writes, again and again", "[asio][concurrent]") {
  for (int round = 0; round < 300; ++round) {
    memlog::Log<std::string> log;
    int calls = 0;
    {
      std::optional<net::io_context> io(std::in_place);
      std::vector<Stream> streams;
      for (Offset i = 0; i < 4; ++i) streams.push_back(log.stream(i % 2));
      for (Stream& stream : streams) {
        adapter::async_next(stream, net::bind_executor(*io, [&calls, c = Counted{}](ErrorCode, Record) { ++calls; }));
      }
      io->poll();
      race([&] { REQUIRE(log.write("a") == 0); }, [&] { io.reset(); });
      REQUIRE(log.write("b") == 1);
    }
    REQUIRE(calls == 0);
    REQUIRE(Counted::live == 0);
    REQUIRE(log.stats().waiting == 0);
  }
}

// Reads until the stream ends; with use_awaitable an error is thrown.
net::awaitable<void> read_all(Stream& stream, std::vector<std::string>& got, ErrorCode& end) {
  try {
    while (true) {
      Record record = co_await adapter::async_next(stream, net::use_awaitable);
      got.push_back(record.data);
    }
  } catch (const SystemError& e) {
    end = e.code();
  }
}

TEST_CASE("a coroutine co_awaits every record in order, then the closing error", "[asio][coroutine]") {
  memlog::Log<std::string> log;
  Stream stream = log.stream(0);
  net::io_context io;
  std::vector<std::string> got;
  ErrorCode end;
  net::co_spawn(io, read_all(stream, got, end), net::detached);
  std::thread writer([&] {
    for (int i = 0; i < 300; ++i) REQUIRE(log.write(std::to_string(i)) == i);
    log.close();
  });
  io.run_for(safety_net);
  writer.join();
  REQUIRE(got.size() == 300);
  for (int i = 0; i < 300; ++i) REQUIRE(got[static_cast<std::size_t>(i)] == std::to_string(i));
  CHECK(end == Errc::closed);
}

TEST_CASE("a coroutine waiting in async_next is destroyed with its io_context", "[asio][coroutine]") {
  memlog::Log<std::string> log;
  bool finished = false;
  {
    Stream stream = log.stream(0);  // outlives the operation, as it must
    net::io_context io;
    net::co_spawn(
        io,
        [&stream, &finished, counted = Counted{}]() -> net::awaitable<void> {
          Counted in_frame;
          (void)co_await adapter::async_next(stream, net::use_awaitable);
          finished = true;
        },
        net::detached);
    io.poll();
    REQUIRE(log.stats().waiting == 1);
    REQUIRE(Counted::live >= 1);
  }
  CHECK(log.stats().waiting == 0);
  CHECK(Counted::live == 0);
  CHECK_FALSE(finished);
}

TEST_CASE("a coroutine's stream stopped while it waits: co_await throws cancelled", "[asio][coroutine]") {
  memlog::Log<std::string> log;
  std::stop_source stop;
  Stream stream = log.stream(0, stop.get_token());
  net::io_context io;
  std::vector<std::string> got;
  ErrorCode end;
  net::co_spawn(io, read_all(stream, got, end), net::detached);
  io.poll();
  REQUIRE(log.stats().waiting == 1);
  std::thread stopper([&] { stop.request_stop(); });
  io.run_for(safety_net);
  stopper.join();
  CHECK(got.empty());
  CHECK(end == Errc::cancelled);
}

// Last of the tests to use the system executor: it stops it at the end.
TEST_CASE("use_future from a thread without an io_context: a record, then the error thrown", "[asio]") {
  memlog::Log<std::string> log;
  Stream stream = log.stream(0);
  std::latch started(1);
  std::string first;
  ErrorCode end;
  std::exception_ptr kept;
  std::thread reader([&] {
    // No executor: the completions run on the system executor's threads.
    std::future<Record> record = adapter::async_next(stream, net::use_future);
    started.count_down();
    first = record.get().data;
    std::future<Record> closed = adapter::async_next(stream, net::use_future);
    try {
      (void)closed.get();
    } catch (const SystemError& e) {
      kept = std::current_exception();
      end = e.code();
    }
  });
  started.wait();
  REQUIRE(log.write("a") == 0);
  log.close();
  reader.join();
  CHECK(first == "a");
  CHECK(end == Errc::closed);
  // A system thread may still hold a reference to the exception (in the
  // promise it completed). The C++ runtime counts them out of
  // ThreadSanitizer's sight, so let the last one go here, after joining
  // those threads.
  auto& system = net::query(net::system_executor(), net::execution::context);
  system.stop();
  system.join();
  kept = nullptr;
}

#if defined(MEMLOG_TEST_DEFERRED)
TEST_CASE("deferred: nothing starts until the deferred operation is invoked", "[asio]") {
  memlog::Log<std::string> log;
  Stream stream = log.stream(0);
  net::io_context io;
  auto deferred = adapter::async_next(stream, net::experimental::deferred);
  io.poll();
  CHECK(log.stats().waiting == 0);
  io.restart();  // poll() found no work, which stopped the io_context
  Outcome out;
  std::move(deferred)(fill(out, io.get_executor()));
  io.poll();
  CHECK(log.stats().waiting == 1);
  REQUIRE(log.write("a") == 0);
  io.run_for(safety_net);
  CHECK(out.calls == 1);
  CHECK(out.record.data == "a");
}
#endif

// Counts what it allocates, so that a test can see the adapter uses it.
template <class T>
struct CountingAllocator {
  using value_type = T;
  std::atomic<long>* live;
  explicit CountingAllocator(std::atomic<long>* counter) noexcept : live(counter) {}
  template <class U>
  CountingAllocator(const CountingAllocator<U>& other) noexcept : live(other.live) {}  // NOLINT: rebinding
  T* allocate(std::size_t n) {
    live->fetch_add(1);
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    live->fetch_sub(1);
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  friend bool operator==(const CountingAllocator& a, const CountingAllocator<U>& b) noexcept {
    return a.live == b.live;
  }
};

TEST_CASE("the handler's allocator holds the operation, freed before the handler runs", "[asio]") {
  std::atomic<long> live{0};
  std::atomic<long> peak{0};
  struct Handler {
    using allocator_type = CountingAllocator<void>;
    using executor_type = net::io_context::executor_type;
    allocator_type allocator;
    executor_type executor;
    Outcome* out;
    std::atomic<long>* live_when_called;
    [[nodiscard]] allocator_type get_allocator() const noexcept { return allocator; }
    [[nodiscard]] executor_type get_executor() const noexcept { return executor; }
    void operator()(ErrorCode error, Record record) {
      live_when_called->store(allocator.live->load());
      ++out->calls;
      out->error = error;
      out->record = std::move(record);
    }
  };
  memlog::Log<std::string> log;
  Stream stream = log.stream(0);
  Outcome out;
  net::io_context io;
  std::atomic<long> live_when_called{-1};
  adapter::async_next(stream, Handler{CountingAllocator<void>(&live), io.get_executor(), &out, &live_when_called});
  peak = live.load();
  io.poll();
  REQUIRE(log.write("a") == 0);
  io.run_for(safety_net);
  CHECK(peak >= 1);  // the operation (and its first continuation)
  CHECK(out.calls == 1);
  CHECK(live_when_called == 0);
  CHECK(live == 0);
}

#if !defined(MEMLOG_TEST_ASIO_STANDALONE)
TEST_CASE("a Boost error_code compares with memlog::Errc and converts back to memlog's std::error_code", "[asio]") {
  const ErrorCode closed = adapter::to_error_code(memlog::make_error_code(Errc::closed));
  CHECK(closed == Errc::closed);
  CHECK(closed != Errc::cancelled);
  CHECK_FALSE(ErrorCode(net::error::operation_aborted) == Errc::cancelled);
  CHECK(closed.message() == "log closed");
  CHECK(std::string(closed.category().name()) == "memlog");
  CHECK(adapter::to_std_error_code(closed) == memlog::make_error_code(Errc::closed));
  CHECK(adapter::to_std_error_code(closed) == Errc::closed);
  CHECK_FALSE(adapter::to_error_code(std::error_code{}));
}

TEST_CASE("memlog::async_next is the Boost.Asio one", "[asio]") {
  memlog::Log<std::string> log;
  REQUIRE(log.write("a") == 0);
  Stream stream = log.stream(0);
  Outcome out;
  net::io_context io;
  memlog::async_next(stream, fill(out, io.get_executor()));
  io.run_for(safety_net);
  CHECK(out.record.data == "a");
}
#endif

}  // namespace
