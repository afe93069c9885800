// Tests of the segment storage itself (detail/stable_vector.hpp,
// detail/segment.hpp, detail/byte_segment.hpp), below the Log:
//   - StableVector: element addresses never change, blocks are clipped to
//     the bound, clear() reuses them, runs cover exactly what was asked;
//   - each segment type against a simple model (random record sizes, large
//     records and sizes around chunk boundaries, rotations as a Log makes
//     them: the history reset_and_push()es the new record, then the two
//     segments swap), reading every retained record through every reader call;
//   - the concurrency contract (run under TSan): readers read published
//     records (at, created, data, copy_to) while the writer appends across
//     many block and chunk growths, and, with readers excluded only while a
//     rotation runs, while the writer rotates and reuses purged storage.
// Failures on reader threads are collected and asserted on the main thread
// (Catch2 assertions are not thread-safe).

#include "support/catch.hpp"

#include <memlog/detail/byte_segment.hpp>
#include <memlog/detail/segment.hpp>
#include <memlog/detail/stable_vector.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using memlog::Offset;
using memlog::Record;
using memlog::detail::ByteSegment;
using memlog::detail::Segment;
using memlog::detail::StableVector;
using TimePoint = std::chrono::system_clock::time_point;

constexpr std::size_t chunk = ByteSegment<std::string>::chunk_size;

TimePoint stamp(std::uint64_t key) {
  return TimePoint(std::chrono::nanoseconds(1'700'000'000'000'000'000 + static_cast<std::int64_t>(key % 1'000'000'007) * 977));
}

// Pseudo-random bytes; record k's data is pattern()[offset_of(k), + size),
// so a record read from the wrong place or with the wrong length differs.
const std::string& pattern() {
  static const std::string p = [] {
    std::string s(1 << 20, '\0');
    std::uint32_t x = 2463534242u;
    for (char& c : s) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      c = static_cast<char>(x >> 24);
    }
    return s;
  }();
  return p;
}
std::size_t offset_of(std::uint64_t key) { return static_cast<std::size_t>((key * 2654435761u) % (1 << 18)); }
std::string_view payload_view(std::uint64_t key, std::size_t size) {
  return std::string_view(pattern()).substr(offset_of(key), size);
}
std::string payload(std::uint64_t key, std::size_t size) { return std::string(payload_view(key, size)); }

// A record type whose move may throw (it never does here): Segment takes its
// spare-block path at reset_and_push().
struct MayThrow {
  std::string text;
  MayThrow() = default;
  explicit MayThrow(std::string t) : text(std::move(t)) {}
  MayThrow(const MayThrow&) = default;
  MayThrow(MayThrow&& other) noexcept(false) : text(std::move(other.text)) {}
  MayThrow& operator=(const MayThrow&) = default;
  MayThrow& operator=(MayThrow&&) = default;
};
static_assert(!std::is_nothrow_move_constructible_v<MayThrow>);

std::string text_of(const std::string& s) { return s; }
std::string text_of(const MayThrow& m) { return m.text; }
std::string text_of(const std::vector<std::byte>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}
template <class T>
T make_value(std::string s) {
  if constexpr (std::is_same_v<T, std::vector<std::byte>>) {
    std::vector<std::byte> v(s.size());
    if (!s.empty()) std::memcpy(v.data(), s.data(), s.size());
    return v;
  } else {
    return T(std::move(s));
  }
}

// The record type a segment holds.
template <class Seg>
struct ValueOf;
template <class T>
struct ValueOf<Segment<T>> {
  using type = T;
};
template <class T>
struct ValueOf<ByteSegment<T>> {
  using type = T;
};

// Mostly small; sizes around the small chunks' and a chunk's end; large.
std::size_t random_size(std::mt19937_64& rng) {
  const auto pick = rng() % 100;
  if (pick < 55) return 1 + rng() % 300;
  if (pick < 65) return 1 + rng() % 5000;
  if (pick < 75) {
    static constexpr std::size_t edges[] = {255, 256, 257, 511, 512, 513, 1023, 1024, 4096, 32767, 32768, 32769};
    return edges[rng() % std::size(edges)];
  }
  if (pick < 90) return chunk - 3 + rng() % 7;  // chunk - 3 .. chunk + 3
  return chunk + 1 + rng() % (3 * chunk);
}

}  // namespace

// ---------------------------------------------------------------------------
// StableVector

TEST_CASE("StableVector: elements never move and every index finds its element", "[segment][stable]") {
  for (const std::size_t bound : {std::size_t{1}, std::size_t{16}, std::size_t{17}, std::size_t{1000},
                                  std::size_t{4096}, std::size_t{1} << 40}) {
    INFO("bound " << bound);
    StableVector<std::uint64_t, 4> v;
    CHECK(v.size() == 0);
    CHECK(v.capacity() == 0);
    CHECK_FALSE(v.has_room());
    const std::size_t n = std::min<std::size_t>(bound, 5000);
    std::vector<const std::uint64_t*> where;
    for (std::size_t i = 0; i < n; ++i) {
      v.reserve_next(bound);
      REQUIRE(v.has_room());
      if (i % 2 == 0) {
        v.emplace_back(i * 3 + 1);
      } else {
        v.push_in_room(i * 3 + 1);
      }
      where.push_back(&v[i]);
      // Capacity is a power of two times 16 (as a doubling vector), clipped to the bound.
      const std::size_t cap = v.capacity();
      CHECK(cap >= i + 1);
      CHECK(cap == std::min(bound, std::max<std::size_t>(16, std::bit_ceil(i + 1))));
    }
    REQUIRE(v.size() == n);
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(v[i] == i * 3 + 1);
      REQUIRE(&v[i] == where[i]);
    }
    // Runs cover exactly [i, i + count), in order, each run contiguous.
    std::mt19937_64 rng(7);
    for (int k = 0; k < 200; ++k) {
      const std::size_t first = rng() % n;
      const std::size_t count = rng() % (n - first + 1);
      std::size_t next = first;
      v.for_each_run(first, count, [&](const std::uint64_t* p, std::size_t m) {
        REQUIRE(m > 0);
        for (std::size_t j = 0; j < m; ++j) REQUIRE(p[j] == (next + j) * 3 + 1);
        REQUIRE(p == where[next]);
        next += m;
      });
      REQUIRE(next == first + count);
    }
    // clear() keeps every block: appending again reuses the same addresses.
    const std::size_t cap = v.capacity();
    v.clear();
    CHECK(v.size() == 0);
    CHECK(v.capacity() == cap);
    for (std::size_t i = 0; i < n; ++i) {
      v.reserve_next(bound);
      v.emplace_back(i);
      REQUIRE(&v[i] == where[i]);
    }
    CHECK(v.capacity() == cap);
  }
}

TEST_CASE("StableVector: replace_all builds in the spare block and keeps everything if building throws",
          "[segment][stable]") {
  struct Boom {};
  struct Item {
    std::string s;
    explicit Item(std::string v, bool fail = false) : s(std::move(v)) {
      if (fail) throw Boom{};
    }
  };
  StableVector<Item, 2> v;
  for (int i = 0; i < 10; ++i) {
    v.reserve_next(100);
    v.emplace_back(std::to_string(i));
  }
  v.reserve_spare(100);
  const Item* block0 = &v[0];
  CHECK_THROWS_AS(v.replace_all("x", true), Boom);
  REQUIRE(v.size() == 10);
  for (int i = 0; i < 10; ++i) CHECK(v[static_cast<std::size_t>(i)].s == std::to_string(i));
  CHECK(&v[0] == block0);
  v.replace_all("new");
  REQUIRE(v.size() == 1);
  CHECK(v[0].s == "new");
  CHECK(&v[0] != block0);  // the spare became block 0
  const std::size_t cap = v.capacity();
  for (int i = 1; i < 10; ++i) {
    v.reserve_next(100);
    v.emplace_back(std::to_string(i));
  }
  CHECK(v.capacity() == cap);  // the later blocks were kept
  v.replace_all("again");
  CHECK(&v[0] == block0);  // and back: two first blocks, used in turn
}

TEST_CASE("segments: an idle segment is 16 bytes", "[segment]") {
  STATIC_REQUIRE(sizeof(Segment<std::string>) == 16);
  STATIC_REQUIRE(sizeof(ByteSegment<std::string>) == 16);
  STATIC_REQUIRE(sizeof(ByteSegment<std::vector<std::byte>>) == 16);
}

// ---------------------------------------------------------------------------
// Differential tests against a model

namespace {

// Two segments used as a Log uses them, and the model of what they hold.
template <class Seg>
struct MiniLog {
  std::size_t limit;
  Seg active;
  Seg history;
  bool has_history = false;
  std::deque<std::pair<Offset, std::string>> model;  // retained: offset, data
  std::deque<TimePoint> stamps;
  Offset next;

  MiniLog(Offset start, std::size_t segment) : limit(segment), active(start), history(start), next(start) {}

  // Appends; rotates when the active segment is full or when `rotate_early`.
  template <class Push, class Reset>
  void write(std::string data, TimePoint created, bool rotate_early, Push push, Reset reset) {
    if (active.size() < limit && !(rotate_early && !active.empty())) {
      push(active, created, data, limit);
    } else {
      reset(history, next, created, data, limit);
      using std::swap;
      swap(active, history);
      // The purged segment's records leave the model.
      const Offset keep_from = history.start();
      while (!model.empty() && model.front().first < keep_from) {
        model.pop_front();
        stamps.pop_front();
      }
      has_history = true;
    }
    model.emplace_back(next, std::move(data));
    stamps.push_back(created);
    ++next;
  }
};

// "" when the segments hold exactly the model, else the first difference.
template <class Seg, class Read>
std::string difference(const MiniLog<Seg>& log, std::mt19937_64& rng, Read read) {
  std::ostringstream out;
  if (log.active.end() != log.next) {
    out << "active ends at " << log.active.end() << ", want " << log.next;
    return out.str();
  }
  const Offset first = log.model.front().first;
  if (log.has_history) {
    if (log.history.start() != first || log.history.end() != log.active.start()) {
      out << "history holds " << log.history.start() << ".." << log.history.end() << ", want " << first << ".."
          << log.active.start();
      return out.str();
    }
  } else if (log.active.start() != first) {
    out << "active starts at " << log.active.start() << ", want " << first;
    return out.str();
  }
  if (log.active.size() != static_cast<std::size_t>(log.active.end() - log.active.start()) ||
      log.active.empty() || !log.active.contains(log.next - 1) || log.active.contains(log.next)) {
    out << "active's size/contains disagree with its range";
    return out.str();
  }
  for (std::size_t k = 0; k < log.model.size(); ++k) {
    const auto& [offset, data] = log.model[k];
    const Seg& seg = offset >= log.active.start() ? log.active : log.history;
    const auto [got, created] = read(seg, offset);
    if (got != data || created != log.stamps[k]) {
      out << "offset " << offset << ": " << got.size() << " bytes" << (created != log.stamps[k] ? " (wrong time)" : "")
          << ", want " << data.size() << (got.size() == data.size() ? " (other bytes)" : "");
      return out.str();
    }
  }
  // copy_to from random places, within one segment.
  for (int k = 0; k < 4; ++k) {
    const Seg& seg = (log.has_history && rng() % 2 == 0) ? log.history : log.active;
    const Offset from = seg.start() + static_cast<Offset>(rng() % seg.size());
    const std::size_t count = 1 + static_cast<std::size_t>(rng() % static_cast<std::uint64_t>(seg.end() - from));
    using Value = typename ValueOf<Seg>::type;
    std::vector<Record<Value>> batch(count);
    if (k % 2 == 0) {
      for (auto& r : batch) r.data = make_value<Value>(std::string(40, '?'));  // storage to reuse
    }
    seg.copy_to(from, std::span<Record<Value>>(batch));
    for (std::size_t j = 0; j < count; ++j) {
      const std::size_t m = static_cast<std::size_t>(from + static_cast<Offset>(j) - first);
      if (batch[j].metadata.offset != from + static_cast<Offset>(j) || text_of(batch[j].data) != log.model[m].second ||
          batch[j].metadata.created != log.stamps[m]) {
        out << "copy_to(" << from << ", " << count << ") record " << j << " differs";
        return out.str();
      }
    }
  }
  return {};
}

}  // namespace

// Segment<T> has no at() for views: wrap it so the same checks apply.
namespace {
template <class T>
struct SegmentAdapter {
  static auto read(const Segment<T>& seg, Offset offset) {
    const Record<T>& r = seg.at(offset);
    REQUIRE(r.metadata.offset == offset);
    return std::pair<std::string, TimePoint>(text_of(r.data), r.metadata.created);
  }
};
}  // namespace

TEMPLATE_TEST_CASE("Segment<T> holds what a model holds, across rotations", "[segment][model]", std::string,
                   MayThrow) {
  std::mt19937_64 rng(20260301);
  for (int round = 0; round < 12; ++round) {
    const std::size_t limit = round < 4 ? std::size_t{1} + static_cast<std::size_t>(round) : 1 + rng() % 200;
    const Offset start = static_cast<Offset>(rng() % 1000);
    MiniLog<Segment<TestType>> log(start, limit);
    INFO("round " << round << ", max_segment_size " << limit << ", start " << start);
    const int writes = static_cast<int>(3 * limit + 40);
    for (int i = 0; i < writes; ++i) {
      const std::uint64_t key = rng();
      std::string data = payload(key, rng() % 60);  // empty records too: Segment<T> stores any T
      const bool early = rng() % 50 == 0;
      log.write(
          std::move(data), stamp(key), early,
          [](Segment<TestType>& s, TimePoint t, const std::string& d, std::size_t l) {
            if (d.size() % 2 == 0) {
              s.push(t, make_value<TestType>(d), l);
            } else {
              const TestType value = make_value<TestType>(d);
              s.push(t, value, l);  // the lvalue (copying) overload
            }
          },
          [](Segment<TestType>& s, Offset o, TimePoint t, const std::string& d, std::size_t l) {
            s.reset_and_push(o, t, make_value<TestType>(d), l);
          });
      INFO("after write " << i);
      REQUIRE(difference(log, rng, SegmentAdapter<TestType>::read) == "");
    }
  }
}

namespace {
template <class T>
std::string as_string(typename ByteSegment<T>::View v) {
  std::string s(v.size(), '\0');
  if (!v.empty()) std::memcpy(s.data(), v.data(), v.size());
  return s;
}
template <class T>
typename ByteSegment<T>::View view_of(const std::string& s) {
  if constexpr (std::is_same_v<T, std::string>) {
    return s;
  } else {
    return typename ByteSegment<T>::View(reinterpret_cast<const typename T::value_type*>(s.data()), s.size());
  }
}
}  // namespace


TEMPLATE_TEST_CASE("ByteSegment holds what a model holds: sizes around chunks, large records, rotations",
                   "[segment][model]", std::string, std::vector<std::byte>) {
  using Seg = ByteSegment<TestType>;
  const auto read = [](const Seg& seg, Offset offset) {
    return std::pair<std::string, TimePoint>(as_string<TestType>(seg.data(offset)), seg.created(offset));
  };
  const auto push = [](Seg& s, TimePoint t, const std::string& d, std::size_t l) { s.push(t, view_of<TestType>(d), l); };
  const auto reset = [](Seg& s, Offset o, TimePoint t, const std::string& d, std::size_t l) {
    s.reset_and_push(o, t, view_of<TestType>(d), l);
  };
  std::mt19937_64 rng(20260302);
  for (int round = 0; round < 14; ++round) {
    const std::size_t limit = round < 4 ? std::size_t{1} + static_cast<std::size_t>(round) : 1 + rng() % 120;
    const Offset start = static_cast<Offset>(rng() % 1000);
    MiniLog<Seg> log(start, limit);
    INFO("round " << round << ", max_segment_size " << limit << ", start " << start);
    const int writes = static_cast<int>(std::min<std::size_t>(3 * limit + 30, 300));
    for (int i = 0; i < writes; ++i) {
      const std::uint64_t key = rng();
      std::string data = payload(key, random_size(rng));
      log.write(std::move(data), stamp(key), rng() % 40 == 0, push, reset);
      INFO("after write " << i << " (" << log.model.back().second.size() << " bytes)");
      REQUIRE(difference(log, rng, read) == "");
    }
  }
}

TEST_CASE("ByteSegment: records that fill chunks exactly, and small chunks that fill up", "[segment][model]") {
  using Seg = ByteSegment<std::string>;
  const auto read = [](const Seg& seg, Offset offset) {
    return std::pair<std::string, TimePoint>(std::string(seg.data(offset)), seg.created(offset));
  };
  const auto push = [](Seg& s, TimePoint t, const std::string& d, std::size_t l) { s.push(t, d, l); };
  const auto reset = [](Seg& s, Offset o, TimePoint t, const std::string& d, std::size_t l) {
    s.reset_and_push(o, t, d, l);
  };
  // Sequences that end records exactly at chunk ends, overflow a small
  // chunk by one byte, alternate large and tiny records.
  const std::vector<std::vector<std::size_t>> sequences = {
      {256, 1, 511, 2, 1024, 1, chunk, chunk, 1, chunk - 1, 1, 1},
      {255, 2, 300, 700, 1500, 3000, 6000, 12000, 24000, 48000, 60000, chunk, 5},
      {chunk + 1, 1, chunk + 1, chunk, 2 * chunk, 1, 3 * chunk + 7, 10, 10},
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
  };
  for (const std::size_t limit : {std::size_t{3}, std::size_t{7}, std::size_t{13}, std::size_t{100}}) {
    for (std::size_t s = 0; s < sequences.size(); ++s) {
      INFO("max_segment_size " << limit << ", sequence " << s);
      MiniLog<Seg> log(0, limit);
      std::mt19937_64 rng(s);
      for (int pass = 0; pass < 4; ++pass) {
        for (const std::size_t size : sequences[s]) {
          const std::uint64_t key = rng();
          log.write(payload(key, size), stamp(key), false, push, reset);
          REQUIRE(difference(log, rng, read) == "");
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Concurrency: readers beside the writer

namespace {

// Failures seen on reader threads, asserted on the main thread.
class Failures {
 public:
  void add(std::string what) {
    std::lock_guard lock(mu_);
    if (list_.size() < 10) list_.push_back(std::move(what));
    count_.fetch_add(1, std::memory_order_relaxed);
  }
  [[nodiscard]] std::vector<std::string> list() const {
    std::lock_guard lock(mu_);
    return list_;
  }
  [[nodiscard]] bool any() const noexcept { return count_.load(std::memory_order_relaxed) != 0; }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> list_;
  std::atomic<long> count_{0};
};

// The size of the record at `offset` in the concurrency tests: mostly small,
// some around a chunk's end, a few large, so that a run crosses many block,
// chunk and slot-table growths.
std::size_t size_at(Offset offset) {
  const auto h = static_cast<std::uint64_t>(offset) * 0x9E3779B97F4A7C15u;
  const auto pick = (h >> 32) % 200;
  if (pick == 0) return chunk + 1 + static_cast<std::size_t>((h >> 8) % (2 * chunk));
  if (pick < 6) return chunk - 2 + static_cast<std::size_t>((h >> 8) % 4);
  return 1 + static_cast<std::size_t>((h >> 8) % 700);
}
std::size_t small_size_at(Offset offset) { return static_cast<std::size_t>(offset * 7 % 90); }

std::string describe_mismatch(const char* call, Offset offset, std::size_t got, std::size_t want) {
  std::ostringstream out;
  out << call << "(" << offset << "): " << got << " bytes, want " << want << (got == want ? " (other bytes)" : "");
  return out.str();
}

// Reads of one published record of a byte segment, checked exactly.
template <class Seg>
void check_bytes(const Seg& seg, Offset offset, Failures& failures) {
  const auto want = payload_view(static_cast<std::uint64_t>(offset), size_at(offset));
  const auto got = seg.data(offset);
  if (got.size() != want.size() || std::memcmp(got.data(), want.data(), want.size()) != 0) {
    failures.add(describe_mismatch("data", offset, got.size(), want.size()));
  }
  if (seg.created(offset) != stamp(static_cast<std::uint64_t>(offset))) failures.add("created differs");
}

template <class Seg>
void check_bytes_batch(const Seg& seg, Offset from, std::size_t count, std::vector<Record<std::string>>& batch,
                       Failures& failures) {
  batch.resize(count);
  seg.copy_to(from, std::span<Record<std::string>>(batch));
  for (std::size_t j = 0; j < count; ++j) {
    const Offset offset = from + static_cast<Offset>(j);
    if (batch[j].metadata.offset != offset || batch[j].metadata.created != stamp(static_cast<std::uint64_t>(offset)) ||
        batch[j].data != payload_view(static_cast<std::uint64_t>(offset), size_at(offset))) {
      failures.add(describe_mismatch("copy_to", offset, batch[j].data.size(), size_at(offset)));
    }
  }
}

void check_record(const Segment<std::string>& seg, Offset offset, Failures& failures) {
  const Record<std::string>& r = seg.at(offset);
  const std::size_t size = small_size_at(offset);
  if (r.metadata.offset != offset || r.metadata.created != stamp(static_cast<std::uint64_t>(offset)) ||
      r.data != payload_view(static_cast<std::uint64_t>(offset), size)) {
    failures.add(describe_mismatch("at", offset, r.data.size(), size));
  }
}

void check_record_batch(const Segment<std::string>& seg, Offset from, std::size_t count,
                        std::vector<Record<std::string>>& batch, Failures& failures) {
  batch.resize(count);
  seg.copy_to(from, std::span<Record<std::string>>(batch));
  for (std::size_t j = 0; j < count; ++j) {
    const Offset offset = from + static_cast<Offset>(j);
    if (batch[j].metadata.offset != offset ||
        batch[j].data != payload_view(static_cast<std::uint64_t>(offset), small_size_at(offset))) {
      failures.add(describe_mismatch("copy_to", offset, batch[j].data.size(), small_size_at(offset)));
    }
  }
}

// Pushes `total` records into one segment while `readers` threads read every
// published record. The writer publishes the count with release after each
// push and, every few records, waits until each reader has seen the latest
// count (so that reads overlap the writes all along the run, not only at its
// start); a reader reads the newest record, sweeps older ones and reads a
// batch, then acknowledges. At the end each reader reads every record once more.
template <class Seg, class Push, class Check, class CheckBatch>
void run_readers_beside_writer(Seg& seg, Offset start, std::size_t total, std::size_t limit, Push push, Check check,
                               CheckBatch check_batch, Failures& failures, long& reads) {
  constexpr int readers = 3;
  std::atomic<std::size_t> published{0};  // records pushed so far
  std::vector<std::atomic<std::size_t>> seen(readers);
  std::atomic<long> read_count{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      std::vector<Record<std::string>> batch;
      std::size_t sweep = static_cast<std::size_t>(r) * 7919;
      long n_reads = 0;
      for (;;) {
        // acquire: pairs with the writer's release store after push().
        const std::size_t n = published.load(std::memory_order_acquire);
        if (n > 0) {
          check(seg, start + static_cast<Offset>(n - 1), failures);
          for (int k = 0; k < 24; ++k, ++sweep) check(seg, start + static_cast<Offset>(sweep % n), failures);
          const std::size_t from = sweep % n;
          check_batch(seg, start + static_cast<Offset>(from), std::min<std::size_t>(n - from, 5), batch, failures);
          n_reads += 25 + static_cast<long>(std::min<std::size_t>(n - from, 5));
        }
        // release: orders nothing the writer needs; relaxed would do, but
        // keeps the acknowledgement after the reads in any reading of it.
        seen[static_cast<std::size_t>(r)].store(n, std::memory_order_release);
        if (n == total || failures.any()) break;
        // Nothing new: let the writer run (two cores, four threads).
        while (published.load(std::memory_order_relaxed) == n && !failures.any()) std::this_thread::yield();
      }
      for (std::size_t i = 0; i < total && !failures.any(); ++i) check(seg, start + static_cast<Offset>(i), failures);
      read_count.fetch_add(n_reads, std::memory_order_relaxed);  // during the run: the final pass not counted
    });
  }
  std::mt19937_64 rng(99);
  std::size_t until_wait = 1;
  for (std::size_t i = 0; i < total; ++i) {
    push(seg, start + static_cast<Offset>(i), limit);
    // release: the pushed record (and the storage leading to it) happens
    // before any read of it.
    published.store(i + 1, std::memory_order_release);
    if (--until_wait == 0) {
      until_wait = 1 + rng() % 8;
      for (auto& s : seen) {
        while (s.load(std::memory_order_acquire) < i + 1 && !failures.any()) std::this_thread::yield();
      }
    }
  }
  for (auto& t : threads) t.join();
  reads = read_count.load();
}

}  // namespace

TEST_CASE("ByteSegment: readers read published records while the writer appends across growths",
          "[segment][concurrent]") {
  constexpr std::size_t total = 12'000;
  constexpr Offset start = 1000;
  ByteSegment<std::string> seg(start);
  Failures failures;
  long reads = 0;
  run_readers_beside_writer(
      seg, start, total, total,
      [](ByteSegment<std::string>& s, Offset offset, std::size_t limit) {
        s.push(stamp(static_cast<std::uint64_t>(offset)), payload_view(static_cast<std::uint64_t>(offset), size_at(offset)),
               limit);
      },
      [](const ByteSegment<std::string>& s, Offset o, Failures& f) { check_bytes(s, o, f); },
      [](const ByteSegment<std::string>& s, Offset from, std::size_t n, std::vector<Record<std::string>>& b,
         Failures& f) { check_bytes_batch(s, from, n, b, f); },
      failures, reads);
  CHECK(failures.list() == std::vector<std::string>{});
  CHECK(seg.size() == total);
  WARN("ByteSegment beside a writer: " << total << " records, " << reads << " reads checked while it wrote");
}

TEST_CASE("Segment<T>: readers read published records while the writer appends across growths",
          "[segment][concurrent]") {
  constexpr std::size_t total = 20'000;
  constexpr Offset start = 5;
  Segment<std::string> seg(start);
  Failures failures;
  long reads = 0;
  run_readers_beside_writer(
      seg, start, total, total,
      [](Segment<std::string>& s, Offset offset, std::size_t limit) {
        s.push(stamp(static_cast<std::uint64_t>(offset)), payload(static_cast<std::uint64_t>(offset), small_size_at(offset)),
               limit);
      },
      [](const Segment<std::string>& s, Offset o, Failures& f) { check_record(s, o, f); },
      [](const Segment<std::string>& s, Offset from, std::size_t n, std::vector<Record<std::string>>& b, Failures& f) {
        check_record_batch(s, from, n, b, f);
      },
      failures, reads);
  CHECK(failures.list() == std::vector<std::string>{});
  CHECK(seg.size() == total);
  WARN("Segment<std::string> beside a writer: " << total << " records, " << reads << " reads checked while it wrote");
}

namespace {

// Two segments rotated as a Log rotates them, readers excluded only while a
// rotation runs (a shared_mutex, with a flag that holds new readers back so
// that the writer is not starved). Readers read offsets in
// [earliest, published) while the writer appends, so they read records in
// storage that an earlier rotation purged and the writer now reuses.
template <class Seg, class Push, class Reset, class Check>
void run_readers_beside_rotations(std::size_t limit, std::size_t total, Push push, Reset reset, Check check,
                                  Failures& failures, long& reads) {
  constexpr int readers = 3;
  Seg active(0);
  Seg history(0);
  std::shared_mutex rotation;              // exclusive while a rotation runs
  std::atomic<bool> rotating{false};       // holds readers back so the writer gets the lock
  std::atomic<Offset> earliest{0};         // written under `rotation` (exclusive)
  std::atomic<std::size_t> published{0};   // records written so far
  std::vector<std::atomic<std::size_t>> seen(readers);
  std::atomic<long> read_count{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      std::size_t sweep = static_cast<std::size_t>(r) * 104729;
      long n_reads = 0;
      for (;;) {
        // acquire: pairs with the release store that ends a rotation.
        while (rotating.load(std::memory_order_acquire)) std::this_thread::yield();
        std::size_t n = 0;
        {
          std::shared_lock lock(rotation);
          // acquire: pairs with the writer's release store after each push.
          n = published.load(std::memory_order_acquire);
          // relaxed: only written under the exclusive lock, which we exclude.
          const Offset first = earliest.load(std::memory_order_relaxed);
          const auto end = static_cast<Offset>(n);
          if (end > first) {
            const auto read = [&](Offset o) {
              check(o >= active.start() ? active : history, o, failures);
              ++n_reads;
            };
            read(end - 1);
            for (int k = 0; k < 24; ++k, ++sweep) read(first + static_cast<Offset>(sweep % static_cast<std::size_t>(end - first)));
          }
        }
        seen[static_cast<std::size_t>(r)].store(n, std::memory_order_release);
        if (n == total || failures.any()) break;
        while (published.load(std::memory_order_relaxed) == n && !failures.any()) std::this_thread::yield();
      }
      read_count.fetch_add(n_reads, std::memory_order_relaxed);
    });
  }
  std::mt19937_64 rng(5);
  std::size_t until_wait = 1;
  for (std::size_t i = 0; i < total; ++i) {
    const auto offset = static_cast<Offset>(i);
    if (active.size() < limit) {
      push(active, offset, limit);  // beside the readers
    } else {
      // relaxed: the lock orders the rotation; the flag only holds readers back.
      rotating.store(true, std::memory_order_relaxed);
      {
        std::unique_lock lock(rotation);
        reset(history, offset, limit);
        using std::swap;
        swap(active, history);
        earliest.store(history.start(), std::memory_order_relaxed);
      }
      rotating.store(false, std::memory_order_release);
    }
    published.store(i + 1, std::memory_order_release);
    if (--until_wait == 0) {
      until_wait = 1 + rng() % 8;
      for (auto& s : seen) {
        while (s.load(std::memory_order_acquire) < i + 1 && !failures.any()) std::this_thread::yield();
      }
    }
  }
  for (auto& t : threads) t.join();
  reads = read_count.load();
}

}  // namespace

TEST_CASE("ByteSegment: readers beside a writer that rotates and reuses purged chunks", "[segment][concurrent]") {
  using Seg = ByteSegment<std::string>;
  Failures failures;
  long reads = 0;
  constexpr std::size_t total = 6000;
  run_readers_beside_rotations<Seg>(
      97, total,
      [](Seg& s, Offset o, std::size_t limit) {
        s.push(stamp(static_cast<std::uint64_t>(o)), payload_view(static_cast<std::uint64_t>(o), size_at(o)), limit);
      },
      [](Seg& s, Offset o, std::size_t limit) {
        s.reset_and_push(o, stamp(static_cast<std::uint64_t>(o)), payload_view(static_cast<std::uint64_t>(o), size_at(o)),
                         limit);
      },
      [](const Seg& s, Offset o, Failures& f) { check_bytes(s, o, f); }, failures, reads);
  CHECK(failures.list() == std::vector<std::string>{});
  WARN("ByteSegment beside rotations: " << total << " records, " << reads << " reads checked while it wrote");
}

TEST_CASE("Segment<T>: readers beside a writer that rotates and reuses purged blocks", "[segment][concurrent]") {
  using Seg = Segment<std::string>;
  Failures failures;
  long reads = 0;
  constexpr std::size_t total = 10'000;
  run_readers_beside_rotations<Seg>(
      200, total,
      [](Seg& s, Offset o, std::size_t limit) {
        s.push(stamp(static_cast<std::uint64_t>(o)), payload(static_cast<std::uint64_t>(o), small_size_at(o)), limit);
      },
      [](Seg& s, Offset o, std::size_t limit) {
        s.reset_and_push(o, stamp(static_cast<std::uint64_t>(o)), payload(static_cast<std::uint64_t>(o), small_size_at(o)),
                         limit);
      },
      [](const Seg& s, Offset o, Failures& f) { check_record(s, o, f); }, failures, reads);
  CHECK(failures.list() == std::vector<std::string>{});
  WARN("Segment<std::string> beside rotations: " << total << " records, " << reads << " reads checked while it wrote");
}

// ---------------------------------------------------------------------------
// Past 4 GiB of one segment's positions (hidden: it holds 4 GiB)

TEST_CASE("ByteSegment: records past 4 GiB, one of them ending exactly at 4 GiB", "[.big]") {
  // 16 KiB records: the first chunk is 16 KiB (one record), the second
  // 32 KiB (two), then 64 KiB chunks of four, each in its own 64 KiB slot. So
  // record 3 + 4k + 3 ends at the end of slot k + 2, and record 262'138 ends
  // at position 65'536 * 65'536 = 4 GiB exactly: the fast path must leave it
  // to the general one, which records that the high bits change there.
  constexpr std::size_t record = 16 * 1024;
  constexpr std::size_t at_4gib = 262'138;
  constexpr std::size_t limit = std::size_t{1} << 20;
  ByteSegment<std::string> seg(0);
  std::string buffer;
  // Record i: 16 KiB up to a little past 4 GiB, then sizes that take the
  // fast path, the next slot and a large record.
  const auto size_of = [](std::size_t i) -> std::size_t {
    if (i <= at_4gib + 8) return record;
    if (i % 500 == 0) return 3 * chunk + 5;
    return 1 + (i * 37) % 900;
  };
  const auto data_of = [&](std::size_t i) {
    buffer.assign(payload_view(i, std::min(size_of(i), std::size_t{1} << 18)));
    buffer.resize(size_of(i), static_cast<char>('A' + i % 26));
    return std::string_view(buffer);
  };
  constexpr std::size_t total = at_4gib + 5000;
  for (std::size_t i = 0; i < total; ++i) seg.push(stamp(i), data_of(i), limit);
  REQUIRE(seg.size() == total);
  for (std::size_t i = 0; i < total; ++i) {
    const auto want = data_of(i);
    const auto got = seg.read(static_cast<Offset>(i));
    if (got.data != want || got.created != stamp(i)) FAIL("record " << i << ": " << got.data.size() << " bytes, want " << want.size());
  }
  std::vector<Record<std::string>> batch(12);
  seg.copy_to(static_cast<Offset>(at_4gib - 5), std::span<Record<std::string>>(batch));
  for (std::size_t k = 0; k < batch.size(); ++k) CHECK(batch[k].data == data_of(at_4gib - 5 + k));
}
