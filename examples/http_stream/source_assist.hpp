#pragma once
// The replica server's SourceAssist (see server.cpp, --source-runs): a
// source's thread lends itself to the I/O threads after each write. A header
// of its own so that source_assist_test.cpp can check it without a server.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <iostream>
#include <mutex>
#include <optional>

namespace http_stream {

// After each write (the sources' Config::after_write) the source's thread
// runs up to `limit` handlers that are ready by then, each on its strand as
// on any I/O thread. The write has just posted the continuations of the
// streams waiting for it, and an I/O thread that sleeps takes about 25 us to
// wake on a 2 vCPU VM: most of what the replica's hop costs. The first
// clients of a record get it from the thread that wrote it; the I/O
// threads, woken as before, take the rest.
//
// While attached it holds work on the io_context: io_context::poll_one() on
// a context without outstanding work stops it, and a write that came before
// the server's first accept would have stopped the server before it served.
class SourceAssist {
 public:
  explicit SourceAssist(unsigned limit) : limit_(limit) {}
  SourceAssist(const SourceAssist&) = delete;
  SourceAssist& operator=(const SourceAssist&) = delete;

  // Attaches `io` (null: detaches; waits for a run() in progress).
  void attach(boost::asio::io_context* io) {
    const std::lock_guard lock(mu_);
    work_.reset();
    io_ = io;
    if (io_ != nullptr) work_.emplace(io_->get_executor());
  }

  // On the source's thread. An exception from a handler is reported and
  // ends that handler only, as on an I/O thread.
  void run() noexcept {
    const std::lock_guard lock(mu_);  // held while handlers run: attach() waits
    for (unsigned i = 0; io_ != nullptr && i < limit_; ++i) {
      try {
        if (io_->poll_one() == 0) return;
      } catch (const std::exception& e) {
        std::cerr << "error in a handler: " << e.what() << "\n";
      }
    }
  }

 private:
  const unsigned limit_;
  std::mutex mu_;
  boost::asio::io_context* io_ = nullptr;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
};

}  // namespace http_stream
