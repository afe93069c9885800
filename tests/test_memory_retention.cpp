// Retention by bytes bounds the heap (issue 13): with max_segment_bytes =
// 64 MiB, writing 1 GiB as 2048 records of 512 KiB never has more than two
// segments' worth of records (plus the one being written) live.
//
// The heap is counted by support/heap_counter.hpp (this program's operator
// new and delete; the bytes asked for are what is checked). Not built under
// ThreadSanitizer, whose runtime defines operator new itself.

#include "support/catch.hpp"
#include "support/heap_counter.hpp"

#include <memlog/memlog.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace heap = memlog_test::heap;  // support/heap_counter.hpp


namespace {

using Log = memlog::Log<std::string>;

constexpr std::size_t mib = std::size_t{1} << 20;
constexpr std::size_t record_bytes = std::size_t{512} << 10;

struct Run {
  std::size_t peak = 0;  // the most bytes live at any moment, the caller's record included
  std::size_t left = 0;  // bytes still live once the log and the record are gone
  int failures = 0;      // writes that failed
  memlog::Stats stats;   // at the end
};

// Writes `writes` copies of one 512 KiB std::string the caller keeps into a
// fresh log with `options`.
Run write_large_records(memlog::Options options, int writes) {
  Run run;
  const heap::Measurement heap;  // nothing but the log and the record allocates meanwhile
  {
    const std::string record(record_bytes, 'x');
    Log log(std::move(options));
    for (int i = 0; i < writes; ++i) run.failures += log.write(record) ? 0 : 1;
    run.stats = log.stats();
  }
  run.peak = static_cast<std::size_t>(heap.peak().requested);
  run.left = static_cast<std::size_t>(heap.live().requested);
  return run;
}

}  // namespace

TEST_CASE("max_segment_bytes of 64 MiB keeps the heap of 1 GiB of 512 KiB records under 136 MiB",
          "[memory][retention]") {
  const Run run = write_large_records({.max_segment_bytes = 64 * mib}, 2048);
  INFO("peak heap: " << run.peak << " bytes (" << static_cast<double>(run.peak) / mib << " MiB)");
  CHECK(run.failures == 0);
  CHECK(run.left == 0);
  // 128 records fill a segment, so 2048 writes end on a full active segment
  // and a full history: 256 records, 128 MiB of payload.
  CHECK(run.stats.written == 2048);
  CHECK(run.stats.records == 256);
  CHECK(run.stats.bytes == 128 * mib);
  // At most two full segments, the record being written and the caller's
  // own: about 129 MiB. The bound is generous; the lower one (the payload of
  // the 256 records held at the end) shows that the count sees them.
  CHECK(run.peak < 136 * mib);
  CHECK(run.peak >= 256 * record_bytes);
}

TEST_CASE("Without max_segment_bytes the same records pile up past that bound (the count sees them)",
          "[memory][retention]") {
  // The default max_segment_size (1024) retains every one of 300 records.
  const Run run = write_large_records({}, 300);
  INFO("peak heap: " << run.peak << " bytes");
  CHECK(run.failures == 0);
  CHECK(run.stats.records == 300);
  CHECK(run.peak > 136 * mib);
  CHECK(run.peak >= 300 * record_bytes);
}
