#pragma once
// Every form of the global operator new and delete, replaced by calls to
// three functions the including program defines:
//
//   void* memlog_test::replaced_new::allocate(std::size_t size);
//   void* memlog_test::replaced_new::allocate(std::size_t size, std::align_val_t alignment);
//   void memlog_test::replaced_new::release(void* p) noexcept;
//
// allocate() returns the block or throws (std::bad_alloc); the nothrow forms
// turn a throw into nullptr. Every form, so that no library default frees a
// block the program's allocate() did not make. Include it in exactly one
// translation unit of a program (it defines the operators), and not under
// ThreadSanitizer, whose runtime defines them itself.

#include <cstddef>
#include <new>

namespace memlog_test::replaced_new {
void* allocate(std::size_t size);
void* allocate(std::size_t size, std::align_val_t alignment);
void release(void* p) noexcept;

template <class... Args>
void* allocate_or_null(Args... args) noexcept {
  try {
    return allocate(args...);
  } catch (...) {
    return nullptr;
  }
}
}  // namespace memlog_test::replaced_new

void* operator new(std::size_t size) { return memlog_test::replaced_new::allocate(size); }
void* operator new[](std::size_t size) { return memlog_test::replaced_new::allocate(size); }
void* operator new(std::size_t size, std::align_val_t alignment) {
  return memlog_test::replaced_new::allocate(size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return memlog_test::replaced_new::allocate(size, alignment);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return memlog_test::replaced_new::allocate_or_null(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return memlog_test::replaced_new::allocate_or_null(size);
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return memlog_test::replaced_new::allocate_or_null(size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return memlog_test::replaced_new::allocate_or_null(size, alignment);
}
void operator delete(void* p) noexcept { memlog_test::replaced_new::release(p); }
void operator delete[](void* p) noexcept { memlog_test::replaced_new::release(p); }
void operator delete(void* p, std::size_t) noexcept { memlog_test::replaced_new::release(p); }
void operator delete[](void* p, std::size_t) noexcept { memlog_test::replaced_new::release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { memlog_test::replaced_new::release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { memlog_test::replaced_new::release(p); }
void operator delete(void* p, std::align_val_t) noexcept { memlog_test::replaced_new::release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { memlog_test::replaced_new::release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { memlog_test::replaced_new::release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { memlog_test::replaced_new::release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  memlog_test::replaced_new::release(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  memlog_test::replaced_new::release(p);
}
