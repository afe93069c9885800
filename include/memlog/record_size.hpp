#pragma once
// How many bytes a record's data counts against Options::max_record_size.
//
// Contiguous sized ranges (std::string, std::vector<std::byte>, ...) count
// size() * sizeof(value_type). Any other T has no size, and no size check
// applies, unless the user specialises memlog::RecordSize:
//
//   template <> struct memlog::RecordSize<Event> {
//     std::size_t operator()(const Event& e) const noexcept { return e.payload.size(); }
//   };

#include <concepts>
#include <cstddef>
#include <ranges>

namespace memlog {

template <class T>
struct RecordSize {};  // primary: no size

template <class T>
  requires std::ranges::contiguous_range<const T> && std::ranges::sized_range<const T>
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
