// Linked into every program that loads librdkafka (test_kafka, and the
// http_stream server and kafka_mock) in ThreadSanitizer builds only (their
// CMakeLists.txt add it then).
//
// Debian's librdkafka creates its threads and locks its mutexes through C11
// <threads.h> (thrd_create, mtx_lock, cnd_wait, ...), which glibc implements
// on its internal pthread functions and which Clang 14's TSan does not
// intercept: a librdkafka thread is unknown to TSan, whose allocator then
// crashes in it, and librdkafka's locking is invisible. This file defines
// those functions (the executable's definitions take precedence for
// librdkafka.so), forwarding to the pthread calls TSan does intercept.
// glibc's thrd_t, mtx_t, cnd_t and once_flag are pthread_t,
// pthread_mutex_t, pthread_cond_t and pthread_once_t in layout (glibc's own
// C11 functions cast them so).
#include <pthread.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <new>

namespace {
// glibc's values of the C11 enumerations.
constexpr int thrd_success = 0;
constexpr int thrd_busy = 1;
constexpr int thrd_error = 2;
constexpr int thrd_nomem = 3;
constexpr int thrd_timedout = 4;
constexpr int mtx_recursive = 1;

int c11_result(int pthread_error) {
  switch (pthread_error) {
    case 0: return thrd_success;
    case EBUSY: return thrd_busy;
    case ENOMEM:
    case EAGAIN: return thrd_nomem;
    case ETIMEDOUT: return thrd_timedout;
    default: return thrd_error;
  }
}

struct C11Start {
  int (*function)(void*);
  void* argument;
};

void* c11_trampoline(void* raw) {
  const C11Start start = *static_cast<C11Start*>(raw);
  delete static_cast<C11Start*>(raw);
  return reinterpret_cast<void*>(static_cast<std::intptr_t>(start.function(start.argument)));
}
}  // namespace

extern "C" {
int thrd_create(pthread_t* thread, int (*function)(void*), void* argument) {
  auto* start = new (std::nothrow) C11Start{function, argument};
  if (start == nullptr) return thrd_nomem;
  const int error = pthread_create(thread, nullptr, &c11_trampoline, start);
  if (error != 0) delete start;
  return c11_result(error);
}
int thrd_join(pthread_t thread, int* result) {
  void* value = nullptr;
  const int error = pthread_join(thread, &value);
  if (error == 0 && result != nullptr) *result = static_cast<int>(reinterpret_cast<std::intptr_t>(value));
  return c11_result(error);
}
int mtx_init(pthread_mutex_t* mutex, int type) {
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  if ((type & mtx_recursive) != 0) pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_RECURSIVE);
  const int error = pthread_mutex_init(mutex, &attributes);
  pthread_mutexattr_destroy(&attributes);
  return c11_result(error);
}
int mtx_lock(pthread_mutex_t* mutex) { return c11_result(pthread_mutex_lock(mutex)); }
int mtx_trylock(pthread_mutex_t* mutex) { return c11_result(pthread_mutex_trylock(mutex)); }
int mtx_unlock(pthread_mutex_t* mutex) { return c11_result(pthread_mutex_unlock(mutex)); }
void mtx_destroy(pthread_mutex_t* mutex) { pthread_mutex_destroy(mutex); }
int cnd_init(pthread_cond_t* condition) { return c11_result(pthread_cond_init(condition, nullptr)); }
int cnd_signal(pthread_cond_t* condition) { return c11_result(pthread_cond_signal(condition)); }
int cnd_broadcast(pthread_cond_t* condition) { return c11_result(pthread_cond_broadcast(condition)); }
int cnd_wait(pthread_cond_t* condition, pthread_mutex_t* mutex) {
  return c11_result(pthread_cond_wait(condition, mutex));
}
int cnd_timedwait(pthread_cond_t* condition, pthread_mutex_t* mutex, const timespec* deadline) {
  return c11_result(pthread_cond_timedwait(condition, mutex, deadline));
}
void cnd_destroy(pthread_cond_t* condition) { pthread_cond_destroy(condition); }
void call_once(pthread_once_t* flag, void (*function)()) { pthread_once(flag, function); }

// librdkafka is not instrumented, and hands buffers between its threads with
// reference counts in atomics TSan cannot see: its free() of a fetch buffer
// after the source copied a record out of it (and its rwlock teardown after
// its other threads' last use) look like races. ignore_noninstrumented_modules
// makes TSan not record the memory accesses of interceptors (free, memcpy,
// pthread_rwlock_destroy...) called from uninstrumented code, librdkafka's;
// their synchronisation (the mutexes above) still counts, and every access
// of memlog's, the source's and the test's own code is still checked.
// (Use of librdkafka's buffers after handing them back is ASan's to find.)
const char* __tsan_default_options() { return "ignore_noninstrumented_modules=1"; }
}
