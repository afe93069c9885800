// Whether log.read(offset, f) is well-formed is visible to a requires-
// expression: true exactly when f can be called (through std::invoke) with
// the const view_type& the log hands out. A catch-all overload that
// static_asserts would make it true for every f.
// Compiled by ctest (tests/CMakeLists.txt): must compile.

#include <memlog/memlog.hpp>

#include <cstddef>
#include <string>

namespace {

struct Event {
  int id = 0;
};

template <class Log, class F>
constexpr bool can_read = requires(const Log& log, F f) { log.read(memlog::Offset{0}, f); };

struct TakesAny {
  template <class R>
  int operator()(const R&) const;
};
struct TakesInt {
  int operator()(int) const;
};
struct TakesStringView {
  int operator()(const memlog::RecordView<std::string>&) const;
};
struct TakesStringRecord {  // what a Log<std::string> does not hand out
  int operator()(const memlog::Record<std::string>&) const;
};
struct TakesEventRecord {
  void operator()(const memlog::Record<Event>&) const;
};
struct TakesMutableEventRecord {  // the view is const
  void operator()(memlog::Record<Event>&) const;
};

using Strings = memlog::Log<std::string>;
using Events = memlog::Log<Event>;

static_assert(can_read<Strings, TakesAny>);
static_assert(can_read<Strings, TakesStringView>);
static_assert(!can_read<Strings, TakesStringRecord>);
static_assert(!can_read<Strings, TakesInt>);

static_assert(can_read<Events, TakesAny>);
static_assert(can_read<Events, TakesEventRecord>);
static_assert(!can_read<Events, TakesMutableEventRecord>);
static_assert(!can_read<Events, TakesInt>);
static_assert(!can_read<Events, TakesStringView>);

// Pointers to members are callables too.
static_assert(can_read<Events, decltype(&memlog::Record<Event>::data)>);
static_assert(can_read<Strings, decltype(&memlog::RecordView<std::string>::to_record)>);
static_assert(!can_read<Events, decltype(&memlog::RecordView<std::string>::to_record)>);

}  // namespace

int main() { return 0; }
