// Reading a log inside an event loop: a coroutine co_awaits the records of a
// stream with memlog::async_next (<memlog/asio.hpp>, Boost.Asio) while a
// producer thread writes five records and then closes the log. No thread
// blocks for the reader: between records the coroutine is suspended in the
// io_context, and each write posts its continuation there. Once it has
// delivered every record written before close(), the stream ends with
// Errc::closed, which use_awaitable throws.

#include <memlog/asio.hpp>
#include <memlog/memlog.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <cstdio>
#include <string>
#include <system_error>
#include <thread>

namespace net = boost::asio;

namespace {

constexpr memlog::Offset log_start = 10;
constexpr int write_records = 5;

net::awaitable<void> follow(memlog::Stream<std::string>& stream) {
  try {
    while (true) {
      const memlog::Record<std::string> r = co_await memlog::async_next(stream, net::use_awaitable);
      std::printf("Record at offset %lld says %s\n", static_cast<long long>(r.metadata.offset), r.data.c_str());
    }
  } catch (const boost::system::system_error& e) {
    std::printf("stream ended: %s (closed: %s)\n", e.code().message().c_str(),
                e.code() == memlog::Errc::closed ? "yes" : "no");
  }
}

}  // namespace

int main() {
  // The log and the stream outlive the io_context, which may hold a waiting
  // operation on them until it is destroyed.
  memlog::Log<std::string> log({.start_offset = log_start});
  auto stream = log.stream(log.next_offset());
  net::io_context io;  // run by this thread only
  net::co_spawn(io, follow(stream), net::detached);

  std::error_code write_error;
  std::jthread producer([&] {
    for (int i = 0; i < write_records; ++i) {
      const auto offset = log.write("event " + std::to_string(i));
      if (!offset) {
        write_error = offset.error();
        break;
      }
    }
    log.close();  // the coroutine ends after the records written so far
  });
  io.run();  // returns once the coroutine has finished
  producer.join();

  if (write_error) {
    std::printf("write: %s\n", write_error.message().c_str());
    return 1;
  }
  return stream.error() == memlog::Errc::closed ? 0 : 1;
}
