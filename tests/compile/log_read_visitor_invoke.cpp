// Log<T>::read(offset, f) calls f through std::invoke, so a pointer to member
// that satisfies the constraint also compiles in the body.
// Compiled by ctest (tests/CMakeLists.txt): must compile.

#include <memlog/memlog.hpp>

#include <string>
#include <type_traits>

namespace {

struct Event {
  int id = 0;
};

}  // namespace

int main() {
  memlog::Log<Event> events;
  (void)events.write(Event{7});
  const auto data = events.read(0, &memlog::Record<Event>::data);
  static_assert(std::is_same_v<std::remove_const_t<decltype(data)>, memlog::Result<Event>>);
  const auto header = events.read(0, &memlog::Record<Event>::metadata);

  memlog::Log<std::string> strings;
  (void)strings.write("text");
  const auto copy = strings.read(0, &memlog::RecordView<std::string>::to_record);
  static_assert(std::is_same_v<std::remove_const_t<decltype(copy)>, memlog::Result<memlog::Record<std::string>>>);

  return data->id == 7 && header->offset == 0 && copy->data == "text" ? 0 : 1;
}
