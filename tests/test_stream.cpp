// Tests of memlog::Stream<T>: a port of the Go library's stream_test.go and
// example_stream_test.go, plus the C++-specific contract: stop tokens (Go's
// context), next_for/next_until, purges, the input range, moves, stream_spin
// and concurrency. Go's context cancel becomes a std::stop_source; a context
// deadline becomes a stop requested from another thread once the condition
// the deadline stood for holds. No test sleeps to make something happen.

#include "support/catch.hpp"
#include "support/test_data.hpp"

#include <memlog/memlog.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <iterator>
#include <latch>
#include <limits>
#include <mutex>
#include <optional>
#include <ranges>
#include <sstream>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using memlog::Errc;
using memlog::Offset;
using memlog_test::err_of;
using memlog_test::new_test_data_slice;
using namespace std::chrono_literals;

namespace {

using StrLog = memlog::Log<std::string>;
using StrStream = memlog::Stream<std::string>;
using StrResult = memlog::Result<memlog::Record<std::string>>;
using Clock = std::chrono::steady_clock;

// Only catches hangs: a stop or a write must wake a stream far sooner.
constexpr auto hang_bound = 5s;

memlog::Options make_options(Offset start, std::size_t segment_size) {
  memlog::Options o;
  o.start_offset = start;
  o.max_segment_size = segment_size;
  return o;
}

void seed(StrLog& log, const std::vector<std::string>& data) {
  for (const auto& d : data) REQUIRE(log.write(d).has_value());
}

// A value other threads can wait for (mutex + condition variable, no polling).
class Progress {
 public:
  void set(Offset value) {
    {
      std::lock_guard guard(mu_);
      value_ = value;
    }
    cv_.notify_all();
  }
  void wait_at_least(Offset value) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return value_ >= value; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  Offset value_ = std::numeric_limits<Offset>::min();
};

// What one stream thread saw; checked on the main thread (Catch2 assertions
// are not thread-safe).
struct Seen {
  std::vector<Offset> offsets;
  std::error_code error;
  bool consecutive_from(Offset start) const {
    for (std::size_t i = 0; i < offsets.size(); ++i) {
      if (offsets[i] != start + static_cast<Offset>(i)) return false;
    }
    return true;
  }
};

// Go's %q for the ASCII data in the examples.
std::string quoted(const std::string& s) {
  std::ostringstream os;
  os << std::quoted(s);
  return os.str();
}

}  // namespace

// ---------------------------------------------------------------------------
// Ports of stream_test.go (TestLog_Stream)

// Go: "streams records from log start then cancels stream"
TEST_CASE("stream reads from the log start until its stop is requested", "[stream]") {
  struct Case {
    const char* name;
    Offset log_start;
    Offset stream_start;
    std::size_t seg_size;
    int stop_after;
  };
  const Case cases[] = {
      {"log starts at 0, stream starts at 0, receives 5, cancels stream", 0, 0, 10, 5},
      {"log starts at 10, stream starts at 10, receives 5, cancels stream", 10, 10, 10, 5},
  };
  for (const auto& tc : cases) {
    SECTION(tc.name) {
      const auto data = new_test_data_slice(tc.seg_size);
      StrLog log(make_options(tc.log_start, tc.seg_size));
      seed(log, data);

      std::stop_source stop;
      auto stream = log.stream(tc.stream_start, stop.get_token());
      int counter = 0;
      while (true) {
        auto r = stream.next();
        if (!r) break;
        CHECK(r->metadata.offset == tc.stream_start + counter);
        CHECK(r->data == data[static_cast<std::size_t>(r->metadata.offset - tc.log_start)]);
        if (++counter == tc.stop_after) stop.request_stop();
      }
      CHECK(stream.error() == Errc::cancelled);
      CHECK(counter == tc.stop_after);
    }
  }
}

// Go: "stream returns out of range error"
TEST_CASE("stream at an offset the log does not hold ends with out_of_range", "[stream]") {
  struct Case {
    const char* name;
    Offset log_start;
    std::size_t write_records;
    Offset stream_start;
    std::size_t seg_size;
  };
  const Case cases[] = {
      {"log starts at 0, stream starts at -10", 0, 10, -10, 10},
      {"log starts at 10, stream starts at 0", 10, 10, 0, 10},
      {"log starts at 0, first records purged, stream starts at 60", 0, 100, 60, 10},
      {"log starts at 100, first records purged, stream starts at 150", 100, 100, 150, 10},
  };
  for (const auto& tc : cases) {
    SECTION(tc.name) {
      StrLog log(make_options(tc.log_start, tc.seg_size));
      seed(log, new_test_data_slice(tc.write_records));

      std::stop_source stop;  // Go's 3 s context: never needed, the error comes at once
      auto stream = log.stream(tc.stream_start, stop.get_token());
      int received = 0;
      while (stream.next()) ++received;
      CHECK(received == 0);
      CHECK(stream.error() == Errc::out_of_range);
      CHECK(stream.position() == tc.stream_start);
    }
  }
}

// Go: "stream starts at future offset, streams records then cancels stream".
// Go's writer sleeps 50 ms per record so that the stream keeps up; here the
// writer waits (on a condition variable) while it is a few records ahead of
// the stream, so nothing the stream still needs is ever purged.
TEST_CASE("stream started at a future offset reads records as they are written until stopped",
          "[stream][concurrent]") {
  struct Case {
    const char* name;
    Offset log_start;
    Offset stream_start;
    std::size_t seg_size;
    std::size_t write_records;
    int stop_after;
  };
  const Case cases[] = {
      {"log starts at 0, stream starts at 5, receives 5, cancels stream", 0, 5, 10, 10, 5},
      {"log starts at 10, stream starts at 18, receives 2, cancels stream", 10, 18, 10, 10, 2},
      {"log starts at 0, stream starts at 10, receives 30 with purge, cancels stream", 0, 10, 10, 50, 30},
  };
  for (const auto& tc : cases) {
    SECTION(tc.name) {
      const auto data = new_test_data_slice(tc.write_records);
      const auto half = tc.write_records / 2;
      StrLog log(make_options(tc.log_start, tc.seg_size));
      seed(log, {data.begin(), data.begin() + static_cast<std::ptrdiff_t>(half)});

      std::stop_source stop;
      Progress read_up_to;  // the stream's position
      read_up_to.set(tc.stream_start);
      const auto slack = static_cast<Offset>(tc.seg_size / 2);

      std::vector<std::error_code> write_errors;
      std::thread writer([&] {
        for (std::size_t i = half; i < data.size(); ++i) {
          const Offset offset = tc.log_start + static_cast<Offset>(i);
          read_up_to.wait_at_least(offset - slack);
          auto w = log.write(data[i]);
          if (!w) write_errors.push_back(w.error());
        }
      });

      auto stream = log.stream(tc.stream_start, stop.get_token());
      int counter = 0;
      std::vector<Offset> offsets;
      while (true) {
        auto r = stream.next();
        if (!r) break;
        offsets.push_back(r->metadata.offset);
        read_up_to.set(stream.position());
        if (++counter == tc.stop_after) stop.request_stop();
      }
      read_up_to.set(std::numeric_limits<Offset>::max());  // let the writer finish
      writer.join();

      CHECK(write_errors.empty());
      CHECK(stream.error() == Errc::cancelled);
      CHECK(counter == tc.stop_after);
      for (std::size_t i = 0; i < offsets.size(); ++i) {
        CHECK(offsets[i] == tc.stream_start + static_cast<Offset>(i));
      }
    }
  }
}

// Go: "two stream receivers, starting at different offsets until stream
// cancelled". Go's 1 s deadline becomes a stop requested by a third thread
// once both streams have read the last record (they then block in next()
// until the stop wakes them).
TEST_CASE("two streams at different offsets read until a stop from another thread",
          "[stream][concurrent]") {
  constexpr Offset log_start = 0;
  constexpr std::size_t seg_size = 1000;
  constexpr Offset stream_one_start = 0;
  constexpr Offset stream_two_start = 5;
  constexpr int write_records = 10;
  const std::string payload = R"({"id":"someID","message":"write data"})";

  StrLog log(make_options(log_start, seg_size));
  std::stop_source deadline;
  std::latch start(3);
  std::latch read_last(2);
  std::vector<std::error_code> write_errors;

  auto reader = [&](Offset from, Seen& seen) {
    auto stream = log.stream(from, deadline.get_token());
    start.arrive_and_wait();
    while (true) {
      auto r = stream.next();
      if (!r) break;
      seen.offsets.push_back(r->metadata.offset);
      if (r->metadata.offset == log_start + write_records - 1) read_last.count_down();
    }
    seen.error = stream.error();
  };

  Seen one;
  Seen two;
  std::jthread stopper([&] {
    read_last.wait();
    deadline.request_stop();
  });
  std::thread writer([&] {
    start.arrive_and_wait();
    for (int i = 0; i < write_records; ++i) {
      auto w = log.write(payload);
      if (!w) write_errors.push_back(w.error());
    }
  });
  std::thread s1(reader, stream_one_start, std::ref(one));
  std::thread s2(reader, stream_two_start, std::ref(two));
  writer.join();
  s1.join();
  s2.join();
  stopper.join();

  CHECK(write_errors.empty());
  CHECK(one.offsets.size() == 10);
  CHECK(two.offsets.size() == 5);
  CHECK(one.consecutive_from(log_start + stream_one_start));
  CHECK(two.consecutive_from(log_start + stream_two_start));
  CHECK(one.error == Errc::cancelled);
  CHECK(two.error == Errc::cancelled);
}

// ---------------------------------------------------------------------------
// Port of example_stream_test.go (Example_stream). Go's "SIGTERM after 2s"
// becomes a stop requested once the expected output is there.

TEST_CASE("example: stream from the latest record while writing, then stop", "[stream][example][concurrent]") {
  constexpr Offset log_start = 10;
  constexpr std::size_t log_size = 100;
  constexpr int write_records = 10;
  auto doc = [](int id) { return R"({"id":)" + std::to_string(id) + R"(,"message","hello world"})"; };

  StrLog log(make_options(log_start, log_size));
  // write some records (offsets 10-14)
  for (int i = 0; i < write_records / 2; ++i) REQUIRE(log.write(doc(i + static_cast<int>(log_start))));

  const auto [earliest, latest] = log.range();
  CHECK(earliest == 10);
  CHECK(latest == 14);

  const Offset stream_from = latest;  // a structured binding cannot be captured before C++20 (clang 14)
  std::stop_source sigterm;
  std::mutex out_mu;
  std::condition_variable out_cv;
  std::vector<std::string> output;
  std::error_code stream_error;
  std::vector<std::error_code> write_errors;

  std::thread streamer([&] {
    // start stream from latest (offset 14)
    auto stream = log.stream(stream_from, sigterm.get_token());
    for (const auto& r : stream) {
      std::ostringstream line;
      line << "Record at offset " << r.metadata.offset << " says " << quoted(r.data);
      {
        std::lock_guard guard(out_mu);
        output.push_back(line.str());
      }
      out_cv.notify_all();
    }
    stream_error = stream.error();
  });
  std::thread writer([&] {
    // continue writing while streaming
    for (int i = write_records / 2; i < write_records; ++i) {
      auto w = log.write(doc(i + static_cast<int>(log_start)));
      if (!w) write_errors.push_back(w.error());
    }
  });
  std::jthread signal([&] {
    std::unique_lock lock(out_mu);
    out_cv.wait(lock, [&] { return output.size() >= 6; });
    lock.unlock();
    sigterm.request_stop();
  });
  writer.join();
  streamer.join();
  signal.join();

  CHECK(write_errors.empty());
  CHECK(stream_error == Errc::cancelled);
  const std::vector<std::string> expected = {
      R"(Record at offset 14 says "{\"id\":14,\"message\",\"hello world\"}")",
      R"(Record at offset 15 says "{\"id\":15,\"message\",\"hello world\"}")",
      R"(Record at offset 16 says "{\"id\":16,\"message\",\"hello world\"}")",
      R"(Record at offset 17 says "{\"id\":17,\"message\",\"hello world\"}")",
      R"(Record at offset 18 says "{\"id\":18,\"message\",\"hello world\"}")",
      R"(Record at offset 19 says "{\"id\":19,\"message\",\"hello world\"}")",
  };
  CHECK(output == expected);
}

// ---------------------------------------------------------------------------
// Stop

TEST_CASE("stop while blocked in next() wakes the stream with cancelled and ends it",
          "[stream][stop][concurrent]") {
  StrLog log;
  std::stop_source stop;
  auto stream = log.stream(0, stop.get_token());
  std::latch started(1);
  std::optional<StrResult> result;
  Clock::time_point returned_at;

  std::thread reader([&] {
    started.count_down();
    result = stream.next();
    returned_at = Clock::now();
  });
  started.wait();
  // A harmless delay so that the stream is likely parked; the outcome must be
  // the same if it has not got there yet.
  std::this_thread::sleep_for(10ms);
  const auto stop_at = Clock::now();
  stop.request_stop();
  reader.join();

  REQUIRE(result.has_value());
  CHECK(err_of(*result) == Errc::cancelled);
  CHECK(returned_at - stop_at < hang_bound);

  // Ended: a record arriving later does not revive it.
  REQUIRE(log.write("late"));
  CHECK(err_of(stream.next()) == Errc::cancelled);
  CHECK(err_of(stream.next_for(0ms)) == Errc::cancelled);
  CHECK(stream.error() == Errc::cancelled);
  CHECK(stream.position() == 0);
}

TEST_CASE("stop requested before next() gives cancelled even when a record is ready", "[stream][stop]") {
  StrLog log;
  seed(log, new_test_data_slice(3));

  SECTION("stopped after the stream was created") {
    std::stop_source stop;
    auto stream = log.stream(0, stop.get_token());
    auto first = stream.next();
    REQUIRE(first);
    CHECK(first->metadata.offset == 0);
    stop.request_stop();
    CHECK(err_of(stream.next()) == Errc::cancelled);
    CHECK(stream.error() == Errc::cancelled);
    CHECK(stream.position() == 1);
  }
  SECTION("stopped before the stream was created") {
    std::stop_source stop;
    stop.request_stop();
    auto stream = log.stream(0, stop.get_token());
    CHECK(stream.error() == std::error_code{});  // live until next() looks
    CHECK(err_of(stream.next()) == Errc::cancelled);
    CHECK(stream.error() == Errc::cancelled);
  }
  SECTION("next_for and next_until check the stop first too") {
    std::stop_source stop;
    auto stream = log.stream(0, stop.get_token());
    stop.request_stop();
    CHECK(err_of(stream.next_for(1s)) == Errc::cancelled);
    CHECK(err_of(stream.next_until(Clock::now() + 1s)) == Errc::cancelled);
    CHECK(stream.error() == Errc::cancelled);
  }
  SECTION("stop also wins over out_of_range") {
    std::stop_source stop;
    stop.request_stop();
    auto stream = log.stream(-1, stop.get_token());
    CHECK(err_of(stream.next()) == Errc::cancelled);
  }
}

TEST_CASE("a stream without a stop token still reads and ends on errors", "[stream]") {
  StrLog log(make_options(0, 2));
  seed(log, new_test_data_slice(2));
  auto stream = log.stream(0);
  CHECK(stream.next()->metadata.offset == 0);
  CHECK(stream.next()->metadata.offset == 1);
  CHECK(err_of(stream.next_for(0ms)) == Errc::timed_out);
  seed(log, new_test_data_slice(5));  // offsets 2..6; the log keeps 4..6
  CHECK(err_of(stream.next()) == Errc::out_of_range);
}

// ---------------------------------------------------------------------------
// next_for / next_until

TEST_CASE("next_for gives timed_out when nothing arrives and the stream goes on", "[stream][timeout]") {
  StrLog log;
  std::stop_source stop;
  auto stream = log.stream(0, stop.get_token());

  const auto before = Clock::now();
  auto r = stream.next_for(20ms);
  const auto waited = Clock::now() - before;
  CHECK(err_of(r) == Errc::timed_out);
  CHECK(waited >= 20ms);
  CHECK(waited < hang_bound);
  CHECK(stream.error() == std::error_code{});
  CHECK(stream.position() == 0);

  REQUIRE(log.write("after the timeout"));
  auto next = stream.next();
  REQUIRE(next);
  CHECK(next->metadata.offset == 0);
  CHECK(next->data == "after the timeout");
  CHECK(stream.position() == 1);

  // Timing out again and again never ends it.
  for (int i = 0; i < 3; ++i) CHECK(err_of(stream.next_for(1ms)) == Errc::timed_out);
  REQUIRE(log.write("again"));
  CHECK(stream.next_for(hang_bound)->data == "again");
}

TEST_CASE("next_for(0) returns a ready record and only checks otherwise", "[stream][timeout]") {
  StrLog log;
  seed(log, new_test_data_slice(2));
  auto stream = log.stream(0);

  auto r = stream.next_for(0ms);
  REQUIRE(r);
  CHECK(r->metadata.offset == 0);
  CHECK(stream.next_for(std::chrono::nanoseconds::zero())->metadata.offset == 1);
  CHECK(err_of(stream.next_for(0ms)) == Errc::timed_out);
  CHECK(err_of(stream.next_for(-5s)) == Errc::timed_out);  // negative: as zero
  CHECK(err_of(stream.next_for(std::chrono::duration<double>(0.001))) == Errc::timed_out);
  CHECK(stream.error() == std::error_code{});
  CHECK(stream.position() == 2);
}

TEST_CASE("next_until with a past deadline returns a ready record or timed_out", "[stream][timeout]") {
  StrLog log;
  seed(log, new_test_data_slice(1));
  auto stream = log.stream(0);

  SECTION("steady_clock") {
    auto r = stream.next_until(Clock::now() - 1s);
    REQUIRE(r);
    CHECK(r->metadata.offset == 0);
    CHECK(err_of(stream.next_until(Clock::now() - 1s)) == Errc::timed_out);
    CHECK(err_of(stream.next_until(Clock::time_point::min())) == Errc::timed_out);
  }
  SECTION("system_clock") {
    auto r = stream.next_until(std::chrono::system_clock::now() - 1h);
    REQUIRE(r);
    CHECK(r->metadata.offset == 0);
    CHECK(err_of(stream.next_until(std::chrono::system_clock::now() - 1h)) == Errc::timed_out);
    CHECK(err_of(stream.next_until(std::chrono::system_clock::time_point{})) == Errc::timed_out);
  }
  CHECK(stream.error() == std::error_code{});
  REQUIRE(log.write("more"));
  CHECK(stream.next()->data == "more");
}

TEST_CASE("next_until waits until a future deadline on either clock", "[stream][timeout]") {
  StrLog log;
  auto stream = log.stream(0);

  SECTION("steady_clock") {
    const auto before = Clock::now();
    const auto deadline = before + 20ms;
    CHECK(err_of(stream.next_until(deadline)) == Errc::timed_out);
    CHECK(Clock::now() >= deadline);
    CHECK(Clock::now() - before < hang_bound);
  }
  SECTION("system_clock") {
    const auto before = Clock::now();
    const auto deadline = std::chrono::system_clock::now() + 20ms;
    CHECK(err_of(stream.next_until(deadline)) == Errc::timed_out);
    CHECK(Clock::now() - before < hang_bound);
  }
  SECTION("a time_point with a coarse duration") {
    const auto deadline = std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now()) + 20ms;
    CHECK(err_of(stream.next_until(deadline)) == Errc::timed_out);
  }
  CHECK(stream.error() == std::error_code{});
  REQUIRE(log.write("x"));
  CHECK(stream.next_until(std::chrono::system_clock::now() + hang_bound)->data == "x");
}

TEST_CASE("next_for returns a record written while it waits, and stops on a stop", "[stream][timeout][concurrent]") {
  StrLog log;
  std::stop_source stop;
  auto stream = log.stream(0, stop.get_token());
  std::latch started(1);

  SECTION("a write wakes it") {
    std::thread writer([&] {
      started.wait();
      (void)log.write("woken");
    });
    started.count_down();
    auto r = stream.next_for(hang_bound * 2);
    writer.join();
    REQUIRE(r);
    CHECK(r->data == "woken");
  }
  SECTION("a stop wakes it with cancelled, not timed_out") {
    std::jthread stopper([&] {
      started.wait();
      stop.request_stop();
    });
    started.count_down();
    const auto before = Clock::now();
    auto r = stream.next_for(hang_bound * 2);
    CHECK(err_of(r) == Errc::cancelled);
    CHECK(Clock::now() - before < hang_bound);
    CHECK(stream.error() == Errc::cancelled);
  }
}

// ---------------------------------------------------------------------------
// out_of_range

TEST_CASE("a purge while a stream is idle ends it with out_of_range", "[stream][purge]") {
  StrLog log(make_options(0, 10));
  seed(log, new_test_data_slice(5));
  std::stop_source stop;
  auto stream = log.stream(0, stop.get_token());
  for (Offset i = 0; i < 3; ++i) REQUIRE(stream.next()->metadata.offset == i);
  REQUIRE(stream.position() == 3);

  seed(log, new_test_data_slice(25));  // 30 records: the log keeps 10..29
  REQUIRE(log.range() == memlog::OffsetRange{10, 29});

  CHECK(err_of(stream.next()) == Errc::out_of_range);
  CHECK(stream.error() == Errc::out_of_range);
  CHECK(stream.position() == 3);
  // Ended: the same error from now on, stop or not.
  CHECK(err_of(stream.next()) == Errc::out_of_range);
  CHECK(err_of(stream.next_for(0ms)) == Errc::out_of_range);
  stop.request_stop();
  CHECK(err_of(stream.next()) == Errc::out_of_range);
  CHECK(stream.error() == Errc::out_of_range);
}

TEST_CASE("a negative start or one before the log's start gives out_of_range at once", "[stream]") {
  SECTION("negative start on an empty log") {
    StrLog log;
    auto stream = log.stream(-1);
    CHECK(err_of(stream.next()) == Errc::out_of_range);
    CHECK(stream.error() == Errc::out_of_range);
  }
  SECTION("most negative start") {
    StrLog log;
    seed(log, new_test_data_slice(3));
    auto stream = log.stream(std::numeric_limits<Offset>::min());
    CHECK(err_of(stream.next()) == Errc::out_of_range);
  }
  SECTION("before the start offset of an empty log") {
    StrLog log(make_options(10, 10));
    auto stream = log.stream(9);
    CHECK(err_of(stream.next_for(hang_bound)) == Errc::out_of_range);  // no wait
    CHECK(stream.error() == Errc::out_of_range);
  }
  SECTION("before the start offset of a written log") {
    StrLog log(make_options(10, 10));
    seed(log, new_test_data_slice(3));
    auto stream = log.stream(0);
    CHECK(err_of(stream.next()) == Errc::out_of_range);
  }
}

TEST_CASE("a stream started at a future offset waits for exactly that offset", "[stream][concurrent]") {
  constexpr Offset target = 50;
  StrLog log(make_options(0, 100));
  const auto data = new_test_data_slice(60);
  std::latch started(1);
  std::thread writer([&] {
    started.wait();
    for (const auto& d : data) (void)log.write(d);
  });

  auto stream = log.stream(target);
  started.count_down();
  std::vector<memlog::Record<std::string>> got;
  for (int i = 0; i < 10; ++i) {
    auto r = stream.next_for(hang_bound);
    if (!r) break;
    got.push_back(*r);
  }
  writer.join();

  REQUIRE(got.size() == 10);
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].metadata.offset == target + static_cast<Offset>(i));
    CHECK(got[i].data == data[static_cast<std::size_t>(target) + i]);
  }
  CHECK(err_of(stream.next_for(0ms)) == Errc::timed_out);
}

// ---------------------------------------------------------------------------
// Range and object semantics

static_assert(std::ranges::input_range<StrStream>);
static_assert(std::input_iterator<std::ranges::iterator_t<StrStream>>);
static_assert(std::sentinel_for<std::default_sentinel_t, std::ranges::iterator_t<StrStream>>);
static_assert(std::is_same_v<std::ranges::range_value_t<StrStream>, memlog::Record<std::string>>);
static_assert(std::is_same_v<std::ranges::range_reference_t<StrStream>, const memlog::Record<std::string>&>);
static_assert(!std::is_copy_constructible_v<StrStream>);
static_assert(!std::is_copy_assignable_v<StrStream>);
static_assert(std::is_nothrow_move_constructible_v<StrStream>);
static_assert(std::is_nothrow_move_assignable_v<StrStream>);
static_assert(std::is_same_v<decltype(std::declval<StrStream&>().next()), StrResult>);
static_assert(noexcept(std::declval<const StrStream&>().error()));
static_assert(noexcept(std::declval<const StrStream&>().position()));

TEST_CASE("range-for reads in order until a stop from the loop body", "[stream][range]") {
  constexpr int n = 7;
  StrLog log(make_options(0, 100));
  const auto data = new_test_data_slice(20);
  seed(log, data);

  std::stop_source stop;
  auto stream = log.stream(0, stop.get_token());
  std::vector<Offset> seen;
  for (const auto& r : stream) {
    seen.push_back(r.metadata.offset);
    CHECK(r.data == data[static_cast<std::size_t>(r.metadata.offset)]);
    if (seen.size() == n) stop.request_stop();
  }
  CHECK(stream.error() == Errc::cancelled);
  REQUIRE(seen.size() == n);
  for (int i = 0; i < n; ++i) CHECK(seen[static_cast<std::size_t>(i)] == i);

  // A second loop over the ended stream yields nothing.
  int again = 0;
  for ([[maybe_unused]] const auto& r : stream) ++again;
  CHECK(again == 0);
}

TEST_CASE("range-for ends with out_of_range when its position is purged", "[stream][range]") {
  StrLog log(make_options(0, 3));
  seed(log, new_test_data_slice(3));
  auto stream = log.stream(0);
  std::vector<Offset> seen;
  for (const auto& r : stream) {
    seen.push_back(r.metadata.offset);
    if (r.metadata.offset == 1) seed(log, new_test_data_slice(6));  // keeps 6..8 only
  }
  CHECK(seen == std::vector<Offset>{0, 1});
  CHECK(stream.error() == Errc::out_of_range);
  CHECK(stream.position() == 2);
}

TEST_CASE("range-for continues where next() left off and works with ranges algorithms", "[stream][range]") {
  StrLog log;
  seed(log, new_test_data_slice(10));
  std::stop_source stop;
  auto stream = log.stream(0, stop.get_token());
  REQUIRE(stream.next()->metadata.offset == 0);
  REQUIRE(stream.next()->metadata.offset == 1);

  auto it = stream.begin();  // reads offset 2
  REQUIRE(it != stream.end());
  CHECK(it->metadata.offset == 2);
  CHECK((*it).metadata.offset == 2);
  ++it;
  CHECK(it->metadata.offset == 3);
  it++;
  CHECK(it->metadata.offset == 4);
  CHECK(stream.position() == 5);

  // The first offset >= 7 via a standard algorithm over the input range.
  auto found = std::ranges::find_if(it, stream.end(), [](const auto& r) { return r.metadata.offset >= 7; });
  REQUIRE(found != stream.end());
  CHECK(found->metadata.offset == 7);
  stop.request_stop();
  ++found;
  CHECK(found == stream.end());
  CHECK(stream.error() == Errc::cancelled);
}

TEST_CASE("a moved stream continues at the same position", "[stream][move]") {
  StrLog log;
  const auto data = new_test_data_slice(10);
  seed(log, data);
  std::stop_source stop;
  auto a = log.stream(0, stop.get_token());
  for (Offset i = 0; i < 3; ++i) REQUIRE(a.next()->metadata.offset == i);

  SECTION("move construction") {
    StrStream b(std::move(a));
    CHECK(b.position() == 3);
    auto r = b.next();
    REQUIRE(r);
    CHECK(r->metadata.offset == 3);
    CHECK(r->data == data[3]);
    stop.request_stop();  // the token moved along
    CHECK(err_of(b.next()) == Errc::cancelled);
  }
  SECTION("move assignment") {
    auto b = log.stream(8);
    b = std::move(a);
    CHECK(b.position() == 3);
    CHECK(b.next()->metadata.offset == 3);
    CHECK(b.next()->metadata.offset == 4);
  }
  SECTION("an ended stream moves with its error") {
    stop.request_stop();
    CHECK(err_of(a.next()) == Errc::cancelled);
    StrStream b(std::move(a));
    CHECK(b.error() == Errc::cancelled);
    CHECK(err_of(b.next()) == Errc::cancelled);
  }
  SECTION("a stream moved into a thread") {
    std::optional<StrResult> r;
    std::thread t([s = std::move(a), &r]() mutable { r = s.next(); });
    t.join();
    REQUIRE(r.has_value());
    REQUIRE(r->has_value());
    CHECK((*r)->metadata.offset == 3);
  }
}

TEST_CASE("streams of typed logs yield the stored values", "[stream]") {
  memlog::Log<std::vector<std::byte>> bytes_log;
  const auto b = memlog_test::to_bytes("hello");
  REQUIRE(bytes_log.write(b));
  auto s = bytes_log.stream(0);
  CHECK(s.next()->data == b);

  memlog::Log<int> ints;
  for (int i = 0; i < 5; ++i) REQUIRE(ints.write(i * i));
  std::stop_source stop;
  auto is = ints.stream(1, stop.get_token());
  std::vector<int> got;
  for (const auto& r : is) {
    got.push_back(r.data);
    if (got.size() == 4) stop.request_stop();
  }
  CHECK(got == std::vector<int>{1, 4, 9, 16});
}

TEST_CASE("streams hand out copies and leak nothing", "[stream]") {
  using memlog_test::Tracked;
  const long baseline = Tracked::live.load();
  {
    memlog::Log<Tracked> log(make_options(0, 4));
    for (int i = 0; i < 10; ++i) REQUIRE(log.write(Tracked{i}));  // rotates twice
    std::stop_source stop;
    auto stream = log.stream(2, stop.get_token());
    CHECK(err_of(stream.next()) == Errc::out_of_range);  // 2 was purged: the log keeps 4..9
    auto live = log.stream(4, stop.get_token());
    int seen = 0;
    for (const auto& r : live) {
      CHECK(r.data.value == static_cast<int>(r.metadata.offset));
      if (++seen == 6) stop.request_stop();
    }
    CHECK(live.error() == Errc::cancelled);
    auto moved = std::move(live);
    CHECK(moved.error() == Errc::cancelled);
  }
  CHECK(Tracked::live.load() == baseline);
  CHECK(Tracked::bad_destructions.load() == 0);
}

// ---------------------------------------------------------------------------
// stream_spin

TEST_CASE("negative stream_spin is rejected", "[stream][spin]") {
  memlog::Options o;
  o.stream_spin = -1ns;
  CHECK_THROWS_AS(StrLog(o), std::invalid_argument);
}

TEST_CASE("spinning streams deliver every record in order", "[stream][spin][concurrent]") {
  const auto spin = GENERATE(std::chrono::nanoseconds(200us), std::chrono::nanoseconds(50ms));
  CAPTURE(spin.count());
  constexpr int n = 5000;
  memlog::Options o = make_options(0, n);
  o.stream_spin = spin;
  StrLog log(o);
  std::latch start(3);

  auto reader = [&](Seen& seen) {
    auto stream = log.stream(0);
    start.arrive_and_wait();
    for (int i = 0; i < n; ++i) {
      auto r = stream.next();
      if (!r) {
        seen.error = r.error();
        return;
      }
      if (r->data != std::to_string(r->metadata.offset)) return;
      seen.offsets.push_back(r->metadata.offset);
    }
  };
  Seen one;
  Seen two;
  std::thread s1(reader, std::ref(one));
  std::thread s2(reader, std::ref(two));
  start.arrive_and_wait();
  int write_failures = 0;  // no REQUIRE while the readers run: it would skip their join
  for (int i = 0; i < n; ++i) write_failures += log.write(std::to_string(i)) ? 0 : 1;
  s1.join();
  s2.join();

  CHECK(write_failures == 0);

  CHECK(one.error == std::error_code{});
  CHECK(two.error == std::error_code{});
  CHECK(one.offsets.size() == n);
  CHECK(two.offsets.size() == n);
  CHECK(one.consecutive_from(0));
  CHECK(two.consecutive_from(0));
}

TEST_CASE("stop wakes a spinning stream", "[stream][spin][stop][concurrent]") {
  // With a 10 s spin a stop that only parked streams noticed would take 10 s.
  const auto spin = GENERATE(std::chrono::nanoseconds(50ms), std::chrono::nanoseconds(10s));
  CAPTURE(spin.count());
  memlog::Options o;
  o.stream_spin = spin;
  StrLog log(o);
  std::stop_source stop;
  auto stream = log.stream(0, stop.get_token());
  std::latch started(1);
  std::optional<StrResult> result;
  Clock::time_point returned_at;

  std::thread reader([&] {
    started.count_down();
    result = stream.next();
    returned_at = Clock::now();
  });
  started.wait();
  std::this_thread::sleep_for(1ms);  // harmless: lets it start spinning
  const auto stop_at = Clock::now();
  stop.request_stop();
  reader.join();

  REQUIRE(result.has_value());
  CHECK(err_of(*result) == Errc::cancelled);
  CHECK(returned_at - stop_at < hang_bound);
  CHECK(stream.error() == Errc::cancelled);
}

TEST_CASE("a write wakes a spinning stream", "[stream][spin][concurrent]") {
  memlog::Options o;
  o.stream_spin = 10s;
  StrLog log(o);
  auto stream = log.stream(0);
  std::latch started(1);
  std::thread writer([&] {
    started.wait();
    (void)log.write("spun");
  });
  started.count_down();
  const auto before = Clock::now();
  auto r = stream.next();
  writer.join();
  REQUIRE(r);
  CHECK(r->data == "spun");
  CHECK(Clock::now() - before < hang_bound);
}

TEST_CASE("next_for with a zero or short timeout does not spin for stream_spin", "[stream][spin][timeout]") {
  // stream.hpp: "A zero or negative timeout only checks once"; API.md: timed_out
  // "when nothing arrived in time". A stream_spin longer than the timeout must
  // not delay timed_out by the whole spin.
  memlog::Options o;
  o.stream_spin = 2s;
  StrLog log(o);
  auto stream = log.stream(0);

  auto before = Clock::now();
  CHECK(err_of(stream.next_for(0ms)) == Errc::timed_out);
  CHECK(Clock::now() - before < 1s);

  before = Clock::now();
  CHECK(err_of(stream.next_for(10ms)) == Errc::timed_out);
  CHECK(Clock::now() - before < 1s);

  before = Clock::now();
  CHECK(err_of(stream.next_until(Clock::now() - 1s)) == Errc::timed_out);
  CHECK(Clock::now() - before < 1s);
}

// ---------------------------------------------------------------------------
// Concurrency

namespace {
struct Tagged {
  int writer = -1;
  std::int64_t seq = -1;
};
}  // namespace

TEST_CASE("many streams see every record of two writers exactly once and in order",
          "[stream][concurrent]") {
  constexpr int writers = 2;
  constexpr int streams = 4;
  constexpr std::int64_t total = 100'000;
  constexpr std::int64_t per_writer = total / writers;
  memlog::Log<Tagged> log(make_options(0, static_cast<std::size_t>(total)));
  std::latch start(writers + streams);

  struct StreamReport {
    std::int64_t count = 0;
    Offset first_gap = -1;          // first offset out of order, or -1
    Offset first_reorder = -1;      // first offset whose writer seq was not last + 1
    std::int64_t seq_sum[writers] = {};
    std::error_code error;
  };
  std::vector<StreamReport> reports(streams);
  std::vector<std::error_code> write_errors(writers);

  std::vector<std::thread> threads;
  for (int s = 0; s < streams; ++s) {
    threads.emplace_back([&, s] {
      StreamReport& rep = reports[static_cast<std::size_t>(s)];
      std::int64_t last_seq[writers] = {-1, -1};
      auto stream = log.stream(0);
      start.arrive_and_wait();
      for (std::int64_t i = 0; i < total; ++i) {
        auto r = stream.next();
        if (!r) {
          rep.error = r.error();
          return;
        }
        ++rep.count;
        if (r->metadata.offset != i && rep.first_gap < 0) rep.first_gap = r->metadata.offset;
        const Tagged& t = r->data;
        if (t.writer < 0 || t.writer >= writers) {
          if (rep.first_reorder < 0) rep.first_reorder = r->metadata.offset;
          continue;
        }
        if (t.seq != last_seq[t.writer] + 1 && rep.first_reorder < 0) rep.first_reorder = r->metadata.offset;
        last_seq[t.writer] = t.seq;
        rep.seq_sum[t.writer] += t.seq;
      }
    });
  }
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      start.arrive_and_wait();
      for (std::int64_t seq = 0; seq < per_writer; ++seq) {
        auto r = log.write(Tagged{w, seq});
        if (!r) {
          write_errors[static_cast<std::size_t>(w)] = r.error();
          return;
        }
      }
    });
  }
  const auto before = Clock::now();
  for (auto& t : threads) t.join();
  const auto elapsed = Clock::now() - before;
  UNSCOPED_INFO("elapsed " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms");

  for (const auto& e : write_errors) CHECK(e == std::error_code{});
  CHECK(log.range() == memlog::OffsetRange{0, total - 1});
  for (int s = 0; s < streams; ++s) {
    CAPTURE(s);
    const StreamReport& rep = reports[static_cast<std::size_t>(s)];
    CHECK(rep.error == std::error_code{});
    CHECK(rep.count == total);
    CHECK(rep.first_gap == -1);
    CHECK(rep.first_reorder == -1);
    for (int w = 0; w < writers; ++w) CHECK(rep.seq_sum[w] == per_writer * (per_writer - 1) / 2);
  }
}

TEST_CASE("streams parked at different offsets are each woken by the write of their offset",
          "[stream][concurrent]") {
  constexpr int streams = 6;
  constexpr Offset spacing = 100;
  constexpr Offset reads = 50;
  constexpr Offset total = streams * spacing;
  memlog::Log<Offset> log(make_options(0, static_cast<std::size_t>(total)));
  std::latch start(streams + 1);
  std::vector<Seen> seen(streams);

  std::vector<std::thread> readers;
  for (int k = 0; k < streams; ++k) {
    readers.emplace_back([&, k] {
      // Start in reverse order of offsets so parked positions are not monotonic.
      const Offset from = (streams - 1 - k) * spacing;
      auto stream = log.stream(from);
      start.arrive_and_wait();
      for (Offset i = 0; i < reads; ++i) {
        auto r = stream.next();
        if (!r) {
          seen[static_cast<std::size_t>(k)].error = r.error();
          return;
        }
        if (r->data != r->metadata.offset) return;
        seen[static_cast<std::size_t>(k)].offsets.push_back(r->metadata.offset);
      }
    });
  }
  start.arrive_and_wait();
  int write_failures = 0;  // no REQUIRE while the readers run: it would skip their join
  for (Offset i = 0; i < total; ++i) write_failures += log.write(i) ? 0 : 1;
  for (auto& t : readers) t.join();

  CHECK(write_failures == 0);

  for (int k = 0; k < streams; ++k) {
    CAPTURE(k);
    const auto& s = seen[static_cast<std::size_t>(k)];
    CHECK(s.error == std::error_code{});
    CHECK(static_cast<Offset>(s.offsets.size()) == reads);
    CHECK(s.consecutive_from((streams - 1 - k) * spacing));
  }
}

TEST_CASE("a slow stream on a small segment ends with out_of_range, never a gap",
          "[stream][purge][concurrent]") {
  constexpr std::size_t seg = 10;
  constexpr Offset total = 20'000;
  constexpr Offset pause_at = total / 2;  // far more than 2 segments before the end
  memlog::Log<Offset> log(make_options(0, seg));
  std::latch start(2);
  std::latch writer_done(1);
  Seen seen;
  Offset end_position = -1;

  std::thread reader([&] {
    auto stream = log.stream(0);
    start.arrive_and_wait();
    // Phase 1: read alongside the writer (it may already outrun us here).
    while (stream.position() < pause_at) {
      auto r = stream.next();
      if (!r) break;
      if (r->data != r->metadata.offset) break;
      seen.offsets.push_back(r->metadata.offset);
    }
    // Phase 2: fall behind for sure, then go on: the position is purged now.
    writer_done.wait();
    while (true) {
      auto r = stream.next_for(0ms);
      if (!r) break;
      seen.offsets.push_back(r->metadata.offset);
    }
    seen.error = stream.error();
    end_position = stream.position();
  });
  start.arrive_and_wait();
  int write_failures = 0;  // no REQUIRE while the reader runs: it would skip its join
  for (Offset i = 0; i < total; ++i) write_failures += log.write(i) ? 0 : 1;
  writer_done.count_down();
  reader.join();

  CHECK(write_failures == 0);

  CHECK(seen.error == Errc::out_of_range);
  CHECK(seen.consecutive_from(0));
  CHECK(static_cast<Offset>(seen.offsets.size()) == end_position);
  CHECK(end_position <= pause_at);
  CHECK(end_position < log.range().earliest);
}

TEST_CASE("streams and a writer run concurrently until a third thread stops them",
          "[stream][stop][concurrent]") {
  constexpr Offset cap = 50'000;  // the writer stops here at the latest
  memlog::Log<Offset> log(make_options(0, static_cast<std::size_t>(cap)));  // nothing is purged
  std::stop_source stop;
  std::latch start(5);
  Progress written;
  Offset writes = 0;
  std::error_code write_error;

  std::thread writer([&] {
    start.arrive_and_wait();
    const auto token = stop.get_token();
    for (Offset i = 0; i < cap && !token.stop_requested(); ++i) {
      auto w = log.write(i);
      if (!w) {
        write_error = w.error();
        break;
      }
      writes = i + 1;
      if (i % 1000 == 0) written.set(i);
    }
    written.set(cap);  // whatever happened, release the stopper
  });
  std::jthread stopper([&] {
    start.arrive_and_wait();
    written.wait_at_least(cap / 2);
    stop.request_stop();
  });

  Seen by_next;
  Seen by_range;
  Seen by_next_for;
  std::thread s1([&] {
    auto stream = log.stream(0, stop.get_token());
    start.arrive_and_wait();
    while (auto r = stream.next()) {
      if (r->data != r->metadata.offset) break;
      by_next.offsets.push_back(r->metadata.offset);
    }
    by_next.error = stream.error();
  });
  std::thread s2([&] {
    auto stream = log.stream(0, stop.get_token());
    start.arrive_and_wait();
    for (const auto& r : stream) {
      if (r.data != r.metadata.offset) break;
      by_range.offsets.push_back(r.metadata.offset);
    }
    by_range.error = stream.error();
  });
  std::thread s3([&] {
    auto stream = log.stream(0, stop.get_token());
    start.arrive_and_wait();
    while (true) {
      auto r = stream.next_for(1ms);
      if (!r) {
        if (r.error() == Errc::timed_out) continue;
        break;
      }
      if (r->data != r->metadata.offset) break;
      by_next_for.offsets.push_back(r->metadata.offset);
    }
    by_next_for.error = stream.error();
  });
  writer.join();
  stopper.join();
  s1.join();
  s2.join();
  s3.join();

  CHECK(write_error == std::error_code{});
  CHECK(writes >= cap / 2);
  CHECK(writes <= cap);
  for (const Seen* seen : {&by_next, &by_range, &by_next_for}) {
    CHECK(seen->error == Errc::cancelled);
    CHECK(seen->consecutive_from(0));
    CHECK(static_cast<Offset>(seen->offsets.size()) <= writes);
  }
}
