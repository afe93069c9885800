#pragma once
// memlog::Result<T>: a value or a std::error_code, shaped like std::expected
// (C++23) so that code written against either reads the same.

#include <concepts>
#include <functional>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

#include "errors.hpp"

namespace memlog {

template <class T>
class Result {
  static_assert(!std::is_reference_v<T> && !std::is_void_v<T>, "Result<T> holds an object type");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, std::error_code>,
                "Result<std::error_code> would be ambiguous");

 public:
  using value_type = T;
  using error_type = std::error_code;

  // A value. Implicit, so that `return value;` works in a function returning Result<T>.
  template <class U = T>
    requires std::constructible_from<T, U&&> &&
             (!std::same_as<std::remove_cvref_t<U>, Result>) &&
             (!std::same_as<std::remove_cvref_t<U>, std::error_code>) &&
             (!std::same_as<std::remove_cvref_t<U>, Errc>)
  Result(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>)  // NOLINT(google-explicit-constructor)
      : has_value_(true) {
    std::construct_at(std::addressof(value_), std::forward<U>(value));
  }

  // An error. An empty error_code is a programming error and is kept as given.
  Result(std::error_code error) noexcept : error_(error) {}  // NOLINT(google-explicit-constructor)
  Result(Errc error) noexcept : error_(make_error_code(error)) {}  // NOLINT(google-explicit-constructor)

  Result(const Result& other) noexcept(std::is_nothrow_copy_constructible_v<T>)
    requires std::copy_constructible<T>
      : has_value_(other.has_value_), error_(other.error_) {
    if (has_value_) std::construct_at(std::addressof(value_), other.value_);
  }

  Result(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
      : has_value_(other.has_value_), error_(other.error_) {
    if (has_value_) std::construct_at(std::addressof(value_), std::move(other.value_));
  }

  Result& operator=(const Result& other) noexcept(std::is_nothrow_copy_constructible_v<T> &&
                                                  std::is_nothrow_copy_assignable_v<T>)
    requires std::copy_constructible<T> && std::is_copy_assignable_v<T>
  {
    assign(other);
    return *this;
  }

  Result& operator=(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T> &&
                                             std::is_nothrow_move_assignable_v<T>) {
    assign(std::move(other));
    return *this;
  }

  ~Result() { reset(); }

  [[nodiscard]] bool has_value() const noexcept { return has_value_; }
  [[nodiscard]] explicit operator bool() const noexcept { return has_value_; }

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
  [[nodiscard]] std::error_code error() const noexcept { return error_; }

  // Unchecked access, as std::expected: only when has_value().
  [[nodiscard]] T& operator*() & noexcept { return value_; }
  [[nodiscard]] const T& operator*() const& noexcept { return value_; }
  [[nodiscard]] T&& operator*() && noexcept { return std::move(value_); }
  [[nodiscard]] const T&& operator*() const&& noexcept { return std::move(value_); }
  [[nodiscard]] T* operator->() noexcept { return std::addressof(value_); }
  [[nodiscard]] const T* operator->() const noexcept { return std::addressof(value_); }

  template <class U>
  [[nodiscard]] T value_or(U&& fallback) const& {
    return has_value_ ? value_ : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  [[nodiscard]] T value_or(U&& fallback) && {
    return has_value_ ? std::move(value_) : static_cast<T>(std::forward<U>(fallback));
  }

  // Monadic helpers, as std::expected's: `f` sees the value; errors pass through.
  template <class F>
  [[nodiscard]] auto and_then(F&& f) const& {
    using R = std::remove_cvref_t<std::invoke_result_t<F, const T&>>;
    return has_value_ ? std::invoke(std::forward<F>(f), value_) : R(error_);
  }
  template <class F>
  [[nodiscard]] auto transform(F&& f) const& {
    using U = std::remove_cvref_t<std::invoke_result_t<F, const T&>>;
    return has_value_ ? Result<U>(std::invoke(std::forward<F>(f), value_)) : Result<U>(error_);
  }

  friend bool operator==(const Result& a, const Result& b)
    requires std::equality_comparable<T>
  {
    if (a.has_value_ != b.has_value_) return false;
    return a.has_value_ ? a.value_ == b.value_ : a.error_ == b.error_;
  }

 private:
  void throw_if_error() const {
    if (!has_value_) throw Error(error_);
  }

  void reset() noexcept {
    if (has_value_) std::destroy_at(std::addressof(value_));
    has_value_ = false;
  }

  template <class Other>
  void assign(Other&& other) {
    if (has_value_ && other.has_value_) {
      value_ = std::forward<Other>(other).value_;
    } else if (other.has_value_) {
      std::construct_at(std::addressof(value_), std::forward<Other>(other).value_);
      has_value_ = true;
    } else {
      reset();
    }
    error_ = other.error_;
  }

  union {
    T value_;
  };
  bool has_value_ = false;
  std::error_code error_;
};

}  // namespace memlog
