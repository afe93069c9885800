#pragma once
// Which record types are byte sequences, and how to see and rebuild them.
//
// A Log of a byte sequence (std::string, std::vector<std::byte>, ...) keeps
// its records' bytes in a per-segment arena instead of one heap block per
// record: see byte_segment.hpp. Only single-byte element types qualify, so
// that the arena needs no alignment, and only std::allocator, so that
// rebuilding a record from its bytes gives back an equal value.

#include <concepts>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace memlog::detail {

template <class E>
concept byte_element = std::same_as<E, char> || std::same_as<E, signed char> || std::same_as<E, unsigned char> ||
                       std::same_as<E, char8_t> || std::same_as<E, std::byte>;

template <class T>
struct ByteTraits {};  // not a byte sequence

template <byte_element C, class Traits>
struct ByteTraits<std::basic_string<C, Traits, std::allocator<C>>> {
  using element = C;
  using view = std::basic_string_view<C, Traits>;
  static constexpr bool is_string = true;
  using type = std::basic_string<C, Traits, std::allocator<C>>;

  [[nodiscard]] static view view_of(const type& data) noexcept { return view(data); }
  [[nodiscard]] static view make_view(const C* data, std::size_t size) noexcept { return view(data, size); }
  [[nodiscard]] static type make(view bytes) { return type(bytes); }
  static void assign(type& out, view bytes) { out.assign(bytes.data(), bytes.size()); }
};

template <byte_element E>
struct ByteTraits<std::vector<E, std::allocator<E>>> {
  using element = E;
  using view = std::span<const E>;
  static constexpr bool is_string = false;
  using type = std::vector<E, std::allocator<E>>;

  [[nodiscard]] static view view_of(const type& data) noexcept { return view(data); }
  [[nodiscard]] static view make_view(const E* data, std::size_t size) noexcept { return view(data, size); }
  [[nodiscard]] static type make(view bytes) { return type(bytes.begin(), bytes.end()); }
  static void assign(type& out, view bytes) { out.assign(bytes.begin(), bytes.end()); }
};

// T is stored in an arena: a string or vector of single-byte elements.
template <class T>
concept byte_sequence = requires { typename ByteTraits<T>::element; };

// A string literal's type: an array of char or char8_t.
template <class U>
concept char_array = std::is_array_v<U> && (std::same_as<std::remove_cv_t<std::remove_extent_t<U>>, char> ||
                                            std::same_as<std::remove_cv_t<std::remove_extent_t<U>>, char8_t>);

// U is bytes that a log of T copies without building a T (write(bytes)): it
// converts to T's view and is not a T. A string literal counts only for
// strings: as a span it would include its terminating zero. A concept, not a
// requires-clause on ByteTraits<T>::view, so that naming it for a non-byte T
// is just false.
template <class U, class T>
concept bytes_of = byte_sequence<T> && !std::same_as<std::remove_cvref_t<U>, T> &&
                   std::convertible_to<const U&, typename ByteTraits<T>::view> &&
                   (ByteTraits<T>::is_string || !char_array<std::remove_cvref_t<U>>);

}  // namespace memlog::detail
