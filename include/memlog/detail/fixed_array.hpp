#pragma once
// A fixed-size array of non-movable objects in one allocation.
//
// std::vector needs movable elements and std::deque allocates a node per
// large element; a sharded log's shards (each a Log, which holds mutexes)
// want neither.

#include <cstddef>
#include <memory>
#include <new>

namespace memlog::detail {

template <class T>
class FixedArray {
 public:
  // Constructs `size` elements, each from `args...` (copied, not moved).
  // Strong guarantee: if a constructor throws, those built are destroyed.
  template <class... Args>
  FixedArray(std::size_t size, const Args&... args) : data_(allocator().allocate(size)), capacity_(size) {
    try {
      for (; size_ < size; ++size_) std::construct_at(data_ + size_, args...);
    } catch (...) {
      destroy();
      throw;
    }
  }

  FixedArray(const FixedArray&) = delete;
  FixedArray& operator=(const FixedArray&) = delete;
  ~FixedArray() { destroy(); }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] T& operator[](std::size_t i) noexcept { return data_[i]; }
  [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return data_[i]; }

 private:
  static std::allocator<T> allocator() noexcept { return {}; }

  void destroy() noexcept {
    while (size_ > 0) std::destroy_at(data_ + --size_);
    allocator().deallocate(data_, capacity_);
  }

  T* data_;
  std::size_t size_ = 0;      // constructed so far
  std::size_t capacity_ = 0;  // allocated
};

}  // namespace memlog::detail
