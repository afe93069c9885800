// SourceAssist (source_assist.hpp), without a server: ctest
// example.http_stream.source_assist. Exit 0 when every check holds; each
// failed check prints a line and makes the exit status 1.

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <iostream>
#include <stdexcept>

#include "source_assist.hpp"

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::cerr << "FAIL: " << what << "\n";
    ++failures;
  }
}

}  // namespace

int main() {
  using http_stream::SourceAssist;
  namespace net = boost::asio;

  {
    // A write before the server's first accept: nothing on the context yet.
    // poll_one() on a context without work stops it; attached, the assist
    // holds work, so the context keeps serving.
    net::io_context io;
    SourceAssist assist(4);
    assist.attach(&io);
    assist.run();
    check(!io.stopped(), "an assist run on a context with no work yet stopped it");
    assist.attach(nullptr);
  }
  {
    // At most `limit` ready handlers, in order; the rest stay for the I/O threads.
    net::io_context io;
    SourceAssist assist(4);
    assist.attach(&io);
    int ran = 0;
    for (int i = 0; i < 10; ++i) net::post(io, [&ran] { ++ran; });
    assist.run();
    check(ran == 4, "an assist with limit 4 did not run exactly 4 of 10 ready handlers");
    assist.attach(nullptr);
    io.poll();
    check(ran == 10, "the handlers the assist left did not stay queued");
  }
  {
    // Detached, it runs nothing.
    net::io_context io;
    SourceAssist assist(4);
    int ran = 0;
    net::post(io, [&ran] { ++ran; });
    assist.run();
    check(ran == 0, "a detached assist ran a handler");
  }
  {
    // A throwing handler ends itself only.
    net::io_context io;
    SourceAssist assist(4);
    assist.attach(&io);
    int ran = 0;
    net::post(io, [] { throw std::runtime_error("handler failed (expected by the test)"); });
    net::post(io, [&ran] { ++ran; });
    assist.run();
    check(ran == 1, "a handler after a throwing one did not run");
    assist.attach(nullptr);
  }
  if (failures == 0) std::cout << "PASS\n";
  return failures == 0 ? 0 : 1;
}
