#pragma once
// memlog::Result<T>: a value or a std::error_code, shaped like
// std::expected<T, std::error_code> (C++23) so that code written against
// either reads the same; Result<void> is a success or an error.
//
// Where it differs from std::expected, it is because the error type is fixed:
// - an error converts implicitly from std::error_code or memlog::Errc (no
//   std::unexpected), so `return Errc::future_offset;` works;
// - error() returns the error by value, and an empty error_code while a value
//   is held (std::expected makes that undefined);
// - transform_error's function returns a new error (anything that converts to
//   std::error_code) and the result is again a Result<T>;
// - transform stores a copy when the function returns a reference
//   (`r.transform(&Record<T>::data)`), where std::expected does not compile;
// - an empty error_code is never held as an error (below).
//
// An empty error_code means "no error", so a Result built from one would be
// neither a value nor an error. That is a caller's bug (typically passing on an
// error_code that turned out empty), and it is not allowed to pass silently as
// success: the Result holds std::errc::invalid_argument (generic category)
// instead, in every build. No memlog operation produces that code, so it
// points at the bug, and has_value() is false, so the caller's error path runs.
// The same holds for a Result<void>, for `Errc{}` and for an empty error
// returned by transform_error's function.

#include <concepts>
#include <functional>
#include <initializer_list>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

#include "errors.hpp"

namespace memlog {

template <class T>
class Result;

namespace detail {

template <class R>
inline constexpr bool is_result = false;
template <class T>
inline constexpr bool is_result<Result<T>> = true;

// The error a Result keeps for `error`: never an empty one (see the top).
[[nodiscard]] inline std::error_code nonempty_error(std::error_code error) noexcept {
  return error ? error : std::make_error_code(std::errc::invalid_argument);
}

// What constructs a Result's error, and so never its value.
template <class U>
concept result_error =
    std::same_as<std::remove_cvref_t<U>, std::error_code> || std::same_as<std::remove_cvref_t<U>, Errc>;

// std::expected's rule for its converting constructors: a T that can be
// built from the Result<U> itself takes it whole, as a value (except bool,
// which would take has_value()).
template <class T, class U>
concept not_built_from_result =
    std::is_same_v<std::remove_cv_t<T>, bool> ||
    (!std::is_constructible_v<T, Result<U>&> && !std::is_constructible_v<T, Result<U>> &&
     !std::is_constructible_v<T, const Result<U>&> && !std::is_constructible_v<T, const Result<U>> &&
     !std::is_convertible_v<Result<U>&, T> && !std::is_convertible_v<Result<U>, T> &&
     !std::is_convertible_v<const Result<U>&, T> && !std::is_convertible_v<const Result<U>, T>);

// Builds a value from a function's result in place (no move of it).
struct InvokeTag {};

}  // namespace detail

// A success or an error: what an operation returns that has no value to give.
template <>
class [[nodiscard]] Result<void> {
 public:
  using value_type = void;
  using error_type = std::error_code;
  template <class U>
  using rebind = Result<U>;

  // Success.
  Result() noexcept = default;
  explicit Result(std::in_place_t) noexcept {}

  // An error (an empty one becomes std::errc::invalid_argument: see the top).
  Result(std::error_code error) noexcept  // NOLINT(google-explicit-constructor)
      : error_(detail::nonempty_error(error)) {}
  Result(Errc error) noexcept : Result(make_error_code(error)) {}  // NOLINT(google-explicit-constructor)

  Result& operator=(std::error_code error) noexcept {
    error_ = detail::nonempty_error(error);
    return *this;
  }
  Result& operator=(Errc error) noexcept { return *this = make_error_code(error); }

  void emplace() noexcept { error_.clear(); }
  void swap(Result& other) noexcept { std::swap(error_, other.error_); }
  friend void swap(Result& a, Result& b) noexcept { a.swap(b); }

  [[nodiscard]] bool has_value() const noexcept { return !error_; }
  [[nodiscard]] explicit operator bool() const noexcept { return !error_; }

  // Throws memlog::Error holding the error, if there is one.
  void value() const& {
    if (error_) throw Error(error_);
  }
  void value() && {
    if (error_) throw Error(error_);
  }
  // Unchecked, as std::expected: only when has_value().
  void operator*() const noexcept {}

  // The error; an empty error_code on success.
  [[nodiscard]] std::error_code error() const noexcept { return error_; }

  template <class G = std::error_code>
    requires std::is_convertible_v<G, std::error_code>
  [[nodiscard]] std::error_code error_or(G&& fallback) const
      noexcept(std::is_nothrow_convertible_v<G, std::error_code>) {
    return error_ ? error_ : static_cast<std::error_code>(std::forward<G>(fallback));
  }

  // As Result<T>'s (below), with a function of no argument for and_then and
  // transform.
  template <class F>
  [[nodiscard]] auto and_then(F&& f) & {
    return and_then_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto and_then(F&& f) const& {
    return and_then_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto and_then(F&& f) && {
    return and_then_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto and_then(F&& f) const&& {
    return and_then_impl(*this, std::forward<F>(f));
  }

  template <class F>
  [[nodiscard]] auto transform(F&& f) & {
    return transform_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto transform(F&& f) const& {
    return transform_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto transform(F&& f) && {
    return transform_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto transform(F&& f) const&& {
    return transform_impl(*this, std::forward<F>(f));
  }

  template <class F>
  [[nodiscard]] auto or_else(F&& f) & {
    return or_else_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto or_else(F&& f) const& {
    return or_else_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto or_else(F&& f) && {
    return or_else_impl(std::move(*this), std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto or_else(F&& f) const&& {
    return or_else_impl(std::move(*this), std::forward<F>(f));
  }

  template <class F>
  [[nodiscard]] Result transform_error(F&& f) & {
    return transform_error_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] Result transform_error(F&& f) const& {
    return transform_error_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] Result transform_error(F&& f) && {
    return transform_error_impl(std::move(*this), std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] Result transform_error(F&& f) const&& {
    return transform_error_impl(std::move(*this), std::forward<F>(f));
  }

  // Equal when both succeeded or both hold the same error.
  [[nodiscard]] friend bool operator==(const Result& a, const Result& b) noexcept { return a.error_ == b.error_; }
  // Holds the error `error` (so never equal to an empty error_code).
  [[nodiscard]] friend bool operator==(const Result& a, const std::error_code& error) noexcept {
    return a.error_ && a.error_ == error;
  }
  [[nodiscard]] friend bool operator==(const Result& a, Errc error) noexcept { return a == make_error_code(error); }

 private:
  template <class Self>
  using error_ref = decltype((std::declval<Self>().error_));

  template <class F>
  static auto and_then_impl(const Result& self, F&& f) {
    using U = std::remove_cvref_t<std::invoke_result_t<F>>;
    static_assert(detail::is_result<U>, "memlog: and_then's function must return a memlog::Result");
    if (self.error_) return U(self.error_);
    return U(std::invoke(std::forward<F>(f)));
  }

  template <class F>
  static auto transform_impl(const Result& self, F&& f) {
    using U = std::remove_cvref_t<std::invoke_result_t<F>>;
    if constexpr (std::is_void_v<U>) {
      if (self.error_) return Result(self.error_);
      std::invoke(std::forward<F>(f));
      return Result();
    } else {
      if (self.error_) return Result<U>(self.error_);
      return Result<U>(detail::InvokeTag{}, std::forward<F>(f));
    }
  }

  template <class Self, class F>
  static auto or_else_impl(Self&& self, F&& f) {
    using G = std::remove_cvref_t<std::invoke_result_t<F, error_ref<Self>>>;
    static_assert(detail::is_result<G>, "memlog: or_else's function must return a memlog::Result");
    static_assert(std::is_void_v<typename G::value_type>,
                  "memlog: or_else's function must return a Result of the same value type");
    if (!self.error_) return G();
    return G(std::invoke(std::forward<F>(f), std::forward<Self>(self).error_));
  }

  template <class Self, class F>
  static Result transform_error_impl(Self&& self, F&& f) {
    using G = std::invoke_result_t<F, error_ref<Self>>;
    static_assert(std::is_convertible_v<G, std::error_code>,
                  "memlog: transform_error's function must return a std::error_code (or an error code enum)");
    if (!self.error_) return Result();
    return Result(static_cast<std::error_code>(std::invoke(std::forward<F>(f), std::forward<Self>(self).error_)));
  }

  std::error_code error_;  // empty: success (constructors never store an empty error)
};

template <class T>
class [[nodiscard]] Result {
  static_assert(std::is_object_v<T> && !std::is_array_v<T>, "memlog: Result<T> holds an object of type T");
  static_assert(!detail::result_error<T>, "memlog: Result<std::error_code> and Result<Errc> would be ambiguous");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, std::in_place_t>, "memlog: Result<std::in_place_t>");

  // A reference to the value or the error with the value category of `Self`
  // (a Result&, const Result&, Result or const Result): what the &, const&,
  // && and const&& overloads of the monadic functions hand to `f`.
  template <class Self>
  using value_ref = decltype((std::declval<Self>().value_));
  template <class Self>
  using error_ref = decltype((std::declval<Self>().error_));

 public:
  using value_type = T;
  using error_type = std::error_code;
  template <class U>
  using rebind = Result<U>;

  // A value-initialised T, as std::expected.
  Result() noexcept(std::is_nothrow_default_constructible_v<T>)
    requires std::is_default_constructible_v<T>
      : value_(), has_value_(true) {}

  // A value. Implicit exactly when U converts implicitly to T, so that
  // `return value;` works and `Result<std::vector<int>> v = 5;` does not.
  template <class U = std::remove_cv_t<T>>
    requires(!std::is_same_v<std::remove_cvref_t<U>, std::in_place_t>) &&
            (!std::is_same_v<std::remove_cvref_t<U>, Result>) && (!detail::result_error<U>) &&
            std::is_constructible_v<T, U> &&
            (!std::is_same_v<std::remove_cv_t<T>, bool> || !detail::is_result<std::remove_cvref_t<U>>)
  explicit(!std::is_convertible_v<U, T>) Result(U&& value) noexcept(std::is_nothrow_constructible_v<T, U>)
      : value_(std::forward<U>(value)), has_value_(true) {}

  template <class... Args>
    requires std::is_constructible_v<T, Args...>
  explicit Result(std::in_place_t, Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>)
      : value_(std::forward<Args>(args)...), has_value_(true) {}

  template <class E, class... Args>
    requires std::is_constructible_v<T, std::initializer_list<E>&, Args...>
  explicit Result(std::in_place_t, std::initializer_list<E> list, Args&&... args) noexcept(
      std::is_nothrow_constructible_v<T, std::initializer_list<E>&, Args...>)
      : value_(list, std::forward<Args>(args)...), has_value_(true) {}

  // An error (an empty one becomes std::errc::invalid_argument: see the top).
  Result(std::error_code error) noexcept  // NOLINT(google-explicit-constructor)
      : error_(detail::nonempty_error(error)) {}
  Result(Errc error) noexcept : Result(make_error_code(error)) {}  // NOLINT(google-explicit-constructor)

  // From a Result of another type, converting the value (as std::expected's
  // converting constructors: explicit when U does not convert implicitly).
  template <class U>
    requires std::is_constructible_v<T, const U&> && detail::not_built_from_result<T, U>
  explicit(!std::is_convertible_v<const U&, T>) Result(const Result<U>& other) noexcept(
      std::is_nothrow_constructible_v<T, const U&>)
      : has_value_(other.has_value_) {
    if (has_value_) {
      std::construct_at(std::addressof(value_), other.value_);
    } else {
      std::construct_at(std::addressof(error_), other.error_);
    }
  }
  template <class U>
    requires std::is_constructible_v<T, U> && detail::not_built_from_result<T, U>
  explicit(!std::is_convertible_v<U, T>) Result(Result<U>&& other) noexcept(std::is_nothrow_constructible_v<T, U>)
      : has_value_(other.has_value_) {
    if (has_value_) {
      std::construct_at(std::addressof(value_), std::move(other.value_));
    } else {
      std::construct_at(std::addressof(error_), other.error_);
    }
  }

  Result(const Result& other) noexcept(std::is_nothrow_copy_constructible_v<T>)
    requires std::is_copy_constructible_v<T>
      : has_value_(other.has_value_) {
    if (has_value_) {
      std::construct_at(std::addressof(value_), other.value_);
    } else {
      std::construct_at(std::addressof(error_), other.error_);
    }
  }

  Result(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
    requires std::is_move_constructible_v<T>
      : has_value_(other.has_value_) {
    if (has_value_) {
      std::construct_at(std::addressof(value_), std::move(other.value_));
    } else {
      std::construct_at(std::addressof(error_), other.error_);
    }
  }

  // Assignments give the strong guarantee when an error is replaced by a
  // value whose construction throws (the error stays), and otherwise T's.
  Result& operator=(const Result& other) noexcept(std::is_nothrow_copy_constructible_v<T> &&
                                                  std::is_nothrow_copy_assignable_v<T>)
    requires std::is_copy_constructible_v<T> && std::is_copy_assignable_v<T>
  {
    assign(other);
    return *this;
  }

  Result& operator=(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T> &&
                                             std::is_nothrow_move_assignable_v<T>)
    requires std::is_move_constructible_v<T> && std::is_move_assignable_v<T>
  {
    assign(std::move(other));
    return *this;
  }

  template <class U = std::remove_cv_t<T>>
    requires(!std::is_same_v<std::remove_cvref_t<U>, Result>) && (!detail::is_result<std::remove_cvref_t<U>>) &&
            (!detail::result_error<U>) && (!std::is_same_v<std::remove_cvref_t<U>, std::in_place_t>) &&
            std::is_constructible_v<T, U> && std::is_assignable_v<T&, U>
  Result& operator=(U&& value) noexcept(std::is_nothrow_constructible_v<T, U> && std::is_nothrow_assignable_v<T&, U>) {
    if (has_value_) {
      value_ = std::forward<U>(value);
    } else {
      construct_value(std::forward<U>(value));
    }
    return *this;
  }

  Result& operator=(std::error_code error) noexcept {
    set_error(detail::nonempty_error(error));
    return *this;
  }
  Result& operator=(Errc error) noexcept { return *this = make_error_code(error); }

  ~Result() {
    if (has_value_) std::destroy_at(std::addressof(value_));
  }

  // Replaces whatever is held by a T built from `args`.
  template <class... Args>
    requires std::is_nothrow_constructible_v<T, Args...>
  T& emplace(Args&&... args) noexcept {
    if (has_value_) std::destroy_at(std::addressof(value_));
    std::construct_at(std::addressof(value_), std::forward<Args>(args)...);
    has_value_ = true;
    return value_;
  }

  // If moving the value out throws, *this keeps its error and `other` its
  // (possibly moved-from) value.
  void swap(Result& other) noexcept(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_swappable_v<T>)
    requires std::is_move_constructible_v<T> && std::is_swappable_v<T>
  {
    if (has_value_ && other.has_value_) {
      using std::swap;
      swap(value_, other.value_);
    } else if (!has_value_ && !other.has_value_) {
      std::swap(error_, other.error_);
    } else if (has_value_) {
      other.swap(*this);
    } else {
      const std::error_code error = error_;
      construct_value(std::move(other.value_));
      other.set_error(error);
    }
  }
  friend void swap(Result& a, Result& b) noexcept(noexcept(a.swap(b)))
    requires std::is_move_constructible_v<T> && std::is_swappable_v<T>
  {
    a.swap(b);
  }

  [[nodiscard]] bool has_value() const noexcept { return has_value_; }
  [[nodiscard]] explicit operator bool() const noexcept { return has_value_; }

  // The value; throws memlog::Error holding the error when there is none.
  [[nodiscard]] T& value() & {
    throw_if_error();
    return value_;
  }
  [[nodiscard]] const T& value() const& {
    throw_if_error();
    return value_;
  }
  [[nodiscard]] T&& value() && {
    throw_if_error();
    return std::move(value_);
  }
  [[nodiscard]] const T&& value() const&& {
    throw_if_error();
    return std::move(value_);
  }

  // The error; an empty error_code while a value is held.
  [[nodiscard]] std::error_code error() const noexcept { return has_value_ ? std::error_code{} : error_; }

  // Unchecked access, as std::expected: only when has_value().
  [[nodiscard]] T& operator*() & noexcept { return value_; }
  [[nodiscard]] const T& operator*() const& noexcept { return value_; }
  [[nodiscard]] T&& operator*() && noexcept { return std::move(value_); }
  [[nodiscard]] const T&& operator*() const&& noexcept { return std::move(value_); }
  [[nodiscard]] T* operator->() noexcept { return std::addressof(value_); }
  [[nodiscard]] const T* operator->() const noexcept { return std::addressof(value_); }

  // The value, or `fallback` converted to T.
  template <class U = std::remove_cv_t<T>>
    requires std::is_copy_constructible_v<T> && std::is_convertible_v<U, T>
  [[nodiscard]] T value_or(U&& fallback) const& noexcept(std::is_nothrow_copy_constructible_v<T> &&
                                                         std::is_nothrow_convertible_v<U, T>) {
    return has_value_ ? value_ : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U = std::remove_cv_t<T>>
    requires std::is_move_constructible_v<T> && std::is_convertible_v<U, T>
  [[nodiscard]] T value_or(U&& fallback) && noexcept(std::is_nothrow_move_constructible_v<T> &&
                                                     std::is_nothrow_convertible_v<U, T>) {
    return has_value_ ? std::move(value_) : static_cast<T>(std::forward<U>(fallback));
  }

  // The error, or `fallback` while a value is held (`r.error_or({})` is
  // error() spelt as std::expected spells it).
  template <class G = std::error_code>
    requires std::is_convertible_v<G, std::error_code>
  [[nodiscard]] std::error_code error_or(G&& fallback) const
      noexcept(std::is_nothrow_convertible_v<G, std::error_code>) {
    return has_value_ ? static_cast<std::error_code>(std::forward<G>(fallback)) : error_;
  }

  // Monadic functions, as std::expected's. and_then: f(value) returns a
  // Result<U>, an error passes through. transform: f(value) returns a U (or
  // void), wrapped as Result<U>. or_else: f(error) returns a Result<T>, a value
  // passes through. transform_error: f(error) returns a new error.
  template <class F>
  [[nodiscard]] auto and_then(F&& f) & {
    return and_then_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto and_then(F&& f) const& {
    return and_then_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto and_then(F&& f) && {
    return and_then_impl(std::move(*this), std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto and_then(F&& f) const&& {
    return and_then_impl(std::move(*this), std::forward<F>(f));
  }

  template <class F>
  [[nodiscard]] auto transform(F&& f) & {
    return transform_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto transform(F&& f) const& {
    return transform_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto transform(F&& f) && {
    return transform_impl(std::move(*this), std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto transform(F&& f) const&& {
    return transform_impl(std::move(*this), std::forward<F>(f));
  }

  template <class F>
  [[nodiscard]] auto or_else(F&& f) & {
    return or_else_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto or_else(F&& f) const& {
    return or_else_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto or_else(F&& f) && {
    return or_else_impl(std::move(*this), std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto or_else(F&& f) const&& {
    return or_else_impl(std::move(*this), std::forward<F>(f));
  }

  template <class F>
  [[nodiscard]] Result transform_error(F&& f) & {
    return transform_error_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] Result transform_error(F&& f) const& {
    return transform_error_impl(*this, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] Result transform_error(F&& f) && {
    return transform_error_impl(std::move(*this), std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] Result transform_error(F&& f) const&& {
    return transform_error_impl(std::move(*this), std::forward<F>(f));
  }

  // Equal when both hold equal values or equal errors. (The left operand is
  // deduced, and must be this Result, so that nothing converts to a Result
  // to get here: with `1 == wrapper` that would recurse.)
  template <std::same_as<Result> Self, class T2>
    requires(!std::is_void_v<T2>) && requires(const T& a, const T2& b) {
      { a == b } -> std::convertible_to<bool>;
    }
  [[nodiscard]] friend bool operator==(const Self& a, const Result<T2>& b) {
    if (a.has_value() != b.has_value()) return false;
    return a.has_value() ? static_cast<bool>(*a == *b) : a.error() == b.error();
  }
  // Holds a value equal to `value`.
  template <std::same_as<Result> Self, class U>
    requires(!detail::is_result<U>) && (!detail::result_error<U>) && requires(const T& a, const U& b) {
      { a == b } -> std::convertible_to<bool>;
    }
  [[nodiscard]] friend bool operator==(const Self& a, const U& value) {
    return a.has_value() && static_cast<bool>(*a == value);
  }
  // Holds the error `error` (so never equal to an empty error_code).
  [[nodiscard]] friend bool operator==(const Result& a, const std::error_code& error) noexcept {
    return !a.has_value() && a.error_ == error;
  }
  [[nodiscard]] friend bool operator==(const Result& a, Errc error) noexcept { return a == make_error_code(error); }

 private:
  template <class>
  friend class Result;

  template <class F, class... Args>
  Result(detail::InvokeTag, F&& f, Args&&... args)
      : value_(std::invoke(std::forward<F>(f), std::forward<Args>(args)...)), has_value_(true) {}

  void throw_if_error() const {
    if (!has_value_) throw Error(error_);
  }

  // Precondition: !has_value_. If T's constructor throws, the error stays.
  template <class... Args>
  void construct_value(Args&&... args) {
    if constexpr (std::is_nothrow_constructible_v<T, Args...>) {
      std::construct_at(std::addressof(value_), std::forward<Args>(args)...);
    } else {
      // The T is built where the error was (error_code needs no destructor);
      // the error is put back if that throws.
      const std::error_code error = error_;
      try {
        std::construct_at(std::addressof(value_), std::forward<Args>(args)...);
      } catch (...) {
        std::construct_at(std::addressof(error_), error);
        throw;
      }
    }
    has_value_ = true;
  }

  // `error` is not empty.
  void set_error(std::error_code error) noexcept {
    if (has_value_) {
      std::destroy_at(std::addressof(value_));
      std::construct_at(std::addressof(error_), error);
      has_value_ = false;
    } else {
      error_ = error;
    }
  }

  template <class Other>
  void assign(Other&& other) {
    if (other.has_value_) {
      if (has_value_) {
        value_ = std::forward<Other>(other).value_;
      } else {
        construct_value(std::forward<Other>(other).value_);
      }
    } else {
      set_error(other.error_);
    }
  }

  template <class Self, class F>
  static auto and_then_impl(Self&& self, F&& f) {
    using U = std::remove_cvref_t<std::invoke_result_t<F, value_ref<Self>>>;
    static_assert(detail::is_result<U>, "memlog: and_then's function must return a memlog::Result");
    if (self.has_value_) return U(std::invoke(std::forward<F>(f), std::forward<Self>(self).value_));
    return U(self.error_);
  }

  template <class Self, class F>
  static auto transform_impl(Self&& self, F&& f) {
    using U = std::remove_cvref_t<std::invoke_result_t<F, value_ref<Self>>>;
    if constexpr (std::is_void_v<U>) {
      if (!self.has_value_) return Result<void>(self.error_);
      std::invoke(std::forward<F>(f), std::forward<Self>(self).value_);
      return Result<void>();
    } else {
      if (!self.has_value_) return Result<U>(self.error_);
      return Result<U>(detail::InvokeTag{}, std::forward<F>(f), std::forward<Self>(self).value_);
    }
  }

  template <class Self, class F>
  static auto or_else_impl(Self&& self, F&& f) {
    using G = std::remove_cvref_t<std::invoke_result_t<F, error_ref<Self>>>;
    static_assert(detail::is_result<G>, "memlog: or_else's function must return a memlog::Result");
    static_assert(std::is_same_v<typename G::value_type, T>,
                  "memlog: or_else's function must return a Result of the same value type");
    if (self.has_value_) return G(std::in_place, std::forward<Self>(self).value_);
    return G(std::invoke(std::forward<F>(f), std::forward<Self>(self).error_));
  }

  template <class Self, class F>
  static Result transform_error_impl(Self&& self, F&& f) {
    using G = std::invoke_result_t<F, error_ref<Self>>;
    static_assert(std::is_convertible_v<G, std::error_code>,
                  "memlog: transform_error's function must return a std::error_code (or an error code enum)");
    if (self.has_value_) return Result(std::in_place, std::forward<Self>(self).value_);
    return Result(static_cast<std::error_code>(std::invoke(std::forward<F>(f), std::forward<Self>(self).error_)));
  }

  // A value, or an error that is never empty: which one is has_value_.
  union {
    T value_;
    std::error_code error_;
  };
  bool has_value_ = false;
};

}  // namespace memlog
