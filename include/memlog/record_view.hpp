#pragma once
// memlog::RecordView<T>: a record as the zero-copy read sees it.
//
// A log of a byte sequence (std::string, std::vector<std::byte>, any
// std::basic_string or std::vector of char, signed/unsigned char, char8_t or
// std::byte with the standard allocator) keeps the bytes of its records
// packed in per-segment storage, not as T objects. Its zero-copy read hands
// the visitor this view: the header and a std::basic_string_view (strings) or
// std::span (vectors) of the stored bytes. The view is valid only inside the
// visitor. Every other T is stored as Record<T>, and the visitor sees that.

#include <type_traits>

#include "detail/bytes.hpp"
#include "record.hpp"

namespace memlog {

template <class T>
  requires detail::byte_sequence<T>
struct RecordView {
  Header metadata;
  typename detail::ByteTraits<T>::view data;

  // An owning copy.
  [[nodiscard]] Record<T> to_record() const { return Record<T>{metadata, detail::ByteTraits<T>::make(data)}; }
};

namespace detail {
template <class T>
struct StoredView {
  using type = Record<T>;
};
template <byte_sequence T>
struct StoredView<T> {
  using type = RecordView<T>;
};
}  // namespace detail

// What Log<T>::read(offset, visitor) passes to the visitor (as a const
// reference): RecordView<T> for byte sequences, Record<T> for any other T.
template <class T>
using record_view_t = typename detail::StoredView<T>::type;

}  // namespace memlog
