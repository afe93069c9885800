// Tests of byte-sequence logs (Log<std::string>, Log<std::vector<std::byte>>,
// ...): records packed in per-segment chunks (detail/byte_segment.hpp), the
// write(bytes) overload, and the RecordView of the zero-copy read. The
// default clock has tests of its own (test_clock.cpp).

#include "support/catch.hpp"

#include <memlog/memlog.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory_resource>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

using memlog::Errc;
using memlog::Offset;

namespace {

using StrLog = memlog::Log<std::string>;
using StrRecord = memlog::Record<std::string>;

constexpr std::size_t chunk = memlog::detail::ByteSegment<std::string>::chunk_size;

// A payload of `size` bytes that differs with `seed`, so a record read from
// the wrong place or with the wrong length is caught.
std::string payload(std::size_t size, std::uint32_t seed) {
  std::string s(size, '\0');
  std::uint32_t x = seed * 2654435761u + 1u;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>('a' + x % 26);
  }
  return s;
}

// Checks every retained record of `log` against `model` (the records from
// `first` on, in order) through read(), read_batch() and the zero-copy read.
void check_retained(const StrLog& log, const std::deque<std::string>& model, Offset first) {
  const auto [earliest, latest] = log.range();
  REQUIRE(latest == first + static_cast<Offset>(model.size()) - 1);
  std::vector<StrRecord> batch(7);
  for (Offset o = earliest; o <= latest; ++o) {
    const std::string& want = model[static_cast<std::size_t>(o - first)];
    INFO("offset " << o << " of " << earliest << ".." << latest << ", " << want.size() << " bytes");
    const auto r = log.read(o);
    REQUIRE(r.has_value());
    CHECK(r->metadata.offset == o);
    CHECK(r->data == want);
    const auto same = log.read(o, [&](const StrLog::view_type& v) { return v.metadata.offset == o && v.data == want; });
    CHECK(same.value());
  }
  for (Offset o = earliest; o <= latest; o += 5) {
    const auto b = log.read_batch(o, batch);
    for (std::size_t i = 0; i < b.count; ++i) {
      CHECK(batch[i].metadata.offset == o + static_cast<Offset>(i));
      CHECK(batch[i].data == model[static_cast<std::size_t>(o - first) + i]);
    }
  }
}

template <class L>
concept writes_literal = requires(L& log) { log.write("abc"); };

}  // namespace

TEST_CASE("byte logs: records of every size round-trip across chunks and rotations", "[bytes]") {
  // Sizes around the first chunk's doublings, a chunk's end, and large records.
  const std::vector<std::size_t> sizes = {1,         255,       256,       257,   511,   4096,  chunk - 1,
                                          chunk,     chunk + 1, 3 * chunk, 33,    1,     chunk / 2 + 1,
                                          chunk / 2, 200'000,   7,         chunk, 65'000};
  for (const std::size_t segment : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, std::size_t{50}}) {
    DYNAMIC_SECTION("segment size " << segment) {
      StrLog log({.max_segment_size = segment, .max_record_size = 4 * chunk});
      std::deque<std::string> model;
      Offset first = 0;
      for (std::uint32_t i = 0; i < 3 * sizes.size(); ++i) {
        std::string data = payload(sizes[i % sizes.size()], i);
        REQUIRE(log.write(std::string_view(data)).value() == static_cast<Offset>(i));
        model.push_back(std::move(data));
        const auto [earliest, latest] = log.range();
        while (first < earliest) {
          model.pop_front();
          ++first;
        }
        check_retained(log, model, first);
      }
    }
  }
}

TEST_CASE("byte logs: random sizes against a model, with constant purging", "[bytes]") {
  std::mt19937 rng(20261125);
  for (int round = 0; round < 6; ++round) {
    const std::size_t segment = 1 + rng() % 40;
    StrLog log({.start_offset = static_cast<Offset>(rng() % 100), .max_segment_size = segment,
                .max_record_size = 3 * chunk});
    std::deque<std::string> model;
    Offset first = log.options().start_offset;
    for (std::uint32_t i = 0; i < 400; ++i) {
      // Mostly small, sometimes near a chunk, now and then large.
      const std::uint32_t pick = static_cast<std::uint32_t>(rng() % 100);
      const std::size_t size = pick < 80   ? 1 + rng() % 300
                               : pick < 95 ? chunk - 200 + rng() % 400
                                           : chunk + rng() % (2 * chunk);
      std::string data = payload(size, static_cast<std::uint32_t>(rng()));
      if (i % 2 == 0) {
        REQUIRE(log.write(std::string_view(data)).has_value());
        model.push_back(std::move(data));
      } else {
        model.push_back(data);
        REQUIRE(log.write(std::move(data)).has_value());
      }
      while (first < log.range().earliest) {
        model.pop_front();
        ++first;
      }
      if (i % 37 == 0) check_retained(log, model, first);
    }
    check_retained(log, model, first);
  }
}

TEST_CASE("byte logs: write(bytes) takes literals, views and spans, and bad input changes nothing", "[bytes]") {
  SECTION("strings") {
    StrLog log({.max_record_size = 8});
    CHECK(log.write("text").value() == 0);                      // a literal: the bytes overload, not std::string
    CHECK(log.write(std::string_view("view")).value() == 1);    // std::string_view
    const char* pointer = "pointer";
    CHECK(log.write(pointer).value() == 2);                     // const char*
    const std::string owned = "owned";
    CHECK(log.write(owned).value() == 3);                       // an lvalue std::string: write(T)
    CHECK(log.write(std::string("moved")).value() == 4);        // an rvalue std::string: write(T)
    CHECK(log.write({'b', 'r', 'a', 'c', 'e'}).value() == 5);   // braced: write(T)

    const char* null = nullptr;
    CHECK(log.write(null).error() == Errc::empty_record);
    CHECK(log.write(nullptr).error() == Errc::empty_record);
    CHECK(log.write(std::string_view()).error() == Errc::empty_record);
    CHECK(log.write("").error() == Errc::empty_record);
    CHECK(log.write("ninebytes").error() == Errc::record_too_large);
    CHECK(log.write(std::string_view("123456789", 9)).error() == Errc::record_too_large);
    CHECK(log.write(std::string_view("12345678", 8)).value() == 6);  // exactly the limit

    CHECK(log.range() == memlog::OffsetRange{0, 6});
    const std::vector<std::string> want = {"text", "view", "pointer", "owned", "moved", "brace", "12345678"};
    for (Offset o = 0; o <= 6; ++o) CHECK(log.read(o).value().data == want[static_cast<std::size_t>(o)]);
  }

  SECTION("embedded zero bytes are data") {
    StrLog log;
    const std::string with_nul("a\0b", 3);
    REQUIRE(log.write(std::string_view(with_nul)).has_value());
    CHECK(log.read(0).value().data == with_nul);
    CHECK(log.read(0).value().data.size() == 3);
  }

  SECTION("byte vectors") {
    memlog::Log<std::vector<std::byte>> log({.max_record_size = 4});
    const std::array<std::byte, 3> array{std::byte{1}, std::byte{2}, std::byte{3}};
    CHECK(log.write(array).value() == 0);                                    // a std::array
    CHECK(log.write(std::span<const std::byte>(array).first(2)).value() == 1);  // a span
    CHECK(log.write(std::vector<std::byte>{std::byte{9}}).value() == 2);      // write(T)
    CHECK(log.write(std::span<const std::byte>()).error() == Errc::empty_record);
    CHECK(log.write(std::array<std::byte, 5>{}).error() == Errc::record_too_large);
    CHECK(log.read(0).value().data == std::vector<std::byte>(array.begin(), array.end()));
    CHECK(log.read(1).value().data == std::vector<std::byte>(array.begin(), array.begin() + 2));
    CHECK(log.read(2).value().data == std::vector<std::byte>{std::byte{9}});
    const auto viewed = log.read(0, [](const auto& r) { return r.data.size(); });
    CHECK(viewed.value() == 3);
    CHECK(log.range() == memlog::OffsetRange{0, 2});
  }

  SECTION("a string literal is not a byte vector: its terminating zero would be stored") {
    using CharVectorLog = memlog::Log<std::vector<char>>;
    STATIC_REQUIRE(!writes_literal<CharVectorLog>);
    STATIC_REQUIRE(writes_literal<StrLog>);
    STATIC_REQUIRE(!memlog::detail::bytes_of<const char(&)[4], std::vector<char>>);
    STATIC_REQUIRE(memlog::detail::bytes_of<std::string_view, std::string>);
    STATIC_REQUIRE(memlog::detail::bytes_of<std::span<const char>, std::vector<char>>);
    CharVectorLog log;
    CHECK(log.write(std::span<const char>("abc", 3)).value() == 0);
    CHECK(log.read(0).value().data == std::vector<char>{'a', 'b', 'c'});
  }

  SECTION("a RecordSize that says non-empty does not store an empty record") {
    // Only through write(T): the packed segment has no empty records.
    StrLog log;
    CHECK(log.write(std::string()).error() == Errc::empty_record);
    CHECK(log.range() == memlog::OffsetRange{});
  }

  SECTION("sharded") {
    memlog::sharded::Log<std::string> log({.shards = 2, .log = {.max_record_size = 4}});
    CHECK(log.write("key", "abc").value() == 0);
    CHECK(log.write("key", std::string_view("defg")).value() == 1);
    CHECK(log.write("key", "too long").error() == Errc::record_too_large);
    CHECK(log.write("key", "").error() == Errc::empty_record);
    CHECK(log.read("key", 1).value().data == "defg");
    CHECK(log.range("key").value() == memlog::OffsetRange{0, 1});
  }
}

TEST_CASE("byte logs: which types are packed, and what the zero-copy read sees", "[bytes]") {
  using memlog::record_view_t;
  using memlog::RecordView;
  STATIC_REQUIRE(std::is_same_v<StrLog::view_type, RecordView<std::string>>);
  STATIC_REQUIRE(std::is_same_v<decltype(RecordView<std::string>::data), std::string_view>);
  STATIC_REQUIRE(std::is_same_v<decltype(RecordView<std::vector<std::byte>>::data), std::span<const std::byte>>);
  STATIC_REQUIRE(std::is_same_v<record_view_t<std::u8string>, RecordView<std::u8string>>);
  STATIC_REQUIRE(std::is_same_v<record_view_t<std::vector<unsigned char>>, RecordView<std::vector<unsigned char>>>);
  // Not packed: wider elements, vector<bool>, other allocators, other types.
  STATIC_REQUIRE(std::is_same_v<record_view_t<std::u16string>, memlog::Record<std::u16string>>);
  STATIC_REQUIRE(std::is_same_v<record_view_t<std::vector<int>>, memlog::Record<std::vector<int>>>);
  STATIC_REQUIRE(std::is_same_v<record_view_t<std::vector<bool>>, memlog::Record<std::vector<bool>>>);
  STATIC_REQUIRE(std::is_same_v<record_view_t<std::pmr::string>, memlog::Record<std::pmr::string>>);
  STATIC_REQUIRE(std::is_same_v<record_view_t<int>, memlog::Record<int>>);

  StrLog log;
  const auto before = std::chrono::system_clock::now();
  REQUIRE(log.write("hello").has_value());
  const auto view = log.read(0, [](const RecordView<std::string>& r) { return r.to_record(); });
  CHECK(view.value() == log.read(0).value());
  CHECK(view->metadata.created >= before - std::chrono::seconds(5));

  // A visitor taking const auto& works for packed and unpacked logs alike.
  const auto size_of = [](const auto& r) { return r.data.size(); };
  memlog::Log<std::vector<int>> ints;
  REQUIRE(ints.write(std::vector<int>{1, 2, 3}).has_value());
  CHECK(log.read(0, size_of).value() == 5);
  CHECK(ints.read(0, size_of).value() == 3);

  memlog::Log<std::u8string> u8;
  REQUIRE(u8.write(u8"grüß").has_value());
  CHECK(u8.read(0).value().data == u8"grüß");
  CHECK(u8.read(0, [](const auto& r) { return r.data == u8"grüß"; }).value());
}

TEST_CASE("byte logs: streams deliver packed records intact", "[bytes][stream]") {
  StrLog log({.max_segment_size = 5, .max_record_size = 2 * chunk});
  std::vector<std::string> written;
  for (std::uint32_t i = 0; i < 9; ++i) {
    written.push_back(payload(i % 3 == 0 ? chunk + i : 10 + i, i));
    REQUIRE(log.write(std::string_view(written.back())).has_value());
  }
  auto stream = log.stream(log.range().earliest);
  for (Offset o = log.range().earliest; o <= log.range().latest; ++o) {
    const auto r = stream.next();
    REQUIRE(r.has_value());
    CHECK(r->metadata.offset == o);
    CHECK(r->data == written[static_cast<std::size_t>(o)]);
  }
}

// Hidden from the default run (it holds 4.1 GiB): tests/CMakeLists.txt runs
// it in the unsanitised builds. Record ends are stored as 32-bit values with
// the high bits kept aside; this crosses 4 GiB within one segment, then
// rotates, and reads records on both sides of the boundary.
TEST_CASE("byte logs: one segment holding more than 4 GiB", "[.big]") {
  constexpr std::size_t mib = std::size_t{1} << 20;
  constexpr std::size_t records = 4200;  // 4200 MiB > 4 GiB
  StrLog log({.max_segment_size = records, .max_record_size = mib});
  std::string data(mib, '.');
  const auto stamp = [&](std::size_t i) {
    // The id up front (fixed width), a letter at the end; the rest is dots.
    const std::string id = std::to_string(1'000'000 + i);
    std::copy(id.begin(), id.end(), data.begin());
    const std::size_t size = mib - i % 3;  // sizes vary by a byte or two
    std::fill(data.end() - 3, data.end(), '.');
    data[size - 1] = static_cast<char>('A' + i % 26);
    return std::string_view(data).substr(0, size);
  };
  for (std::size_t i = 0; i <= records; ++i) REQUIRE(log.write(stamp(i)).value() == static_cast<Offset>(i));
  REQUIRE(log.range() == memlog::OffsetRange{0, static_cast<Offset>(records)});  // rotated once

  const std::size_t boundary = (std::size_t{1} << 32) / mib;  // the first record past 4 GiB is near here
  for (std::size_t i : {std::size_t{0}, std::size_t{1}, boundary - 2, boundary - 1, boundary, boundary + 1,
                        boundary + 2, records - 1, records}) {
    INFO("record " << i);
    const std::string_view want = stamp(i);
    const auto same = log.read(static_cast<Offset>(i), [&](const StrLog::view_type& r) { return r.data == want; });
    CHECK(same.value());
  }
  std::vector<StrRecord> batch(6);
  const auto b = log.read_batch(static_cast<Offset>(boundary - 3), batch);
  REQUIRE(b.count == batch.size());
  for (std::size_t k = 0; k < batch.size(); ++k) CHECK(batch[k].data == stamp(boundary - 3 + k));
}
