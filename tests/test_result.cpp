// Tests of memlog::Result<T> and Result<void>, memlog::Errc, its error
// category and memlog::Error, and the default memlog::RecordSize. Where a
// Result comes from a real Log, these check what callers get; the rest checks
// Result against std::expected's contract.

#include "support/catch.hpp"
#include "support/test_data.hpp"

#include <memlog/memlog.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
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
    Errc::closed,
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
    CHECK(static_cast<int>(Errc::offset_overflow) == 9);
    CHECK(static_cast<int>(Errc::closed) == 10);
  }
  SECTION("messages as in Go") {
    CHECK(memlog::make_error_code(Errc::future_offset).message() == "future offset");
    CHECK(memlog::make_error_code(Errc::out_of_range).message() == "offset out of range");
    CHECK(memlog::make_error_code(Errc::record_too_large).message() == "record data too large");
    CHECK(memlog::make_error_code(Errc::closed).message() == "log closed");
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

// ---------------------------------------------------------------------------
// Result against std::expected's contract
// ---------------------------------------------------------------------------

namespace {

using memlog::Result;

// Which overload of a monadic function ran, as the value category `f` saw.
enum class Ref { lvalue, const_lvalue, rvalue, const_rvalue };

template <class V>
constexpr Ref ref_of() {
  if constexpr (std::is_lvalue_reference_v<V>) {
    return std::is_const_v<std::remove_reference_t<V>> ? Ref::const_lvalue : Ref::lvalue;
  } else {
    return std::is_const_v<std::remove_reference_t<V>> ? Ref::const_rvalue : Ref::rvalue;
  }
}

// A T that can be neither copied nor moved: only a Result that builds it in
// place can hold it.
struct Pinned {
  explicit Pinned(int v) : value(v) {}
  Pinned(const Pinned&) = delete;
  Pinned(Pinned&&) = delete;
  Pinned& operator=(const Pinned&) = delete;
  Pinned& operator=(Pinned&&) = delete;
  ~Pinned() = default;
  int value;
};

// A T whose copy throws on demand.
struct FragileCopy {
  static inline bool fail = false;
  explicit FragileCopy(int v) : value(v) {}
  FragileCopy(const FragileCopy& other) : value(other.value) {
    if (fail) throw std::runtime_error("copy failed");
  }
  FragileCopy& operator=(const FragileCopy& other) {
    if (fail) throw std::runtime_error("copy failed");
    value = other.value;
    return *this;
  }
  FragileCopy(FragileCopy&& other) noexcept(false) : value(other.value) {}
  FragileCopy& operator=(FragileCopy&& other) noexcept(false) {
    value = other.value;
    return *this;
  }
  ~FragileCopy() = default;
  int value;
};

using Ptr = std::unique_ptr<int>;

}  // namespace

// The converting constructor is explicit exactly when T's conversion is.
static_assert(!std::is_convertible_v<int, Result<std::vector<int>>>);
static_assert(std::is_constructible_v<Result<std::vector<int>>, int>);
static_assert(!std::is_convertible_v<std::string_view, Result<std::string>>);
static_assert(std::is_constructible_v<Result<std::string>, std::string_view>);
static_assert(std::is_convertible_v<const char*, Result<std::string>>);
static_assert(std::is_convertible_v<int, Result<Offset>>);
static_assert(std::is_convertible_v<StrRecord, Result<StrRecord>>);
static_assert(!std::is_constructible_v<Result<std::string>, int>);
// From a Result of another type: implicit when the value converts implicitly.
static_assert(std::is_convertible_v<Result<int>, Result<long>>);
static_assert(!std::is_convertible_v<Result<int>, Result<std::vector<int>>>);
static_assert(std::is_constructible_v<Result<std::vector<int>>, Result<int>>);
static_assert(!std::is_constructible_v<Result<std::string>, Result<int>>);
static_assert(!std::is_constructible_v<Result<int>, Result<void>>);
// Errors convert implicitly, from an error_code or an Errc.
static_assert(std::is_convertible_v<std::error_code, Result<int>>);
static_assert(std::is_convertible_v<Errc, Result<int>>);
static_assert(std::is_convertible_v<Errc, Result<void>>);
static_assert(std::is_convertible_v<std::error_code, Result<void>>);
static_assert(!std::is_convertible_v<int, Result<void>>);
// Copyable and movable as T is.
static_assert(!std::is_copy_constructible_v<Result<Ptr>>);
static_assert(std::is_move_constructible_v<Result<Ptr>>);
static_assert(!std::is_move_constructible_v<Result<Pinned>>);
static_assert(std::is_trivially_copyable_v<Result<void>>);
// The names std::expected has.
static_assert(std::is_same_v<Result<int>::value_type, int>);
static_assert(std::is_same_v<Result<int>::error_type, std::error_code>);
static_assert(std::is_same_v<Result<int>::rebind<long>, Result<long>>);
static_assert(std::is_same_v<Result<void>::value_type, void>);
static_assert(std::is_same_v<Result<void>::error_type, std::error_code>);

// noexcept where it is true, and conditional on T where it depends on T.
static_assert(noexcept(Result<int>(std::error_code{})));
static_assert(noexcept(Result<int>(Errc::closed)));
static_assert(noexcept(Result<std::string>(Errc::closed)));
static_assert(noexcept(Result<int>(1)));
static_assert(!noexcept(Result<std::string>(std::declval<const char*>())));
static_assert(noexcept(Result<std::string>(std::declval<std::string&&>())));
static_assert(noexcept(Result<int>()));
static_assert(std::is_nothrow_move_constructible_v<Result<std::string>>);
static_assert(std::is_nothrow_move_assignable_v<Result<std::string>>);
static_assert(!std::is_nothrow_copy_constructible_v<Result<std::string>>);
static_assert(std::is_nothrow_copy_constructible_v<Result<int>>);
static_assert(!std::is_nothrow_move_constructible_v<Result<FragileCopy>>);
static_assert(noexcept(std::declval<Result<std::string>&>() = std::error_code{}));
static_assert(noexcept(std::declval<Result<std::string>&>() = Errc::closed));
static_assert(noexcept(*std::declval<Result<std::string>&>()));
static_assert(noexcept(*std::declval<const Result<std::string>&>()));
static_assert(noexcept(std::declval<Result<std::string>&>().operator->()));
static_assert(!noexcept(std::declval<Result<int>&>().value()));
static_assert(noexcept(std::declval<const Result<int>&>().value_or(0)));
static_assert(!noexcept(std::declval<const Result<std::string>&>().value_or("x")));
static_assert(noexcept(std::declval<Result<Ptr>&&>().value_or(nullptr)));
static_assert(noexcept(std::declval<const Result<std::string>&>().error_or(Errc::closed)));
static_assert(noexcept(std::declval<const Result<std::string>&>().error_or({})));
static_assert(noexcept(std::declval<Result<std::string>&>().swap(std::declval<Result<std::string>&>())));
static_assert(noexcept(std::declval<Result<int>&>().emplace(1)));
static_assert(noexcept(Result<void>()));
static_assert(noexcept(Result<void>(std::error_code{})));
static_assert(noexcept(Result<void>(Errc::closed)));
static_assert(noexcept(std::declval<const Result<void>&>().has_value()));
static_assert(noexcept(static_cast<bool>(std::declval<const Result<void>&>())));
static_assert(noexcept(std::declval<const Result<void>&>().error()));
static_assert(noexcept(std::declval<const Result<void>&>().error_or({})));
static_assert(noexcept(*std::declval<const Result<void>&>()));
static_assert(!noexcept(std::declval<const Result<void>&>().value()));
static_assert(noexcept(std::declval<Result<void>&>().swap(std::declval<Result<void>&>())));
static_assert(noexcept(std::declval<const Result<void>&>() == std::declval<const Result<void>&>()));

TEST_CASE("Result: an empty error_code is held as invalid_argument, never as neither value nor error",
          "[result]") {
  const auto check_error = [](const auto& r) {
    CHECK_FALSE(r.has_value());
    CHECK_FALSE(static_cast<bool>(r));
    CHECK(static_cast<bool>(r.error()));
    CHECK(r.error() == std::make_error_code(std::errc::invalid_argument));
    CHECK(r.error() == std::errc::invalid_argument);
    CHECK_THROWS_AS(r.value(), memlog::Error);
  };
  SECTION("Result<int> from an empty error_code") { check_error(Result<int>(std::error_code{})); }
  SECTION("Result<int> from a value-0 code of memlog's category") {
    check_error(Result<int>(std::error_code(0, memlog::error_category())));
  }
  SECTION("Result<int> from Errc{}") { check_error(Result<int>(Errc{})); }
  SECTION("Result<std::string> assigned an empty error_code") {
    Result<std::string> r = std::string("value");
    r = std::error_code{};
    check_error(r);
  }
  SECTION("transform_error returning an empty error_code") {
    check_error(Result<int>(Errc::closed).transform_error([](std::error_code) { return std::error_code{}; }));
  }
  SECTION("Result<void> from an empty error_code") { check_error(Result<void>(std::error_code{})); }
  SECTION("Result<void> from Errc{}") { check_error(Result<void>(Errc{})); }
  SECTION("Result<void> assigned an empty error_code") {
    Result<void> r;
    r = std::error_code{};
    check_error(r);
  }
  SECTION("the error thrown names the code") {
    try {
      (void)Result<int>(std::error_code{}).value();
      FAIL("value() did not throw");
    } catch (const memlog::Error& e) {
      CHECK(e.code() == std::errc::invalid_argument);
    }
  }
}

TEST_CASE("Result: construction as std::expected", "[result]") {
  SECTION("default: a value-initialised T") {
    const Result<int> i;
    REQUIRE(i.has_value());
    CHECK(*i == 0);
    const Result<std::string> s;
    REQUIRE(s.has_value());
    CHECK(s->empty());
    CHECK(Result<void>().has_value());
  }
  SECTION("an explicit conversion builds the value") {
    const Result<std::vector<int>> v{5};
    REQUIRE(v.has_value());
    CHECK(v->size() == 5);
    const Result<std::string> s{std::string_view("abc")};
    CHECK(*s == "abc");
  }
  SECTION("in place") {
    const Result<std::vector<int>> v(std::in_place, 3, 7);
    CHECK(*v == std::vector<int>{7, 7, 7});
    const Result<std::vector<int>> list(std::in_place, {1, 2, 3});
    CHECK(*list == std::vector<int>{1, 2, 3});
    const Result<Pinned> pinned(std::in_place, 4);
    CHECK(pinned->value == 4);
    CHECK(Result<void>(std::in_place).has_value());
  }
  SECTION("from a Result of another type") {
    const Result<int> i = 7;
    const Result<long> l = i;
    CHECK(*l == 7);
    const Result<long> moved = Result<int>(8);
    CHECK(*moved == 8);
    const Result<long> error = Result<int>(Errc::cancelled);
    CHECK(error.error() == Errc::cancelled);
    const Result<std::vector<int>> v(Result<int>(2));
    CHECK(v->size() == 2);
  }
  SECTION("Result<bool> from Result<int> converts the value, not has_value()") {
    const Result<bool> zero = Result<int>(0);
    REQUIRE(zero.has_value());
    CHECK(*zero == false);
    const Result<bool> error = Result<int>(Errc::timed_out);
    CHECK(error.error() == Errc::timed_out);
  }
}

TEST_CASE("Result: assignment, emplace and swap", "[result]") {
  SECTION("value to error and back") {
    Result<std::string> r = std::string("a");
    r = Errc::closed;
    CHECK(r.error() == Errc::closed);
    r = std::string("b");
    CHECK(*r == "b");
    r = Result<std::string>(Errc::timed_out);
    CHECK(r.error() == Errc::timed_out);
    r = Result<std::string>("c");
    CHECK(*r == "c");
    r = "d";
    CHECK(*r == "d");
    r = std::string_view("e");  // std::string is assignable from a string_view
    CHECK(*r == "e");
  }
  SECTION("an error replaced by a value whose copy throws keeps the error") {
    const Result<FragileCopy> value(std::in_place, 5);
    Result<FragileCopy> r = Errc::closed;
    FragileCopy::fail = true;
    CHECK_THROWS_AS(r = value, std::runtime_error);
    FragileCopy::fail = false;
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == Errc::closed);
    r = value;
    CHECK(r->value == 5);
  }
  SECTION("emplace replaces a value or an error") {
    // (Not a std::string: GCC 12 -O2 warns that its SSO buffer "may be used
    // uninitialized" after an emplace, for std::optional<std::string> too.)
    Result<std::vector<int>> r = Errc::closed;
    CHECK(r.emplace(std::vector<int>{1}) == std::vector<int>{1});
    CHECK(*r == std::vector<int>{1});
    r.emplace(std::vector<int>{2, 3});
    CHECK(*r == std::vector<int>{2, 3});
    Result<void> v = Errc::closed;
    v.emplace();
    CHECK(v.has_value());
  }
  SECTION("swap: every combination of value and error") {
    Result<Ptr> a = std::make_unique<int>(1);
    Result<Ptr> b = std::make_unique<int>(2);
    swap(a, b);
    CHECK(**a == 2);
    CHECK(**b == 1);
    Result<Ptr> e = Errc::closed;
    a.swap(e);
    CHECK(a.error() == Errc::closed);
    CHECK(**e == 2);
    a.swap(e);
    CHECK(**a == 2);
    CHECK(e.error() == Errc::closed);
    Result<Ptr> f = Errc::timed_out;
    e.swap(f);
    CHECK(e.error() == Errc::timed_out);
    CHECK(f.error() == Errc::closed);
    Result<void> ok;
    Result<void> bad = Errc::closed;
    swap(ok, bad);
    CHECK(ok.error() == Errc::closed);
    CHECK(bad.has_value());
  }
}

TEST_CASE("Result: value_or and error_or", "[result]") {
  SECTION("value_or const& copies, && moves") {
    const Result<std::string> r = std::string("kept");
    CHECK(r.value_or("fallback") == "kept");
    CHECK(*r == "kept");
    CHECK(Result<std::string>(Errc::closed).value_or("fallback") == "fallback");
    Result<Ptr> p = std::make_unique<int>(3);
    const Ptr out = std::move(p).value_or(nullptr);
    REQUIRE(out != nullptr);
    CHECK(*out == 3);
    CHECK(Result<Ptr>(Errc::closed).value_or(nullptr) == nullptr);
    static_assert(std::is_same_v<decltype(std::declval<Result<Ptr>&&>().value_or(nullptr)), Ptr>);
  }
  SECTION("value_or takes anything that converts to T") {
    const Result<Offset> r = Errc::future_offset;
    CHECK(r.value_or(-1) == -1);
    CHECK(r.value_or({}) == 0);
  }
  SECTION("error_or") {
    CHECK(Result<int>(1).error_or(Errc::closed) == Errc::closed);
    CHECK_FALSE(Result<int>(1).error_or({}));
    CHECK(Result<int>(Errc::timed_out).error_or(Errc::closed) == Errc::timed_out);
    CHECK(Result<void>().error_or(Errc::closed) == Errc::closed);
    CHECK_FALSE(Result<void>().error_or({}));
    CHECK(Result<void>(Errc::timed_out).error_or(Errc::closed) == Errc::timed_out);
  }
}

TEST_CASE("Result: and_then, transform, or_else, transform_error for &, const&, && and const&&", "[result]") {
  Result<int> r = 1;
  const Result<int>& cr = r;
  Result<int> e = Errc::timed_out;
  const Result<int>& ce = e;

  SECTION("and_then hands f the value with the object's value category") {
    const auto f = [](auto&& v) { return Result<Ref>(ref_of<decltype(v)>()); };
    CHECK(*r.and_then(f) == Ref::lvalue);
    CHECK(*cr.and_then(f) == Ref::const_lvalue);
    CHECK(*std::move(r).and_then(f) == Ref::rvalue);
    CHECK(*std::move(cr).and_then(f) == Ref::const_rvalue);
    CHECK(e.and_then(f).error() == Errc::timed_out);
    CHECK(ce.and_then(f).error() == Errc::timed_out);
    CHECK(std::move(e).and_then(f).error() == Errc::timed_out);
    CHECK(std::move(ce).and_then(f).error() == Errc::timed_out);
  }
  SECTION("transform hands f the value with the object's value category") {
    const auto f = [](auto&& v) { return ref_of<decltype(v)>(); };
    CHECK(*r.transform(f) == Ref::lvalue);
    CHECK(*cr.transform(f) == Ref::const_lvalue);
    CHECK(*std::move(r).transform(f) == Ref::rvalue);
    CHECK(*std::move(cr).transform(f) == Ref::const_rvalue);
    CHECK(e.transform(f).error() == Errc::timed_out);
    CHECK(ce.transform(f).error() == Errc::timed_out);
    CHECK(std::move(e).transform(f).error() == Errc::timed_out);
    CHECK(std::move(ce).transform(f).error() == Errc::timed_out);
  }
  SECTION("or_else hands f the error with the object's value category") {
    const auto f = [](auto&& error) {
      return error == Errc::timed_out ? Result<int>(static_cast<int>(ref_of<decltype(error)>())) : Result<int>(error);
    };
    CHECK(*e.or_else(f) == static_cast<int>(Ref::lvalue));
    CHECK(*ce.or_else(f) == static_cast<int>(Ref::const_lvalue));
    CHECK(*std::move(e).or_else(f) == static_cast<int>(Ref::rvalue));
    CHECK(*std::move(ce).or_else(f) == static_cast<int>(Ref::const_rvalue));
    CHECK(*r.or_else(f) == 1);
    CHECK(*cr.or_else(f) == 1);
    CHECK(*std::move(r).or_else(f) == 1);
    CHECK(*std::move(cr).or_else(f) == 1);
  }
  SECTION("transform_error hands f the error with the object's value category") {
    const auto f = [](auto&& error) {
      CHECK(error == Errc::timed_out);
      constexpr Ref ref = ref_of<decltype(error)>();
      return ref == Ref::lvalue         ? Errc::cancelled
             : ref == Ref::const_lvalue ? Errc::closed
             : ref == Ref::rvalue       ? Errc::out_of_range
                                        : Errc::future_offset;
    };
    CHECK(e.transform_error(f).error() == Errc::cancelled);
    CHECK(ce.transform_error(f).error() == Errc::closed);
    CHECK(std::move(e).transform_error(f).error() == Errc::out_of_range);
    CHECK(std::move(ce).transform_error(f).error() == Errc::future_offset);
    CHECK(*r.transform_error(f) == 1);
    CHECK(*cr.transform_error(f) == 1);
    CHECK(*std::move(r).transform_error(f) == 1);
    CHECK(*std::move(cr).transform_error(f) == 1);
  }
  SECTION("f is not called for what passes through") {
    int calls = 0;
    (void)e.and_then([&](int) { return Result<int>(++calls); });
    (void)e.transform([&](int) { return ++calls; });
    (void)r.or_else([&](std::error_code) { return Result<int>(++calls); });
    (void)r.transform_error([&](std::error_code error) {
      ++calls;
      return error;
    });
    CHECK(calls == 0);
  }
  SECTION("types: and_then and or_else return f's Result, transform wraps f's result") {
    static_assert(std::is_same_v<decltype(r.and_then([](int) { return Result<std::string>("s"); })),
                                 Result<std::string>>);
    static_assert(std::is_same_v<decltype(r.transform([](int) { return std::string("s"); })), Result<std::string>>);
    static_assert(std::is_same_v<decltype(r.transform([](int) {})), Result<void>>);
    static_assert(std::is_same_v<decltype(r.or_else([](std::error_code) { return Result<int>(0); })), Result<int>>);
    static_assert(std::is_same_v<decltype(r.transform_error([](std::error_code e2) { return e2; })), Result<int>>);
  }
  SECTION("transform to void") {
    int seen = 0;
    const Result<void> done = r.transform([&](int v) { seen = v; });
    CHECK(done.has_value());
    CHECK(seen == 1);
    CHECK(e.transform([&](int v) { seen = v + 1; }).error() == Errc::timed_out);
    CHECK(seen == 1);
  }
  SECTION("transform through a member pointer stores a copy of the member") {
    StrLog log;
    REQUIRE(log.write("abc").has_value());
    const Result<std::string> data = log.read(0).transform(&StrRecord::data);
    CHECK(*data == "abc");
  }
  SECTION("&& overloads move the value to f") {
    Result<Ptr> p = std::make_unique<int>(9);
    const Result<int> nine = std::move(p).transform([](Ptr q) { return *q; });
    CHECK(*nine == 9);
    Result<Ptr> p2 = std::make_unique<int>(10);
    const Result<int> ten = std::move(p2).and_then([](Ptr q) { return Result<int>(*q); });
    CHECK(*ten == 10);
    Result<Ptr> p3 = std::make_unique<int>(11);
    const Result<Ptr> kept = std::move(p3).or_else([](std::error_code) { return Result<Ptr>(nullptr); });
    CHECK(**kept == 11);
    Result<Ptr> p4 = std::make_unique<int>(12);
    const Result<Ptr> mapped = std::move(p4).transform_error([](std::error_code) { return Errc::closed; });
    CHECK(**mapped == 12);
  }
  SECTION("transform builds its value in place") {
    const Result<Pinned> pinned = r.transform([](int v) { return Pinned(v + 1); });
    CHECK(pinned->value == 2);
  }
  SECTION("a chain reads as with std::expected") {
    StrLog log;
    REQUIRE(log.write("abc").has_value());
    const auto size_at = [&](Offset o) {
      return log.read(o)
          .transform([](const StrRecord& rec) { return rec.data.size(); })
          .or_else([](std::error_code error) {
            return error == Errc::future_offset ? Result<std::size_t>(0) : Result<std::size_t>(error);
          });
    };
    CHECK(*size_at(0) == 3);
    CHECK(*size_at(1) == 0);
    CHECK(size_at(-1).error() == Errc::out_of_range);
  }
}

TEST_CASE("Result<void>: a success or an error", "[result]") {
  const Result<void> ok;
  const Result<void> bad = Errc::closed;

  CHECK(ok.has_value());
  CHECK(static_cast<bool>(ok));
  CHECK_FALSE(ok.error());
  CHECK_NOTHROW(ok.value());
  CHECK_NOTHROW(Result<void>().value());

  CHECK_FALSE(bad.has_value());
  CHECK_FALSE(static_cast<bool>(bad));
  CHECK(bad.error() == Errc::closed);
  try {
    bad.value();
    FAIL("value() did not throw");
  } catch (const memlog::Error& e) {
    CHECK(e.code() == Errc::closed);
  }
  CHECK_THROWS_AS(Result<void>(Errc::timed_out).value(), memlog::Error);

  SECTION("monadic functions") {
    CHECK(*ok.and_then([] { return Result<int>(5); }) == 5);
    CHECK(bad.and_then([] { return Result<int>(5); }).error() == Errc::closed);
    CHECK(*ok.transform([] { return std::string("t"); }) == "t");
    CHECK(bad.transform([] { return std::string("t"); }).error() == Errc::closed);
    CHECK(ok.transform([] {}).has_value());
    CHECK(ok.or_else([](std::error_code) { return Result<void>(Errc::timed_out); }).has_value());
    CHECK(bad.or_else([](std::error_code) { return Result<void>(); }).has_value());
    CHECK(bad.or_else([](std::error_code e) { return Result<void>(e); }).error() == Errc::closed);
    CHECK(bad.transform_error([](std::error_code) { return Errc::timed_out; }).error() == Errc::timed_out);
    CHECK(ok.transform_error([](std::error_code) { return Errc::timed_out; }).has_value());
    Result<void> moved = Errc::closed;
    const auto f = [](auto&& error) {
      return Result<void>(ref_of<decltype(error)>() == Ref::rvalue ? Errc::cancelled : Errc::closed);
    };
    CHECK(std::move(moved).or_else(f).error() == Errc::cancelled);
    const Result<Pinned> pinned = ok.transform([] { return Pinned(3); });
    CHECK(pinned->value == 3);
  }
  SECTION("comparison") {
    CHECK(ok == Result<void>());
    CHECK(bad == Result<void>(Errc::closed));
    CHECK(ok != bad);
    CHECK(bad != Result<void>(Errc::timed_out));
    CHECK(bad == Errc::closed);
    CHECK(bad == memlog::make_error_code(Errc::closed));
    CHECK(bad != Errc::timed_out);
    CHECK(ok != Errc::closed);
    CHECK(ok != std::error_code{});
  }
}

TEST_CASE("Result: comparison", "[result]") {
  const Result<int> one = 1;
  const Result<int> err = Errc::timed_out;
  CHECK(one == Result<int>(1));
  CHECK(one != Result<int>(2));
  CHECK(one == Result<long>(1));
  CHECK(one != err);
  CHECK(err == Result<int>(Errc::timed_out));
  CHECK(err != Result<int>(Errc::closed));
  CHECK(one == 1);
  CHECK(1 == one);
  CHECK(one != 2);
  CHECK(err != 1);
  CHECK(err == Errc::timed_out);
  CHECK(Errc::timed_out == err);
  CHECK(err == memlog::make_error_code(Errc::timed_out));
  CHECK(err != Errc::closed);
  CHECK(one != Errc::timed_out);
  CHECK(one != std::error_code{});
  CHECK(err != std::error_code{});
  const Result<std::string> s = std::string("s");
  CHECK(s == "s");
  CHECK(s == std::string_view("s"));
}

// ---------------------------------------------------------------------------
// Error conditions
// ---------------------------------------------------------------------------

TEST_CASE("Errc: codes compare equal to the std::errc conditions they mean", "[result][errors]") {
  SECTION("mapped codes, as enums and as error_codes") {
    CHECK(Errc::timed_out == std::errc::timed_out);
    CHECK(std::errc::timed_out == Errc::timed_out);
    CHECK(Errc::cancelled == std::errc::operation_canceled);
    CHECK(Errc::record_too_large == std::errc::message_size);
    CHECK(Errc::empty_record == std::errc::invalid_argument);
    CHECK(Errc::offset_overflow == std::errc::value_too_large);
    const std::error_code ec = Errc::timed_out;
    CHECK(ec == std::errc::timed_out);
    CHECK(ec != std::errc::operation_canceled);
    CHECK(Result<int>(Errc::timed_out).error() == std::errc::timed_out);
    CHECK(memlog::error_category().default_error_condition(static_cast<int>(Errc::timed_out)) ==
          std::errc::timed_out);
  }
  SECTION("a mapped code matches only its own condition") {
    CHECK(Errc::timed_out != std::errc::operation_canceled);
    CHECK(Errc::cancelled != std::errc::timed_out);
    CHECK(Errc::record_too_large != std::errc::invalid_argument);
  }
  SECTION("unmapped codes stay conditions of memlog's category") {
    for (const auto e : {Errc::future_offset, Errc::out_of_range, Errc::shard_not_found, Errc::too_many_keys,
                         Errc::closed}) {
      INFO("Errc " << static_cast<int>(e));
      const auto condition = memlog::error_category().default_error_condition(static_cast<int>(e));
      CHECK(condition.category() == memlog::error_category());
      CHECK(condition.value() == static_cast<int>(e));
      CHECK(e != std::errc::resource_unavailable_try_again);
      CHECK(e != std::errc::result_out_of_range);
      CHECK(e != std::errc::invalid_argument);
      CHECK(e != std::errc::broken_pipe);
    }
  }
  SECTION("every code is equivalent to its own default condition") {
    for (const auto e : all_errcs) {
      INFO("Errc " << static_cast<int>(e));
      const std::error_code ec = e;
      CHECK(ec == ec.default_error_condition());
      CHECK(e == ec.default_error_condition());
    }
  }
}

// ---------------------------------------------------------------------------
// Default record size
// ---------------------------------------------------------------------------

// Bytes are counted for contiguous sized ranges of trivially copyable
// elements only; elements that own memory elsewhere are not the record's bytes.
static_assert(memlog::sized_record<std::string>);
static_assert(memlog::sized_record<std::vector<std::byte>>);
static_assert(memlog::sized_record<std::vector<std::uint8_t>>);
static_assert(memlog::sized_record<std::vector<int>>);
static_assert(memlog::sized_record<std::array<std::uint32_t, 4>>);
static_assert(!memlog::sized_record<std::vector<std::string>>);
static_assert(!memlog::sized_record<std::vector<std::vector<int>>>);
static_assert(!memlog::sized_record<std::vector<Ptr>>);
static_assert(!memlog::sized_record<int>);

TEST_CASE("RecordSize: counts bytes of trivially copyable elements only", "[result][record_size]") {
  CHECK(memlog::RecordSize<std::string>{}(std::string(7, 'x')) == 7);
  CHECK(memlog::RecordSize<std::vector<int>>{}(std::vector<int>(3)) == 3 * sizeof(int));
  CHECK(memlog::RecordSize<std::vector<std::byte>>{}(std::vector<std::byte>(5)) == 5);

  SECTION("a log of strings in a vector applies no size limit") {
    memlog::Options o;
    o.max_record_size = 64;
    memlog::Log<std::vector<std::string>> log(o);
    // 40 one-byte strings: 40 bytes of data, but 40 * sizeof(std::string)
    // if each element were counted as bytes.
    const std::vector<std::string> many(40, "x");
    REQUIRE(log.write(many).has_value());
    // One string of 1000 bytes: not limited either, rather than counted as
    // sizeof(std::string).
    const std::vector<std::string> big{std::string(1000, 'y')};
    REQUIRE(log.write(big).has_value());
    CHECK(log.read(0).value().data == many);
    CHECK(log.read(1).value().data == big);
  }
  SECTION("a log of ints in a vector still counts bytes") {
    memlog::Options o;
    o.max_record_size = 4 * sizeof(int);
    memlog::Log<std::vector<int>> log(o);
    CHECK(log.write(std::vector<int>(4, 1)).has_value());
    CHECK(log.write(std::vector<int>(5, 1)).error() == Errc::record_too_large);
    CHECK(log.write(std::vector<int>{}).error() == Errc::empty_record);
  }
}
