// A consumer of memlog::asio: one record read with async_next.
#include <memlog/asio.hpp>
#include <memlog/memlog.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>

#include <string>

int main() {
  memlog::Log<std::string> log;
  boost::asio::io_context io;
  auto stream = log.stream(0);
  std::string got;
  memlog::async_next(stream, boost::asio::bind_executor(io, [&](boost::system::error_code ec,
                                                               memlog::Record<std::string> record) {
                       if (!ec) got = record.data;
                     }));
  if (!log.write("hello")) return 1;
  io.run();
  return got == "hello" ? 0 : 1;
}
