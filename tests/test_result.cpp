// Tests of memlog::Result<T>, memlog::Errc, its error category and
// memlog::Error. Results come from a real Log, so these check what callers get.

#include "support/catch.hpp"
#include "support/test_data.hpp"

#include <memlog/memlog.hpp>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <exception>
#include <set>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

using memlog::Errc;
using memlog::Offset;

namespace {

using StrLog = memlog::Log<std::string>;
using StrRecord = memlog::Record<std::string>;

const std::vector<Errc> all_errcs{
    Errc::record_too_large, Errc::empty_record,    Errc::future_offset,
    Errc::out_of_range,     Errc::cancelled,       Errc::timed_out,
    Errc::shard_not_found,  Errc::too_many_keys,   Errc::offset_overflow,
};

bool has_upper(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::isupper(c) != 0; });
}

}  // namespace

// Noexcept-ness the contract implies (API.md: has_value, operator bool,
// error(), error_category, make_error_code are noexcept).
static_assert(noexcept(std::declval<const memlog::Result<Offset>&>().has_value()));
static_assert(noexcept(static_cast<bool>(std::declval<const memlog::Result<Offset>&>())));
static_assert(noexcept(std::declval<const memlog::Result<Offset>&>().error()));
static_assert(noexcept(std::declval<const memlog::Result<StrRecord>&>().has_value()));
static_assert(noexcept(static_cast<bool>(std::declval<const memlog::Result<StrRecord>&>())));
static_assert(noexcept(std::declval<const memlog::Result<StrRecord>&>().error()));
static_assert(noexcept(memlog::error_category()));
static_assert(noexcept(memlog::make_error_code(Errc::future_offset)));
// operator bool is explicit, as std::expected's.
static_assert(!std::is_convertible_v<memlog::Result<Offset>, bool>);
static_assert(std::is_constructible_v<bool, memlog::Result<Offset>>);
static_assert(std::is_error_code_enum_v<memlog::Errc>);
static_assert(std::is_base_of_v<std::system_error, memlog::Error>);
static_assert(std::is_same_v<decltype(std::declval<const memlog::Result<int>&>().error()), std::error_code>);

TEST_CASE("Result: a value", "[result]") {
  StrLog log;
  REQUIRE(log.write("a").has_value());
  auto r = log.read(0);
  const auto& cr = r;

  CHECK(r.has_value());
  CHECK(static_cast<bool>(r));
  CHECK(r);
  if (!r) FAIL("operator bool in a condition");

  CHECK(r.value().data == "a");
  CHECK(cr.value().data == "a");
  CHECK((*r).data == "a");
  CHECK((*cr).data == "a");
  CHECK(r->data == "a");
  CHECK(cr->data == "a");
  CHECK(r->metadata.offset == 0);
  CHECK(&*r == &r.value());
  CHECK(r.operator->() == &r.value());
  CHECK(r.value_or(StrRecord{{-1, {}}, "fallback"}).data == "a");

  static_assert(std::is_same_v<decltype(r.value()), StrRecord&>);
  static_assert(std::is_same_v<decltype(cr.value()), const StrRecord&>);
  static_assert(std::is_same_v<decltype(std::move(r).value()), StrRecord&&>);
  static_assert(std::is_same_v<decltype(*r), StrRecord&>);
  static_assert(std::is_same_v<decltype(*cr), const StrRecord&>);
  static_assert(std::is_same_v<decltype(r.operator->()), StrRecord*>);
  static_assert(std::is_same_v<decltype(cr.operator->()), const StrRecord*>);
  static_assert(std::is_same_v<decltype(cr.value_or(StrRecord{})), StrRecord>);

  SECTION("the value can be changed in place") {
    r->data = "b";
    r.value().metadata.offset = 9;
    CHECK((*r).data == "b");
    CHECK(r->metadata.offset == 9);
    CHECK(log.read(0).value().data == "a");  // the log keeps its own copy
  }
  SECTION("value() && moves the value out") {
    StrRecord moved = std::move(r).value();
    CHECK(moved.data == "a");
  }
  SECTION("copies hold equal values") {
    const auto copy = r;  // NOLINT(performance-unnecessary-copy-initialization)
    REQUIRE(copy.has_value());
    CHECK(*copy == *r);
  }
  SECTION("Result<Offset> from write") {
    const auto w = log.write("b");
    REQUIRE(w.has_value());
    CHECK(w.value() == 1);
    CHECK(*w == 1);
    CHECK(w.value_or(-1) == 1);
    static_assert(std::is_same_v<std::remove_cvref_t<decltype(w.value())>, Offset>);
  }
}

TEST_CASE("Result: an error", "[result]") {
  StrLog log;
  auto r = log.read(5);
  const auto& cr = r;

  CHECK_FALSE(r.has_value());
  CHECK_FALSE(static_cast<bool>(r));
  CHECK(r.error() == Errc::future_offset);
  CHECK(cr.error() == memlog::make_error_code(Errc::future_offset));
  CHECK(r.error().category() == memlog::error_category());
  CHECK(r.value_or(StrRecord{{-1, {}}, "fallback"}).data == "fallback");

  SECTION("value() throws memlog::Error holding the error") {
    try {
      (void)r.value();
      FAIL("value() did not throw");
    } catch (const memlog::Error& e) {
      CHECK(e.code() == Errc::future_offset);
      CHECK(std::string(e.what()).find("future offset") != std::string::npos);
    }
    CHECK_THROWS_AS(cr.value(), memlog::Error);
    CHECK_THROWS_AS(std::move(r).value(), memlog::Error);
    CHECK_THROWS_AS(r.value(), std::system_error);
    CHECK_THROWS_AS(r.value(), std::exception);
  }
  SECTION("each failure has its own code") {
    memlog::Options o;
    o.max_record_size = 2;
    StrLog small(o);
    CHECK(small.write("").error() == Errc::empty_record);
    CHECK(small.write("abc").error() == Errc::record_too_large);
    CHECK(small.write("").value_or(-1) == -1);
    CHECK(small.read(-1).error() == Errc::out_of_range);
    try {
      (void)small.write("abc").value();
      FAIL("value() did not throw");
    } catch (const memlog::Error& e) {
      CHECK(e.code() == Errc::record_too_large);
    }
  }
}

TEST_CASE("Result: constructed from a value", "[result]") {
  const memlog::Result<int> r = 42;
  REQUIRE(r.has_value());
  CHECK(*r == 42);
  CHECK(r.value() == 42);
  CHECK(r.value_or(0) == 42);
}

TEST_CASE("Errc: category, messages and error_code interop", "[result][errors]") {
  SECTION("category name") {
    CHECK(std::strcmp(memlog::error_category().name(), "memlog") == 0);
    CHECK(&memlog::error_category() == &memlog::error_category());  // one instance
  }
  SECTION("enumerator values") {
    CHECK(static_cast<int>(Errc::record_too_large) == 1);
    CHECK(static_cast<int>(Errc::empty_record) == 2);
    CHECK(static_cast<int>(Errc::future_offset) == 3);
    CHECK(static_cast<int>(Errc::out_of_range) == 4);
    CHECK(static_cast<int>(Errc::cancelled) == 5);
    CHECK(static_cast<int>(Errc::timed_out) == 6);
    CHECK(static_cast<int>(Errc::shard_not_found) == 7);
    CHECK(static_cast<int>(Errc::too_many_keys) == 8);
  }
  SECTION("messages as in Go") {
    CHECK(memlog::make_error_code(Errc::future_offset).message() == "future offset");
    CHECK(memlog::make_error_code(Errc::out_of_range).message() == "offset out of range");
    CHECK(memlog::make_error_code(Errc::record_too_large).message() == "record data too large");
  }
  SECTION("every message is non-empty, lower case and distinct") {
    std::set<std::string> messages;
    for (const auto e : all_errcs) {
      const auto msg = memlog::make_error_code(e).message();
      INFO("Errc " << static_cast<int>(e) << ": \"" << msg << "\"");
      CHECK_FALSE(msg.empty());
      CHECK_FALSE(has_upper(msg));
      CHECK(msg == memlog::error_category().message(static_cast<int>(e)));
      messages.insert(msg);
    }
    CHECK(messages.size() == all_errcs.size());
  }
  SECTION("make_error_code") {
    for (const auto e : all_errcs) {
      const auto ec = memlog::make_error_code(e);
      CHECK(ec.value() == static_cast<int>(e));
      CHECK(ec.category() == memlog::error_category());
      CHECK(static_cast<bool>(ec));
    }
  }
  SECTION("std::error_code compares with Errc") {
    std::error_code ec = memlog::Errc::future_offset;
    CHECK(ec == memlog::Errc::future_offset);
    CHECK(ec != memlog::Errc::out_of_range);
    CHECK(ec.category() == memlog::error_category());
    ec = Errc::out_of_range;
    CHECK(ec == Errc::out_of_range);
    // Same value, other category: not equal.
    const std::error_code generic(static_cast<int>(Errc::future_offset), std::generic_category());
    CHECK(generic != Errc::future_offset);
    CHECK(std::error_code{} != Errc::future_offset);
    CHECK_FALSE(std::error_code{});
  }
  SECTION("memlog::Error is a std::system_error") {
    const memlog::Error e(memlog::make_error_code(Errc::out_of_range));
    const std::system_error& base = e;
    CHECK(base.code() == Errc::out_of_range);
    CHECK(std::string(e.what()).find("offset out of range") != std::string::npos);
    const memlog::Error with_text(Errc::future_offset, "read");
    CHECK(with_text.code() == Errc::future_offset);
  }
}

TEST_CASE("ReadBatchResult: defaults", "[result]") {
  const memlog::ReadBatchResult r;
  CHECK(r.count == 0);
  CHECK_FALSE(r.error);
  static_assert(std::is_aggregate_v<memlog::ReadBatchResult>);
}
