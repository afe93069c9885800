#pragma once
// Which segment type a Log<T> keeps its records in: byte sequences go to the
// packed ByteSegment, every other T to Segment (a vector of Record<T>).

#include "byte_segment.hpp"
#include "bytes.hpp"
#include "segment.hpp"

namespace memlog::detail {

template <class T>
struct SegmentFor {
  using type = Segment<T>;
};

template <byte_sequence T>
struct SegmentFor<T> {
  using type = ByteSegment<T>;
};

template <class T>
using segment_for_t = typename SegmentFor<T>::type;

}  // namespace memlog::detail
