// Shared helpers for the memlog tests: test data like the Go suite's
// NewTestDataSlice, a settable clock, a T that counts its live instances and
// throws on demand, and Catch2 printers for memlog's types.
#pragma once

#include <memlog/memlog.hpp>

#include "support/catch.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace memlog_test {

// The JSON document Go's newTestData builds (json.Marshal sorts the keys).
inline std::string new_test_data(const std::string& id) {
  return R"({"id":")" + id +
         R"(","source":"/api/v1/memlog_test","type":"record.created.event.v0"})";
}

// count documents with ids "1" .. "count", as Go's NewTestDataSlice.
inline std::vector<std::string> new_test_data_slice(std::size_t count) {
  std::vector<std::string> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) out.push_back(new_test_data(std::to_string(i + 1)));
  return out;
}

// The "id" field of a document made by new_test_data.
inline std::string id_of(const std::string& doc) {
  const std::string key = R"("id":")";
  const auto begin = doc.find(key);
  if (begin == std::string::npos) return {};
  const auto from = begin + key.size();
  return doc.substr(from, doc.find('"', from) - from);
}

inline std::vector<std::byte> to_bytes(const std::string& s) {
  std::vector<std::byte> out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = static_cast<std::byte>(s[i]);
  return out;
}

// The error of a Result, or an empty error_code when it holds a value (so a
// failed check prints the error instead of calling error() on a value).
template <class R>
std::error_code err_of(const R& r) {
  return r.has_value() ? std::error_code{} : r.error();
}

// The range a log with start s and segment size n holds after k writes.
inline memlog::OffsetRange expected_range(memlog::Offset s, std::size_t n, std::size_t k) {
  if (k == 0) return {-1, -1};
  const auto seg = static_cast<memlog::Offset>(n);
  const auto active = static_cast<memlog::Offset>(k - 1) / seg;  // index of the active segment
  const memlog::Offset earliest = active == 0 ? s : s + (active - 1) * seg;
  return {earliest, s + static_cast<memlog::Offset>(k) - 1};
}

// A clock for Options::clock whose time the test sets. Copies share the time.
class MockClock {
 public:
  using time_point = std::chrono::system_clock::time_point;

  // 2022-01-01T00:00:00Z: not the epoch, so it differs from Header's default.
  static constexpr time_point default_time() {
    return time_point{std::chrono::seconds{1640995200}};
  }

  explicit MockClock(time_point t = default_time())
      : now_{std::make_shared<std::atomic<std::int64_t>>(to_ns(t))} {}

  time_point now() const {
    return time_point{std::chrono::duration_cast<time_point::duration>(
        std::chrono::nanoseconds{now_->load()})};
  }
  void set(time_point t) { now_->store(to_ns(t)); }
  void advance(std::chrono::nanoseconds d) { now_->fetch_add(d.count()); }

  std::function<time_point()> fn() const {
    return [now = now_] {
      return time_point{std::chrono::duration_cast<time_point::duration>(
          std::chrono::nanoseconds{now->load()})};
    };
  }

 private:
  static std::int64_t to_ns(time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }
  std::shared_ptr<std::atomic<std::int64_t>> now_;
};

// Switches for Tracked, per thread so concurrent tests cannot interfere:
// the number of copies (moves) that still succeed before every further one
// throws; -1: never throw.
inline thread_local int copies_until_throw = -1;
inline thread_local int moves_until_throw = -1;

struct CopyError {};
struct MoveError {};

// Sets the throw switches for its lifetime.
class ThrowGuard {
 public:
  ThrowGuard(int copies, int moves) : copies_{copies_until_throw}, moves_{moves_until_throw} {
    copies_until_throw = copies;
    moves_until_throw = moves;
  }
  ~ThrowGuard() {
    copies_until_throw = copies_;
    moves_until_throw = moves_;
  }
  ThrowGuard(const ThrowGuard&) = delete;
  ThrowGuard& operator=(const ThrowGuard&) = delete;

 private:
  int copies_;
  int moves_;
};

// Counts down a switch; true once it has reached 0.
inline bool due(int& until_throw) noexcept {
  if (until_throw < 0) return false;
  if (until_throw == 0) return true;
  --until_throw;
  return false;
}

// A value type that counts live instances, detects double destruction, and
// throws from its copy/move operations when the switches say so. Its move
// constructor is deliberately not noexcept. No RecordSize: no size check.
struct Tracked {
  static inline std::atomic<long> live{0};
  static inline std::atomic<long> bad_destructions{0};
  static constexpr std::uint32_t alive_marker = 0xA11CE;
  static constexpr std::uint32_t dead_marker = 0xDEAD;

  int value = 0;
  std::uint32_t marker = alive_marker;

  Tracked() noexcept { ++live; }
  explicit Tracked(int v) noexcept : value{v} { ++live; }
  Tracked(const Tracked& o) : value{o.value} {
    if (due(copies_until_throw)) throw CopyError{};
    ++live;
  }
  Tracked(Tracked&& o) : value{o.value} {  // NOLINT: not noexcept on purpose
    if (due(moves_until_throw)) throw MoveError{};
    ++live;
  }
  Tracked& operator=(const Tracked& o) {
    if (due(copies_until_throw)) throw CopyError{};
    value = o.value;
    return *this;
  }
  Tracked& operator=(Tracked&& o) {  // NOLINT: not noexcept on purpose
    if (due(moves_until_throw)) throw MoveError{};
    value = o.value;
    return *this;
  }
  ~Tracked() {
    if (marker != alive_marker) ++bad_destructions;
    marker = dead_marker;
    --live;
  }
  friend bool operator==(const Tracked& a, const Tracked& b) noexcept { return a.value == b.value; }
};

}  // namespace memlog_test

// Printers so failed checks show values instead of "{?}".
namespace Catch {
template <>
struct StringMaker<memlog::Header> {
  static std::string convert(const memlog::Header& h) {
    std::ostringstream os;
    os << "{offset " << h.offset << ", created "
       << std::chrono::duration_cast<std::chrono::nanoseconds>(h.created.time_since_epoch()).count()
       << "ns}";
    return os.str();
  }
};
template <class T>
struct StringMaker<memlog::Record<T>> {
  static std::string convert(const memlog::Record<T>& r) {
    return "{" + StringMaker<memlog::Header>::convert(r.metadata) + ", " +
           ::Catch::Detail::stringify(r.data) + "}";
  }
};
template <>
struct StringMaker<memlog::OffsetRange> {
  static std::string convert(const memlog::OffsetRange& r) {
    return "{" + std::to_string(r.earliest) + ", " + std::to_string(r.latest) + "}";
  }
};
template <>
struct StringMaker<memlog_test::Tracked> {
  static std::string convert(const memlog_test::Tracked& t) {
    return "Tracked{" + std::to_string(t.value) + "}";
  }
};
}  // namespace Catch
