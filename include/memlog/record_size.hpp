#pragma once
// How many bytes a record's data counts against Options::max_record_size.
//
// Contiguous sized ranges of trivially copyable elements (std::string,
// std::vector<std::byte>, std::vector<int>, ...) count size() *
// sizeof(value_type): their bytes are the record. A range whose elements own
// memory elsewhere (std::vector<std::string>) has no default size, since
// sizeof(element) would count neither the bytes it holds nor the allocation.
// Any other T has no size, and no size check applies, unless the user
// specialises memlog::RecordSize:
//
//   template <> struct memlog::RecordSize<Event> {
//     std::size_t operator()(const Event& e) const noexcept { return e.payload.size(); }
//   };

#include <concepts>
#include <cstddef>
#include <ranges>
#include <type_traits>

namespace memlog {

template <class T>
struct RecordSize {};  // primary: no size

template <class T>
  requires std::ranges::contiguous_range<const T> && std::ranges::sized_range<const T> &&
           std::is_trivially_copyable_v<std::ranges::range_value_t<const T>>
struct RecordSize<T> {
  [[nodiscard]] constexpr std::size_t operator()(const T& data) const
      noexcept(noexcept(std::ranges::size(data))) {
    return static_cast<std::size_t>(std::ranges::size(data)) * sizeof(std::ranges::range_value_t<const T>);
  }
};

// True when memlog can tell the size of a T, and so checks it on write.
template <class T>
concept sized_record = requires(const T& data) {
  { RecordSize<T>{}(data) } -> std::convertible_to<std::size_t>;
};

}  // namespace memlog
