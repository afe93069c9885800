// Allocation failure: every write keeps the strong guarantee; and at steady
// state a rotation allocates nothing it can reuse.
//
// This file replaces the global operator new and delete (every usual form:
// plain, array, sized, aligned, nothrow) with versions that call malloc/free
// (aligned_alloc for the aligned forms) and that, while armed, throw
// std::bad_alloc (or return null, for the nothrow forms) at the Nth
// allocation. For each scenario, N runs 1, 2, 3, ...: build the log's state
// (disarmed), snapshot it (range() and every retained record, disarmed), arm
// the Nth allocation to fail, make one write, disarm. If the write threw
// std::bad_alloc, the log must equal the snapshot, and a next write must
// succeed with the offset the failed one would have had. The loop ends at the
// first N at which the write completes without the injector firing: every
// allocation the write makes has then failed once.
//
// Covered: memlog::Log<std::string> through write(std::string), write(
// std::string_view) and write("literal"); memlog::Log<std::vector<std::byte>>
// through write(std::vector<std::byte>) and write(std::span<const std::byte>)
// (all stored in the packed ByteSegment); non-byte Ts stored as Record<T> in
// Segment's blocks (Event, and CopyOnMove, whose move allocates and may
// throw, so that a rotation builds the new record in a spare block); and
// memlog::sharded::Log<std::string>. Scenarios: the first write; a record
// that does not fit in a small chunk (256 bytes ... 32 KiB), so that the
// next slot gets a bigger one; a new 64 KiB chunk (second, third, the 17th
// slot, and one kept by a recycled segment); records larger than 64 KiB;
// per-record arrays growing (17th and 33rd record, and 16 -> 20 under
// max_segment_size 20); and the write that rotates segments (first, second
// and third rotation) with max_segment_size 1, 3 and 1000, including
// rotations that purge large records or full chunks, whose kept chunks are
// too small, or that write a large record into kept chunks.
// The same loop runs on the segments directly (ByteSegment, Segment<T>),
// below the Log.
//
// Most scenarios stamp records with a counting clock (a function pointer:
// no allocation), so that a timestamp left behind by a failed write shows
// up; a few use the default clock. A clock that throws or allocates is
// covered by test_hostile.cpp.
//
// With the same hook, the reuse tests count allocations at steady state
// (issue 12, item 8): a rotation allocates only for records larger than a
// chunk, in the segments and through the Log.
//
// Under AddressSanitizer the replacement works as well: ASan intercepts
// malloc/free, which these operators call, so it still sees every block.

#include "support/catch.hpp"
#include "support/replaced_new.hpp"

#include <memlog/memlog.hpp>
#include <memlog/sharded.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

// ---------------------------------------------------------------------------
// The allocation-failure injector.

namespace {
namespace inject {
// > 0: the allocation that brings it to 0 fails. Thread-local: the tests are
// single-threaded, and nothing Catch2 or the runtime does on other threads
// can consume the countdown.
constinit thread_local long countdown = 0;
constinit thread_local long seen = 0;       // allocations since armed, up to the failing one
constinit thread_local bool fired = false;  // the armed failure happened
// Every allocation on this thread, armed or not (see count_allocations()).
constinit thread_local long allocations = 0;
constinit thread_local std::size_t allocated_bytes = 0;

void maybe_fail() {
  ++allocations;
  if (countdown > 0) {
    ++seen;
    if (--countdown == 0) {
      fired = true;
      throw std::bad_alloc();
    }
  }
}

void* allocate(std::size_t size) {
  maybe_fail();
  allocated_bytes += size;
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void* allocate(std::size_t size, std::align_val_t alignment) {
  maybe_fail();
  allocated_bytes += size;
  auto align = static_cast<std::size_t>(alignment);
  if (align < sizeof(void*)) align = sizeof(void*);
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t rounded = size == 0 ? align : (size + align - 1) / align * align;
  void* p = std::aligned_alloc(align, rounded);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

// Arms the injector for its lifetime: the nth allocation from now fails.
class Armed {
 public:
  explicit Armed(long n) noexcept {
    seen = 0;
    fired = false;
    countdown = n;
  }
  ~Armed() { countdown = 0; }
  Armed(const Armed&) = delete;
  Armed& operator=(const Armed&) = delete;
};
}  // namespace inject
}  // namespace

// The program's operator new and delete (support/replaced_new.hpp) are inject's.
void* memlog_test::replaced_new::allocate(std::size_t size) { return inject::allocate(size); }
void* memlog_test::replaced_new::allocate(std::size_t size, std::align_val_t alignment) {
  return inject::allocate(size, alignment);
}
void memlog_test::replaced_new::release(void* p) noexcept { std::free(p); }

// ---------------------------------------------------------------------------
// Record values, log state and snapshots.

namespace {

using memlog::Offset;
using memlog::OffsetRange;

// A non-byte T: stored as Record<Event> in Segment's vector. Its name is
// longer than the small-string buffer, so copying an Event allocates.
struct Event {
  std::string name;
  int number = 0;
  friend bool operator==(const Event&, const Event&) = default;
};

// A non-byte T whose move may throw: its move copies the name (so it
// allocates, and the injector can make it throw). Segment then takes its
// spare-block path at a rotation.
struct CopyOnMove {
  std::string name;
  int number = 0;
  CopyOnMove() = default;
  CopyOnMove(std::string n, int k) : name(std::move(n)), number(k) {}
  CopyOnMove(const CopyOnMove&) = default;
  CopyOnMove(CopyOnMove&& other) noexcept(false) : name(other.name), number(other.number) {}
  CopyOnMove& operator=(const CopyOnMove&) = default;
  CopyOnMove& operator=(CopyOnMove&& other) noexcept(false) {
    name = other.name;
    number = other.number;
    return *this;
  }
  ~CopyOnMove() = default;
  friend bool operator==(const CopyOnMove&, const CopyOnMove&) = default;
};
static_assert(!std::is_nothrow_move_constructible_v<CopyOnMove>);

constexpr std::size_t chunk_size = memlog::detail::ByteSegment<std::string>::chunk_size;  // 64 KiB
constexpr std::size_t large_size = 1536 * 1024;  // 1.5 MiB: 24 chunk slots, over the default max_record_size
constexpr std::size_t max_record = 4 * 1024 * 1024;
constexpr const char literal[] =
    "a string literal of sixty-four bytes, written through write(U)!";
constexpr std::size_t literal_size = sizeof(literal) - 1;
static_assert(literal_size == 63 || literal_size == 64);

// A clock that stamps each write with the next microsecond, so that a
// timestamp left behind by a failed write shows up. A function pointer: a
// std::function holds it without allocating, and calling it never allocates.
constinit long clock_ticks = 0;
std::chrono::system_clock::time_point stamp(long tick) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000) + std::chrono::microseconds(tick));
}
std::chrono::system_clock::time_point test_clock() noexcept { return stamp(++clock_ticks); }

std::string make_value(std::type_identity<std::string>, std::size_t size, std::size_t seed) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (seed * 7 + i) % 26);
  return s;
}
std::vector<std::byte> make_value(std::type_identity<std::vector<std::byte>>, std::size_t size, std::size_t seed) {
  std::vector<std::byte> v(size);
  for (std::size_t i = 0; i < size; ++i) v[i] = static_cast<std::byte>((seed * 13 + i) % 251);
  return v;
}
Event make_value(std::type_identity<Event>, std::size_t size, std::size_t seed) {
  return Event{make_value(std::type_identity<std::string>{}, size, seed), static_cast<int>(seed)};
}
CopyOnMove make_value(std::type_identity<CopyOnMove>, std::size_t size, std::size_t seed) {
  return CopyOnMove{make_value(std::type_identity<std::string>{}, size, seed), static_cast<int>(seed)};
}
template <class T>
T make(std::size_t size, std::size_t seed) {
  return make_value(std::type_identity<T>{}, size, seed);
}

std::string describe(const std::string& s) { return "string of " + std::to_string(s.size()) + " bytes"; }
std::string describe(const std::vector<std::byte>& v) { return "vector of " + std::to_string(v.size()) + " bytes"; }
std::string describe(const CopyOnMove& e) {
  return "CopyOnMove{" + std::to_string(e.name.size()) + "-byte name, " + std::to_string(e.number) + "}";
}
std::string describe(const Event& e) {
  return "Event{" + std::to_string(e.name.size()) + "-byte name, " + std::to_string(e.number) + "}";
}

// A log in the state a scenario wants, with the calls a snapshot needs.
template <class T>
struct PlainTarget {
  using value_type = T;
  std::unique_ptr<memlog::Log<T>> log;

  explicit PlainTarget(const memlog::Options& options) : log(std::make_unique<memlog::Log<T>>(options)) {}
  [[nodiscard]] OffsetRange range() const { return log->range(); }
  [[nodiscard]] memlog::Result<memlog::Record<T>> read(Offset offset) const { return log->read(offset); }
  [[nodiscard]] memlog::Result<Offset> prefill(T data) { return log->write(std::move(data)); }
};

// One key of a sharded log (4 shards; the key's shard is what is checked).
struct ShardedTarget {
  using value_type = std::string;
  static constexpr std::string_view key = "users";
  std::unique_ptr<memlog::sharded::Log<std::string>> log;

  explicit ShardedTarget(const memlog::Options& options)
      : log(std::make_unique<memlog::sharded::Log<std::string>>(memlog::sharded::Options{.shards = 4, .log = options})) {}
  [[nodiscard]] OffsetRange range() const {
    const auto r = log->range(key);
    REQUIRE(r.has_value());
    return *r;
  }
  [[nodiscard]] memlog::Result<memlog::Record<std::string>> read(Offset offset) const { return log->read(key, offset); }
  [[nodiscard]] memlog::Result<Offset> prefill(std::string data) { return log->write(key, std::move(data)); }
};

template <class T>
struct Snapshot {
  OffsetRange range;
  std::vector<memlog::Record<T>> records;  // earliest .. latest
};

// Taken with the injector disarmed.
template <class Target>
Snapshot<typename Target::value_type> snapshot(const Target& target) {
  Snapshot<typename Target::value_type> s;
  s.range = target.range();
  if (s.range == OffsetRange{}) return s;
  for (Offset offset = s.range.earliest; offset <= s.range.latest; ++offset) {
    auto record = target.read(offset);
    REQUIRE(record.has_value());
    s.records.push_back(std::move(*record));
  }
  return s;
}

// "" when equal, else the first difference.
template <class T>
std::string difference(const Snapshot<T>& want, const Snapshot<T>& got) {
  std::ostringstream out;
  if (want.range != got.range) {
    out << "range {" << want.range.earliest << ", " << want.range.latest << "} became {" << got.range.earliest << ", "
        << got.range.latest << "}";
    return out.str();
  }
  if (want.records.size() != got.records.size()) {
    out << want.records.size() << " records became " << got.records.size();
    return out.str();
  }
  for (std::size_t i = 0; i < want.records.size(); ++i) {
    if (!(want.records[i] == got.records[i])) {
      const auto& w = want.records[i];
      const auto& g = got.records[i];
      out << "record at offset " << want.range.earliest + static_cast<Offset>(i) << " changed: header {"
          << w.metadata.offset << ", " << w.metadata.created.time_since_epoch().count() << "} "
          << describe(w.data) << " became header {" << g.metadata.offset << ", "
          << g.metadata.created.time_since_epoch().count() << "} " << describe(g.data)
          << (w.data == g.data ? " (same data)" : " (different data)");
      return out.str();
    }
  }
  return {};
}

// After a successful write of `payload` at `offset` onto the state `before`:
// "" when the log holds exactly what it should, else what is wrong.
// With the test clock, the new record must carry the last stamp it gave.
template <class Target, class T>
std::string check_after(const Target& target, const Snapshot<T>& before, Offset offset, const T& payload,
                        OffsetRange want_range, bool test_clock_stamps) {
  const auto after = snapshot(target);
  std::ostringstream out;
  if (after.range != want_range || after.range.latest != offset) {
    out << "range {" << after.range.earliest << ", " << after.range.latest << "}, want {" << want_range.earliest << ", "
        << want_range.latest << "} ending at " << offset;
    return out.str();
  }
  for (std::size_t i = 0; i < after.records.size(); ++i) {
    const Offset at = after.range.earliest + static_cast<Offset>(i);
    const auto& record = after.records[i];
    if (record.metadata.offset != at) {
      out << "record " << at << " has header offset " << record.metadata.offset;
      return out.str();
    }
    if (at == offset) {
      if (!(record.data == payload)) out << "the new record is a " << describe(record.data) << ", want " << describe(payload);
      if (test_clock_stamps && record.metadata.created != stamp(clock_ticks)) {
        out << "the new record is stamped tick "
            << std::chrono::duration_cast<std::chrono::microseconds>(record.metadata.created - stamp(0)).count()
            << ", want the write's own stamp, tick " << clock_ticks;
      }
    } else if (before.range == OffsetRange{} || at < before.range.earliest || at > before.range.latest) {
      out << "record " << at << " was not there before";
    } else if (!(record == before.records[static_cast<std::size_t>(at - before.range.earliest)])) {
      out << "retained record " << at << " changed";
    }
    if (!out.str().empty()) return out.str();
  }
  return {};
}

// ---------------------------------------------------------------------------
// Scenarios.

struct Spec {
  std::string name;
  memlog::Options options;
  std::vector<std::size_t> prefill;  // sizes of the records written first, in order
  std::size_t payload = 0;           // size of the record under test
  bool allocates = false;            // the write must allocate at least once
};

struct Totals {
  long scenarios = 0;
  long attempts = 0;  // writes made with the injector armed (N values)
  long injected = 0;  // of which failed with the injected bad_alloc
  long most = 0;      // the most allocations one write made
};

// Deterministic clock unless `default_clock` (the TSC-based wall clock).
memlog::Options options(std::size_t segment, Offset start = 0, bool default_clock = false) {
  memlog::Options o;
  o.start_offset = start;
  o.max_segment_size = segment;
  o.max_record_size = max_record;
  if (!default_clock) o.clock = &test_clock;
  return o;
}

std::vector<std::size_t> sizes(std::size_t count, std::size_t size) { return std::vector<std::size_t>(count, size); }

// Records that fill `bytes` positions of a byte segment exactly: 1000-byte
// records and a remainder, summing to exactly 64 KiB per chunk, so nothing
// is skipped at a chunk boundary and the next record starts at `bytes`.
std::vector<std::size_t> packed(std::uint64_t bytes) {
  std::vector<std::size_t> out;
  while (bytes > 0) {
    std::uint64_t in_chunk = std::min<std::uint64_t>(bytes, chunk_size);
    bytes -= in_chunk;
    while (in_chunk > 0) {
      const std::uint64_t size = std::min<std::uint64_t>(in_chunk, 1000);
      out.push_back(static_cast<std::size_t>(size));
      in_chunk -= size;
    }
  }
  return out;
}

// Records that fill the first `chunks` chunks of a fresh byte segment
// exactly: the chunks are 256 bytes, then each twice the one before up to
// 64 KiB, each in a slot of its own; records of up to 1000 bytes.
std::vector<std::size_t> filled(std::size_t chunks) {
  std::vector<std::size_t> out;
  std::size_t capacity = 256;
  for (std::size_t k = 0; k < chunks; ++k) {
    for (std::size_t left = capacity; left > 0;) {
      const std::size_t size = std::min<std::size_t>(left, 1000);
      out.push_back(size);
      left -= size;
    }
    capacity = std::min(chunk_size, 2 * capacity);
  }
  return out;
}

std::vector<std::size_t> concat(std::vector<std::size_t> a, const std::vector<std::size_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Rotations: the k-th rotation with each segment size (k = 1: the history is
// still empty; k >= 2: the history is purged and its storage reused).
void add_rotations(std::vector<Spec>& specs, std::size_t payload, std::size_t record) {
  for (const std::size_t segment : {std::size_t{1}, std::size_t{3}, std::size_t{1000}}) {
    for (const std::size_t k : {std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
      specs.push_back({"rotation #" + std::to_string(k) + ", max_segment_size " + std::to_string(segment), options(segment),
                       sizes(k * segment, record), payload, k == 1});
    }
  }
}

// Byte sequences, a record of `p` bytes (p <= 1000).
std::vector<Spec> byte_specs(std::size_t p) {
  std::vector<Spec> s;
  s.push_back({"the very first write", options(1024), {}, p, true});
  s.push_back({"the very first write, start_offset 42", options(1024, 42), {}, p, true});
  s.push_back({"the very first write, default clock", options(1024, 0, true), {}, p, true});
  s.push_back({"17th record, default clock", options(1024, 0, true), sizes(16, 10), p, true});
  s.push_back({"rotation #1, max_segment_size 3, default clock", options(3, 0, true), sizes(3, 10), p, true});
  s.push_back({"does not fit in the rest of the first chunk (256 bytes): a chunk in the next slot", options(1024),
               {200}, p, true});
  s.push_back({"the first chunk (256 bytes) is full: a chunk in the next slot", options(1024), filled(1), p, true});
  s.push_back({"the small chunks (256 B .. 32 KiB) are full: the first 64 KiB chunk", options(4096), filled(8), p, true});
  s.push_back({"starts a new (second) 64 KiB chunk", options(4096), filled(9), p, true});
  s.push_back({"starts a third 64 KiB chunk", options(4096), filled(10), p, true});
  s.push_back({"17th chunk slot: the slot table grows", options(4096), filled(16), p, true});
  s.push_back({"follows a record larger than 64 KiB", options(1024), {large_size}, p, true});
  s.push_back({"17th record: per-record arrays 16 -> 32", options(1024), sizes(16, 10), p, true});
  s.push_back({"33rd record: per-record arrays 32 -> 64", options(1024), sizes(32, 5), p, true});
  s.push_back({"17th record, max_segment_size 20: arrays 16 -> 20", options(20), sizes(16, 10), p, true});
  add_rotations(s, p, 10);
  s.push_back({"rotation #2 purging a history of two full chunks", options(100), sizes(200, 1000), p, false});
  s.push_back({"rotation #3 purging a history of two full chunks", options(100), sizes(300, 1000), p, false});
  s.push_back({"rotation #2 purging a large record", options(1), {large_size, 10}, p, true});
  s.push_back({"rotation #2 purging a first chunk grown to 64 KiB", options(40), sizes(80, 1000), p, false});
  s.push_back({"second chunk of a recycled segment (kept chunk)", options(100),
               concat(sizes(200, 1000), packed(chunk_size + 1 - p)), p, false});
  s.push_back({"rotation #2 whose kept chunk (256 bytes) may be too small", options(2), sizes(4, 10), p, p > 256});
  s.push_back({"rotation #3 after a large record and 63 x 4 KiB per segment", options(64),
               concat(concat({large_size}, sizes(63, 4096)), concat({large_size}, sizes(63, 4096))), p, false});
  return s;
}

// Byte sequences, a record larger than 64 KiB.
std::vector<Spec> large_specs() {
  const std::size_t p = large_size;
  std::vector<Spec> s;
  s.push_back({"large: the very first write", options(1024), {}, p, true});
  s.push_back({"large: after small records", options(1024), {10, 10}, p, true});
  s.push_back({"large: after a full first chunk", options(1024), packed(chunk_size), p, true});
  s.push_back({"large: after a large record", options(1024), {large_size}, p, true});
  s.push_back({"large: 17th record", options(1024), sizes(16, 10), p, true});
  s.push_back({"large: rotation #1, max_segment_size 1", options(1), {10}, p, true});
  s.push_back({"large: rotation #2, max_segment_size 1", options(1), {10, 10}, p, true});
  s.push_back({"large: rotation #3, max_segment_size 1", options(1), {10, 10, 10}, p, true});
  s.push_back({"large: rotation #2 purging a large record", options(1), {large_size, large_size}, p, true});
  s.push_back({"large: rotation #2, max_segment_size 3", options(3), sizes(6, 1000), p, true});
  s.push_back({"large: rotation #2 purging two full chunks", options(100), sizes(200, 1000), p, true});
  s.push_back({"large: rotation #3 into a segment that keeps 64 KiB chunks", options(64),
               concat(concat({large_size}, sizes(63, 4096)), concat({large_size}, sizes(63, 4096))), p, true});
  return s;
}

// A non-byte T (Event): names of 30 bytes, the record under test 40.
std::vector<Spec> event_specs() {
  constexpr std::size_t p = 40;
  constexpr std::size_t r = 30;
  std::vector<Spec> s;
  s.push_back({"the very first write", options(1024), {}, p, true});
  s.push_back({"the very first write, start_offset 42", options(1024, 42), {}, p, true});
  s.push_back({"2nd record (within the first 16)", options(1024), sizes(1, r), p, false});
  s.push_back({"17th record, default clock", options(1024, 0, true), sizes(16, r), p, true});
  s.push_back({"17th record: vector 16 -> 32", options(1024), sizes(16, r), p, true});
  s.push_back({"33rd record: vector 32 -> 64", options(1024), sizes(32, r), p, true});
  s.push_back({"17th record, max_segment_size 20: vector 16 -> 20", options(20), sizes(16, r), p, true});
  add_rotations(s, p, r);
  return s;
}

// One scenario: N = 1, 2, ... until the write makes all its allocations.
// `write(target, arg)` is the write under test; `arg` is a copy of `payload`
// made before arming, so that only the log's own allocations are counted.
template <class Target, class Write>
void run(const Spec& spec, const char* path, const typename Target::value_type& payload, Write write, Totals& totals) {
  using T = typename Target::value_type;
  INFO(path << ": " << spec.name << " (prefill " << spec.prefill.size() << " records, then a " << describe(payload)
            << ")");
  const auto build = [&] {
    Target target(spec.options);
    for (std::size_t i = 0; i < spec.prefill.size(); ++i) {
      const auto offset = target.prefill(make<T>(spec.prefill[i], i));
      REQUIRE(offset.has_value());
    }
    return target;
  };

  // The same write without injection: the range it must leave.
  OffsetRange want_range;
  {
    Target reference = build();
    T arg = payload;
    const auto offset = write(reference, arg);
    REQUIRE(offset.has_value());
    want_range = reference.range();
  }

  const bool stamps = static_cast<bool>(spec.options.clock);
  ++totals.scenarios;
  for (long n = 1;; ++n) {
    CAPTURE(n);
    REQUIRE(n < 10000);
    Target target = build();
    const Snapshot<T> before = snapshot(target);
    const Offset want_offset = before.range == OffsetRange{} ? spec.options.start_offset : before.range.latest + 1;

    T arg = payload;
    std::optional<memlog::Result<Offset>> result;
    bool threw = false;
    bool fired = false;
    {
      inject::Armed armed(n);
      try {
        result.emplace(write(target, arg));
      } catch (const std::bad_alloc&) {
        threw = true;
      }
      fired = inject::fired;
    }
    ++totals.attempts;

    if (threw) {
      ++totals.injected;
      REQUIRE(fired);  // the bad_alloc is the injected one
      // Strong guarantee: the log is as it was.
      CHECK(difference(before, snapshot(target)) == "");
      // And it still works: the next write gets the offset the failed one would have had.
      T again = payload;
      const auto offset = write(target, again);
      REQUIRE(offset.has_value());
      CHECK(*offset == want_offset);
      CHECK(check_after(target, before, want_offset, payload, want_range, stamps) == "");
      continue;
    }

    // Read out of the optional before the assertion: GCC 12 with Catch2 v3
    // warns (maybe-uninitialized) when the optional itself is decomposed.
    REQUIRE(result.has_value());
    const memlog::Result<Offset> written = *result;
    REQUIRE(written.has_value());
    CHECK(written.value() == want_offset);
    CHECK(check_after(target, before, want_offset, payload, want_range, stamps) == "");
    if (!fired) {
      // Every allocation this write makes (n - 1 of them) has failed once.
      if (spec.allocates) CHECK(n > 1);
      totals.most = std::max(totals.most, n - 1);
      break;
    }
    // The injected failure was absorbed (a nothrow allocation that fell back): go on.
  }
}

void report(const char* what, const Totals& totals) {
  WARN(what << ": " << totals.scenarios << " scenarios, " << totals.attempts << " writes with the injector armed ("
            << totals.injected << " failed with the injected bad_alloc), at most " << totals.most
            << " allocations in one write");
}

// write(T), by value (the argument is moved in).
constexpr auto by_value = [](auto& target, auto& arg) { return target.log->write(std::move(arg)); };

}  // namespace

TEST_CASE("Log<std::string>::write(std::string) keeps the log unchanged when an allocation fails", "[alloc]") {
  Totals totals;
  for (const std::size_t p : {std::size_t{100}, std::size_t{1000}}) {
    for (const Spec& spec : byte_specs(p)) {
      run<PlainTarget<std::string>>(spec, "write(std::string)", make<std::string>(p, 999), by_value, totals);
    }
  }
  for (const Spec& spec : large_specs()) {
    run<PlainTarget<std::string>>(spec, "write(std::string)", make<std::string>(spec.payload, 999), by_value, totals);
  }
  report("write(std::string)", totals);
}

TEST_CASE("Log<std::string>::write(std::string_view) keeps the log unchanged when an allocation fails", "[alloc]") {
  const auto by_view = [](PlainTarget<std::string>& target, std::string& arg) {
    return target.log->write(std::string_view(arg));
  };
  Totals totals;
  for (const std::size_t p : {std::size_t{100}, std::size_t{1000}}) {
    for (const Spec& spec : byte_specs(p)) {
      run<PlainTarget<std::string>>(spec, "write(std::string_view)", make<std::string>(p, 999), by_view, totals);
    }
  }
  for (const Spec& spec : large_specs()) {
    run<PlainTarget<std::string>>(spec, "write(std::string_view)", make<std::string>(spec.payload, 999), by_view,
                                  totals);
  }
  report("write(std::string_view)", totals);
}

TEST_CASE("Log<std::string>::write(\"literal\") keeps the log unchanged when an allocation fails", "[alloc]") {
  const auto by_literal = [](PlainTarget<std::string>& target, std::string&) { return target.log->write(literal); };
  Totals totals;
  for (const Spec& spec : byte_specs(literal_size)) {
    run<PlainTarget<std::string>>(spec, "write(\"literal\")", std::string(literal), by_literal, totals);
  }
  report("write(\"literal\")", totals);
}

TEST_CASE("Log<std::vector<std::byte>>::write keeps the log unchanged when an allocation fails", "[alloc]") {
  using Bytes = std::vector<std::byte>;
  const auto by_span = [](PlainTarget<Bytes>& target, Bytes& arg) {
    return target.log->write(std::span<const std::byte>(arg));
  };
  Totals totals;
  for (const std::size_t p : {std::size_t{100}, std::size_t{1000}}) {
    for (const Spec& spec : byte_specs(p)) {
      run<PlainTarget<Bytes>>(spec, "write(std::vector<std::byte>)", make<Bytes>(p, 999), by_value, totals);
      run<PlainTarget<Bytes>>(spec, "write(std::span<const std::byte>)", make<Bytes>(p, 999), by_span, totals);
    }
  }
  for (const Spec& spec : large_specs()) {
    run<PlainTarget<Bytes>>(spec, "write(std::vector<std::byte>)", make<Bytes>(spec.payload, 999), by_value, totals);
    run<PlainTarget<Bytes>>(spec, "write(std::span<const std::byte>)", make<Bytes>(spec.payload, 999), by_span, totals);
  }
  report("Log<std::vector<std::byte>>", totals);
}

TEST_CASE("Log<Event>::write (a non-byte T) keeps the log unchanged when an allocation fails", "[alloc]") {
  static_assert(std::is_same_v<memlog::detail::segment_for_t<Event>, memlog::detail::Segment<Event>>);
  Totals totals;
  for (const Spec& spec : event_specs()) {
    run<PlainTarget<Event>>(spec, "write(Event)", make<Event>(spec.payload, 999), by_value, totals);
  }
  report("Log<Event>", totals);
}

TEST_CASE("Log<T>::write for a T whose move may throw keeps the log unchanged when an allocation fails",
          "[alloc]") {
  static_assert(std::is_same_v<memlog::detail::segment_for_t<CopyOnMove>, memlog::detail::Segment<CopyOnMove>>);
  Totals totals;
  for (const Spec& spec : event_specs()) {
    run<PlainTarget<CopyOnMove>>(spec, "write(CopyOnMove)", make<CopyOnMove>(spec.payload, 999), by_value, totals);
  }
  report("Log<CopyOnMove>", totals);
}

TEST_CASE("sharded::Log<std::string>::write keeps the shard unchanged when an allocation fails", "[alloc]") {
  const auto sharded_value = [](ShardedTarget& target, std::string& arg) {
    return target.log->write(ShardedTarget::key, std::move(arg));
  };
  const auto sharded_view = [](ShardedTarget& target, std::string& arg) {
    return target.log->write(ShardedTarget::key, std::string_view(arg));
  };
  const std::vector<Spec> specs = {
      {"the very first write", options(3), {}, 100, true},
      {"grows the first chunk 256 -> 512", options(3), {200}, 100, true},
      {"rotation #1, max_segment_size 3", options(3), sizes(3, 10), 100, true},
      {"rotation #2, max_segment_size 3", options(3), sizes(6, 10), 100, false},
  };
  Totals totals;
  for (const Spec& spec : specs) {
    run<ShardedTarget>(spec, "sharded write(key, std::string)", make<std::string>(100, 999), sharded_value, totals);
    run<ShardedTarget>(spec, "sharded write(key, std::string_view)", make<std::string>(100, 999), sharded_view, totals);
  }
  report("sharded::Log<std::string>", totals);
}

TEST_CASE("the injector fails the Nth allocation and only while armed", "[alloc]") {
  {
    inject::Armed armed(2);
    auto first = std::make_unique<int>(1);
    CHECK_THROWS_AS(std::make_unique<int>(2), std::bad_alloc);
    CHECK(inject::fired);
    auto third = std::make_unique<int>(3);  // only the Nth fails
    CHECK(*first + *third == 4);
  }
  {
    inject::Armed armed(1);
    CHECK(::operator new(8, std::nothrow) == nullptr);
    void* aligned = nullptr;
    inject::countdown = 1;
    CHECK_THROWS_AS(aligned = ::operator new(64, std::align_val_t{64}), std::bad_alloc);
    CHECK(aligned == nullptr);
  }
  void* aligned = ::operator new(100, std::align_val_t{64});
  CHECK(reinterpret_cast<std::uintptr_t>(aligned) % 64 == 0);
  ::operator delete(aligned, std::align_val_t{64});
  CHECK(std::vector<int>(1000, 7).size() == 1000);  // disarmed: nothing fails
}

// ---------------------------------------------------------------------------
// The segments themselves, below the Log: the strong guarantee of push() and
// reset_and_push() on each write path of their stable storage, and no
// allocation per rotation at steady state (issue 12, item 8).

namespace {

using memlog::detail::ByteSegment;
using memlog::detail::Segment;

// Allocations made by `f` on this thread, and their bytes.
struct Allocations {
  long count = 0;
  std::size_t bytes = 0;
};
template <class F>
Allocations count_allocations(F&& f) {
  const long count = inject::allocations;
  const std::size_t bytes = inject::allocated_bytes;
  f();
  return {inject::allocations - count, inject::allocated_bytes - bytes};
}

// Two segments rotated as a Log rotates them: a full active segment makes
// the history reset_and_push() the record, then the two swap.
template <class Seg>
struct SegmentPair {
  std::size_t limit;
  Seg active;
  Seg history;
  bool rotated = false;
  Offset next;

  explicit SegmentPair(std::size_t segment, Offset start = 0)
      : limit(segment), active(start), history(start), next(start) {}

  template <class Item>
  void write(Item&& item) {
    const auto created = stamp(next);
    if (active.size() < limit) {
      active.push(created, std::forward<Item>(item), limit);
    } else {
      history.reset_and_push(next, created, std::forward<Item>(item), limit);
      using std::swap;
      swap(active, history);
      rotated = true;
    }
    ++next;
  }

  [[nodiscard]] Offset earliest() const { return rotated ? history.start() : active.start(); }
  [[nodiscard]] const Seg& holding(Offset offset) const { return offset >= active.start() ? active : history; }
};

std::string content(const ByteSegment<std::string>& seg, Offset offset) {
  return std::string(seg.data(offset)) + " @" + std::to_string(seg.created(offset).time_since_epoch().count());
}
std::string content(const Segment<CopyOnMove>& seg, Offset offset) {
  const auto& r = seg.at(offset);
  return r.data.name + " #" + std::to_string(r.data.number) + " @" + std::to_string(r.metadata.offset) + " @" +
         std::to_string(r.metadata.created.time_since_epoch().count());
}

template <class Seg>
struct SegmentSnapshot {
  Offset earliest = 0;
  Offset next = 0;
  std::vector<std::string> records;
  friend bool operator==(const SegmentSnapshot&, const SegmentSnapshot&) = default;
};

template <class Seg>
SegmentSnapshot<Seg> snapshot(const SegmentPair<Seg>& pair) {
  SegmentSnapshot<Seg> s{pair.earliest(), pair.next, {}};
  for (Offset o = s.earliest; o < s.next; ++o) s.records.push_back(content(pair.holding(o), o));
  return s;
}

struct SegmentSpec {
  std::string name;
  std::size_t limit = 0;
  std::vector<std::size_t> prefill;
  std::size_t payload = 0;
  bool allocates = false;
};

// As run() above, on a SegmentPair: N = 1, 2, ... until the write makes all
// its allocations. `make(size, seed)` builds a record (disarmed); `write(pair,
// value)` writes it.
template <class Seg, class Make, class Write>
void run_segment(const SegmentSpec& spec, const char* what, Make make, Write write, Totals& totals) {
  INFO(what << ": " << spec.name << " (max_segment_size " << spec.limit << ", prefill " << spec.prefill.size()
            << " records, then " << spec.payload << " bytes)");
  const auto build = [&] {
    auto pair = std::make_unique<SegmentPair<Seg>>(spec.limit);
    for (std::size_t i = 0; i < spec.prefill.size(); ++i) {
      auto value = make(spec.prefill[i], i);
      write(*pair, value);
    }
    return pair;
  };
  ++totals.scenarios;
  for (long n = 1;; ++n) {
    CAPTURE(n);
    REQUIRE(n < 10000);
    auto pair = build();
    const auto before = snapshot(*pair);
    auto arg = make(spec.payload, 999);
    bool threw = false;
    bool fired = false;
    {
      inject::Armed armed(n);
      try {
        write(*pair, arg);
      } catch (const std::bad_alloc&) {
        threw = true;
      }
      fired = inject::fired;
    }
    ++totals.attempts;
    if (threw) {
      ++totals.injected;
      REQUIRE(fired);
      CHECK(snapshot(*pair) == before);  // strong guarantee
      auto again = make(spec.payload, 999);
      write(*pair, again);  // and it still works
    }
    // The new record is there, at the next offset, and every retained older
    // record is as it was.
    const auto after = snapshot(*pair);
    REQUIRE(after.next == before.next + 1);
    REQUIRE(after.earliest >= before.earliest);
    for (Offset o = after.earliest; o < before.next; ++o) {
      CHECK(after.records[static_cast<std::size_t>(o - after.earliest)] ==
            before.records[static_cast<std::size_t>(o - before.earliest)]);
    }
    {
      SegmentPair<Seg> reference(1, before.next);
      auto value = make(spec.payload, 999);
      write(reference, value);
      CHECK(after.records.back() == content(reference.active, before.next));
    }
    if (threw) continue;
    if (!fired) {
      if (spec.allocates) CHECK(n > 1);
      totals.most = std::max(totals.most, n - 1);
      break;
    }
  }
}

std::vector<SegmentSpec> byte_segment_specs() {
  const std::size_t big = 200 * 1024;
  const auto item8 = concat({big}, sizes(63, 4096));
  std::vector<SegmentSpec> s;
  s.push_back({"the very first write", 64, {}, 100, true});
  s.push_back({"the first chunk (256 bytes) is full: a 512-byte chunk in the next slot", 64, {200, 56}, 300, true});
  s.push_back({"17th record: the entries' second block", 64, sizes(16, 10), 10, true});
  s.push_back({"17th chunk slot: the slot table's second block", 4096, filled(16), 100, true});
  s.push_back({"a record larger than a chunk", 64, {10}, big, true});
  s.push_back({"rotation #1: the empty history's first write", 3, sizes(3, 10), 100, true});
  s.push_back({"rotation #2: the kept 256-byte chunk fits", 2, sizes(4, 10), 100, false});
  s.push_back({"rotation #2: the kept 256-byte chunk is too small", 2, sizes(4, 10), 1000, true});
  s.push_back({"rotation #3: a record larger than a chunk into kept 64 KiB chunks", 64, concat(item8, item8), big, true});
  s.push_back({"rotation #3: a small record into kept chunks", 64, concat(item8, item8), 4096, false});
  s.push_back({"after a large record in a recycled segment: a kept chunk", 64, concat(concat(item8, item8), {big}), 4096,
               false});
  return s;
}

std::vector<SegmentSpec> copy_on_move_specs() {
  std::vector<SegmentSpec> s;
  s.push_back({"the very first write", 64, {}, 40, true});
  s.push_back({"2nd record", 64, sizes(1, 30), 40, true});
  s.push_back({"17th record: the second block", 64, sizes(16, 30), 40, true});
  s.push_back({"rotation #1: the empty history's first write (table, block, spare block)", 3, sizes(3, 30), 40, true});
  s.push_back({"rotation #2: a spare block to build in", 3, sizes(6, 30), 40, true});
  s.push_back({"rotation #3: the spare block is kept", 3, sizes(9, 30), 40, true});
  s.push_back({"rotation #4, max_segment_size 64", 64, sizes(256, 30), 40, true});
  return s;
}

}  // namespace

TEST_CASE("ByteSegment push and reset_and_push keep the segments unchanged when an allocation fails",
          "[alloc][segment]") {
  const auto make = [](std::size_t size, std::size_t seed) { return ::make<std::string>(size, seed); };
  const auto write = [](SegmentPair<ByteSegment<std::string>>& pair, const std::string& value) {
    pair.write(std::string_view(value));
  };
  Totals totals;
  for (const SegmentSpec& spec : byte_segment_specs()) {
    run_segment<ByteSegment<std::string>>(spec, "ByteSegment<std::string>", make, write, totals);
  }
  report("ByteSegment<std::string>", totals);
}

TEST_CASE("Segment<T> push and reset_and_push keep the segments unchanged when an allocation or T's move throws",
          "[alloc][segment]") {
  const auto make = [](std::size_t size, std::size_t seed) { return ::make<CopyOnMove>(size, seed); };
  const auto write = [](SegmentPair<Segment<CopyOnMove>>& pair, CopyOnMove& value) {
    pair.write(std::move(value));  // its move copies: `value` stays intact for a retry
  };
  Totals totals;
  for (const SegmentSpec& spec : copy_on_move_specs()) {
    run_segment<Segment<CopyOnMove>>(spec, "Segment<CopyOnMove>", make, write, totals);
  }
  report("Segment<CopyOnMove>", totals);
}

namespace {

// A T whose move may throw (it never does) and never allocates.
struct MayThrowMove {
  int value = 0;
  MayThrowMove() = default;
  explicit MayThrowMove(int v) : value(v) {}
  MayThrowMove(const MayThrowMove&) = default;
  MayThrowMove(MayThrowMove&& other) noexcept(false) : value(other.value) {}
  MayThrowMove& operator=(const MayThrowMove&) = default;
  MayThrowMove& operator=(MayThrowMove&&) = default;
  ~MayThrowMove() = default;
};
static_assert(!std::is_nothrow_move_constructible_v<MayThrowMove>);

// Mixed record sizes for one segment's life: mostly small, some around a
// chunk's end, a few larger than a chunk.
std::vector<std::size_t> mixed_sizes(std::size_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < count; ++i) {
    const auto pick = rng() % 100;
    out.push_back(pick < 60   ? 1 + rng() % 300
                  : pick < 75 ? 1 + rng() % 5000
                  : pick < 92 ? chunk_size - 3 + rng() % 7
                              : chunk_size + 1 + rng() % (2 * chunk_size));
  }
  return out;
}

}  // namespace

TEST_CASE("a recycled byte segment keeps its chunks when a record larger than a chunk comes first",
          "[alloc][reuse]") {
  // Issue 12, item 8: each segment holds a 200 KiB record, then 63 x 4 KiB.
  SegmentPair<ByteSegment<std::string>> pair(64);
  const std::string big = make<std::string>(200 * 1024, 1);
  const std::string small = make<std::string>(4096, 2);
  const auto life = [&] {
    pair.write(std::string_view(big));
    for (int i = 0; i < 63; ++i) pair.write(std::string_view(small));
  };
  for (int i = 0; i < 4; ++i) life();  // each segment has been recycled
  constexpr int lives = 10;
  const Allocations a = count_allocations([&] {
    for (int i = 0; i < lives; ++i) life();
  });
  WARN("per segment: " << static_cast<double>(a.count) / lives << " allocations, "
                       << static_cast<double>(a.bytes) / lives / 1024 << " KiB");
  CHECK(a.count == lives);  // the large record's own allocation, nothing else
  CHECK(a.bytes >= lives * big.size());
  CHECK(a.bytes <= lives * (big.size() + 64));
  CHECK(std::string(pair.active.data(pair.active.start())) == big);
  CHECK(std::string(pair.active.data(pair.next - 1)) == small);
}

TEMPLATE_TEST_CASE("at steady state a byte segment's rotation allocates only for records larger than a chunk",
                   "[alloc][reuse]", std::string, std::vector<std::byte>) {
  constexpr std::size_t segment = 100;
  const std::vector<std::size_t> sizes = mixed_sizes(segment, 12);
  const auto large = static_cast<long>(std::count_if(sizes.begin(), sizes.end(), [](std::size_t n) { return n > chunk_size; }));
  REQUIRE(large > 0);
  std::vector<TestType> values;
  for (std::size_t i = 0; i < sizes.size(); ++i) values.push_back(make<TestType>(sizes[i], i));
  SegmentPair<ByteSegment<TestType>> pair(segment);
  const auto life = [&] {
    for (const TestType& v : values) pair.write(memlog::detail::ByteTraits<TestType>::view_of(v));
  };
  for (int i = 0; i < 4; ++i) life();
  constexpr int lives = 10;
  const Allocations a = count_allocations([&] {
    for (int i = 0; i < lives; ++i) life();
  });
  CHECK(a.count == lives * large);
  for (Offset o = pair.earliest(); o < pair.next; ++o) {
    const auto bytes = pair.holding(o).data(o);
    REQUIRE(std::equal(bytes.begin(), bytes.end(), values[static_cast<std::size_t>(o) % segment].begin(),
                       values[static_cast<std::size_t>(o) % segment].end()));
  }
}

TEST_CASE("at steady state a Segment<T> rotation allocates nothing, also when T's move may throw", "[alloc][reuse]") {
  constexpr std::size_t segment = 64;
  constexpr int lives = 10;
  SECTION("a T whose move may throw: the new record is built in a kept spare block") {
    SegmentPair<Segment<MayThrowMove>> pair(segment);
    const auto life = [&] {
      for (std::size_t i = 0; i < segment; ++i) pair.write(MayThrowMove(static_cast<int>(pair.next)));
    };
    for (int i = 0; i < 4; ++i) life();
    const Allocations a = count_allocations([&] {
      for (int i = 0; i < lives; ++i) life();
    });
    CHECK(a.count == 0);
    for (Offset o = pair.earliest(); o < pair.next; ++o) REQUIRE(pair.holding(o).at(o).data.value == o);
  }
  SECTION("a T whose move does not throw") {
    SegmentPair<Segment<std::string>> pair(segment);
    std::vector<std::string> values;
    for (int i = 0; i < lives * static_cast<int>(segment); ++i) values.push_back(make<std::string>(100, static_cast<std::size_t>(i)));
    std::vector<std::string> warm = values;
    for (std::string& v : warm) pair.write(std::move(v));
    const Allocations a = count_allocations([&] {
      for (std::string& v : values) pair.write(std::move(v));  // moving a string allocates nothing
    });
    CHECK(a.count == 0);
  }
}

TEST_CASE("Log: at steady state a rotation allocates only for records larger than a chunk", "[alloc][reuse]") {
  constexpr int lives = 10;
  SECTION("Log<std::string>: a 200 KiB record, then 63 x 4 KiB per segment") {
    memlog::Log<std::string> log(options(64));
    const std::string big = make<std::string>(200 * 1024, 1);
    const std::string small = make<std::string>(4096, 2);
    const auto life = [&] {
      REQUIRE(log.write(std::string_view(big)).has_value());
      for (int i = 0; i < 63; ++i) REQUIRE(log.write(std::string_view(small)).has_value());
    };
    for (int i = 0; i < 4; ++i) life();
    const Allocations a = count_allocations([&] {
      for (int i = 0; i < lives; ++i) life();
    });
    WARN("Log<std::string> per segment: " << static_cast<double>(a.count) / lives << " allocations, "
                                          << static_cast<double>(a.bytes) / lives / 1024 << " KiB");
    CHECK(a.count == lives);
    CHECK(a.bytes <= lives * (big.size() + 64));
  }
  SECTION("Log<T> for a T whose move may throw") {
    memlog::Log<MayThrowMove> log(options(64));
    const auto life = [&] {
      for (int i = 0; i < 64; ++i) REQUIRE(log.write(MayThrowMove(i)).has_value());
    };
    for (int i = 0; i < 4; ++i) life();
    const Allocations a = count_allocations([&] {
      for (int i = 0; i < lives; ++i) life();
    });
    CHECK(a.count == 0);
  }
}
