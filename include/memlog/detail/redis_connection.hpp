#pragma once
// A blocking hiredis connection that a stop request interrupts, and the
// jittered backoff between attempts. Part of <memlog/redis.hpp>.
//
// Design: hiredis's blocking API waits in read(2), which a stop_token cannot
// reach. A stop callback shuts the socket down (shutdown(2), safe from any
// thread while another reads it): the read returns at once, the command
// fails, and the owner sees the stop. The descriptor is published under a
// mutex so that the callback never shuts down a descriptor that was closed
// (and perhaps reused) meanwhile.

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <random>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../errors.hpp"
#include "redis_errors.hpp"
#include "redis_reply.hpp"
#include "thread_annotations.hpp"

namespace memlog::redis::detail {

struct ContextDeleter {
  void operator()(redisContext* context) const noexcept { redisFree(context); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

// Where to connect and how (from redis::Config).
struct Endpoint {
  std::string host;
  int port = 6379;
  std::string user;
  std::string password;
  int db = 0;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds read_timeout{3000};
};

[[nodiscard]] inline timeval to_timeval(std::chrono::milliseconds ms) noexcept {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

// One connection at a time, used by one thread; interrupt() (the stop
// callback) may run on any thread.
class Link {
 public:
  explicit Link(std::stop_token stop) : stop_(std::move(stop)), callback_(stop_, Interrupt{this}) {}
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  ~Link() { close(); }

  // Connects (AUTH and SELECT when configured). Errors: Errc::cancelled
  // (memlog's) on a stop request, connection_failed, server_error (AUTH or
  // SELECT refused); `message` says more.
  [[nodiscard]] std::error_code open(const Endpoint& endpoint, std::string& message) {
    close();
    if (stop_.stop_requested()) return memlog::Errc::cancelled;
    Context context(redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, to_timeval(endpoint.connect_timeout)));
    if (context == nullptr || context->err != 0) {
      message = context == nullptr ? "cannot allocate a redis context" : context->errstr;
      return stopped_or(Errc::connection_failed);
    }
    {
      memlog::detail::MutexLock lock(mu_);
      if (stopped_) return memlog::Errc::cancelled;
      fd_ = context->fd;
    }
    context_ = std::move(context);
    if (redisSetTimeout(context_.get(), to_timeval(endpoint.read_timeout)) != REDIS_OK) {
      message = context_->errstr;
      close();
      return stopped_or(Errc::connection_failed);
    }
    if (!endpoint.password.empty()) {
      std::error_code error = endpoint.user.empty() ? command({"AUTH", endpoint.password}, message)
                                                    : command({"AUTH", endpoint.user, endpoint.password}, message);
      if (error) return error;
    }
    if (endpoint.db != 0) {
      if (std::error_code error = command({"SELECT", std::to_string(endpoint.db)}, message)) return error;
    }
    return {};
  }

  void close() noexcept {
    if (context_ == nullptr) return;
    {
      memlog::detail::MutexLock lock(mu_);
      fd_ = -1;
    }
    context_.reset();
  }

  [[nodiscard]] bool is_open() const noexcept { return context_ != nullptr; }

  // Queues a command (binary-safe arguments); send happens on receive().
  [[nodiscard]] bool append(std::initializer_list<std::string_view> args) {
    if (context_ == nullptr) return false;
    argv_.clear();
    lengths_.clear();
    for (const std::string_view arg : args) {
      argv_.push_back(arg.data());
      lengths_.push_back(arg.size());
    }
    return redisAppendCommandArgv(context_.get(), static_cast<int>(argv_.size()), argv_.data(), lengths_.data()) ==
           REDIS_OK;
  }

  // The next reply (flushing what append() queued). Null on a broken
  // connection, which is then closed: `error` is cancelled on a stop
  // request, else connection_failed.
  [[nodiscard]] Reply receive(std::error_code& error, std::string& message) {
    if (context_ == nullptr) {
      error = stopped_or(Errc::connection_failed);
      return nullptr;
    }
    void* raw = nullptr;
    if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) {
      message = context_->errstr;
      close();
      error = stopped_or(Errc::connection_failed);
      return nullptr;
    }
    error.clear();
    return Reply(static_cast<redisReply*>(raw));
  }

  // A command that must answer +OK (AUTH, SELECT).
  [[nodiscard]] std::error_code command(std::initializer_list<std::string_view> args, std::string& message) {
    if (!append(args)) return stopped_or(Errc::connection_failed);
    std::error_code error;
    const Reply reply = receive(error, message);
    if (error) return error;
    if (const auto text = error_of(reply.get())) {
      message = std::string(*text);
      return Errc::server_error;
    }
    if (reply->type != REDIS_REPLY_STATUS) {
      message = "unexpected reply";
      return Errc::bad_reply;
    }
    return {};
  }

  [[nodiscard]] const std::stop_token& stop_token() const noexcept { return stop_; }

 private:
  struct Interrupt {
    Link* link;
    void operator()() const noexcept { link->interrupt(); }
  };

  void interrupt() noexcept {
    memlog::detail::MutexLock lock(mu_);
    stopped_ = true;
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }

  [[nodiscard]] std::error_code stopped_or(Errc error) const noexcept {
    if (stop_.stop_requested()) return memlog::Errc::cancelled;
    return error;
  }

  Context context_;
  std::vector<const char*> argv_;
  std::vector<std::size_t> lengths_;
  std::stop_token stop_;
  // The open connection's descriptor (-1: none), for interrupt().
  memlog::detail::Mutex mu_;
  int fd_ MEMLOG_GUARDED_BY(mu_) = -1;
  bool stopped_ MEMLOG_GUARDED_BY(mu_) = false;
  std::stop_callback<Interrupt> callback_;  // last: may call interrupt() at once
};

// Blocks SIGPIPE on the calling thread while it lives. hiredis writes with
// write(2), which raises SIGPIPE on a connection the server closed (a
// restart): that must fail the command, not kill the process. The process's
// signal handling stays as the application set it; a SIGPIPE the thread
// raised meanwhile is taken off its pending set before the mask is restored.
class BlockSigpipe {
 public:
  BlockSigpipe() noexcept {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
  }
  BlockSigpipe(const BlockSigpipe&) = delete;
  BlockSigpipe& operator=(const BlockSigpipe&) = delete;
  ~BlockSigpipe() {
    if (!blocked_ || sigismember(&old_, SIGPIPE) == 1) return;
    sigset_t pending;
    sigemptyset(&pending);
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
      const timespec now{};
      sigtimedwait(&pipe_, nullptr, &now);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool blocked_ = false;
};

// Bounded exponential backoff with jitter: each delay is drawn uniformly
// from [d/2, d], d doubling from `initial` up to `max`; so that replicas that
// lost the same server do not all come back in the same millisecond.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, std::uint64_t seed)
      : initial_(std::max(initial, std::chrono::milliseconds(1))),
        max_(std::max(max, initial_)),
        current_(initial_),
        random_(seed != 0 ? seed : std::random_device{}()) {}

  [[nodiscard]] std::chrono::milliseconds next() {
    const auto d = current_;
    current_ = d >= max_ / 2 ? max_ : d * 2;
    std::uniform_int_distribution<std::chrono::milliseconds::rep> pick(d.count() - d.count() / 2, d.count());
    return std::chrono::milliseconds(pick(random_));
  }

  void reset() noexcept { current_ = initial_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds current_;
  std::mt19937_64 random_;
};

// Waits `delay`, or less if stop is requested; false when it was.
inline bool sleep_for(std::chrono::milliseconds delay, const std::stop_token& stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait_for(lock, stop, delay, [] { return false; });
  return !stop.stop_requested();
}

}  // namespace memlog::redis::detail
