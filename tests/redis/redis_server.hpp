#pragma once
// A redis-server of a test's own (tests/test_redis.cpp, bench/bench_redis.cpp):
// started on a free loopback port with a temporary directory, stopped and
// removed at the end; restartable on the same port with its data (AOF). And
// a small synchronous client to feed it.
//
// Readiness is an event, not a guess: the server's log goes to a pipe that a
// thread reads, and start() returns when the line "Ready to accept
// connections" comes (or fails when the process exits first).

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace memlog_test {

// The redis-server to run: $MEMLOG_REDIS_SERVER, else the one CMake found;
// empty when there is none.
inline std::string redis_server_binary() {
  if (const char* path = std::getenv("MEMLOG_REDIS_SERVER"); path != nullptr && *path != '\0') return path;
#ifdef MEMLOG_TEST_REDIS_SERVER
  return MEMLOG_TEST_REDIS_SERVER;
#else
  return {};
#endif
}

inline bool have_redis_server() {
  const std::string path = redis_server_binary();
  return !path.empty() && ::access(path.c_str(), X_OK) == 0;
}

// A loopback port nobody listens on right now.
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    ::close(fd);
    throw std::system_error(errno, std::generic_category(), "bind");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

class RedisServer {
 public:
  explicit RedisServer(bool append_only = true) : append_only_(append_only) {
    char pattern[] = "/tmp/memlog-redis-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    dir_ = pattern;
    for (int attempt = 0;; ++attempt) {
      port_ = free_port();
      if (launch()) break;
      if (attempt == 4) throw std::runtime_error("redis-server did not start:\n" + log_tail());
    }
  }

  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  ~RedisServer() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

  // Shuts the server down as an operator would (SIGTERM: Redis flushes its
  // AOF and exits) and waits for the process.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    reap();
  }

  // Starts it again on the same port and directory: it reloads its data.
  void restart() {
    stop();
    if (!launch()) throw std::runtime_error("redis-server did not restart:\n" + log_tail());
  }

  [[nodiscard]] std::string log_tail() const {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& line : lines_) out += line + "\n";
    return out;
  }

 private:
  // Spawns the server and waits for its readiness line; false when it
  // exited first (its port was taken, say).
  bool launch() {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    const std::string binary = redis_server_binary();
    std::vector<std::string> args = {binary,          "--port",        std::to_string(port_),
                                     "--bind",        "127.0.0.1",     "--dir",
                                     dir_.string(),   "--appendonly",  append_only_ ? "yes" : "no",
                                     "--save",        "",              "--daemonize",
                                     "no",            "--logfile",     "",
                                     "--loglevel",    "notice",        "--appendfsync",
                                     "no"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    // fork and exec rather than posix_spawn, for PR_SET_PDEATHSIG: a test
    // that crashes takes its server with it. (The signal follows the thread
    // that forked: start servers on a thread that outlives them.) Between
    // fork and exec only async-signal-safe calls.
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      const int error = errno;
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
      throw std::system_error(error, std::generic_category(), "fork");
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent is gone already
      ::dup2(pipe_fds[1], 1);
      ::dup2(pipe_fds[1], 2);
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(pipe_fds[1]);
    pid_ = pid;
    {
      std::lock_guard lock(mu_);
      ready_ = false;
      exited_ = false;
    }
    reader_ = std::thread([this, fd = pipe_fds[0]] { read_log(fd); });
    std::unique_lock lock(mu_);
    // A safety net only: readiness is signalled by the log line.
    const bool signalled = changed_.wait_for(lock, std::chrono::seconds(30), [&] { return ready_ || exited_; });
    const bool ready = signalled && ready_;
    lock.unlock();
    if (!ready) {
      if (!signalled) ::kill(pid_, SIGKILL);
      reap();
    }
    return ready;
  }

  void read_log(int fd) {
    std::string pending;
    char buffer[4096];
    while (true) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buffer, static_cast<std::size_t>(n));
      std::size_t end = 0;
      while ((end = pending.find('\n')) != std::string::npos) {
        std::string line = pending.substr(0, end);
        pending.erase(0, end + 1);
        std::lock_guard lock(mu_);
        if (line.find("Ready to accept connections") != std::string::npos) ready_ = true;
        lines_.push_back(std::move(line));
        if (lines_.size() > 40) lines_.pop_front();
        changed_.notify_all();
      }
    }
    ::close(fd);
    std::lock_guard lock(mu_);
    exited_ = true;
    changed_.notify_all();
  }

  void reap() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    if (reader_.joinable()) reader_.join();  // the pipe's end: the process is gone
  }

  bool append_only_;
  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  bool ready_ = false;
  bool exited_ = false;
  std::deque<std::string> lines_;
};

struct ReplyFree {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

// A synchronous client for feeding and inspecting the server.
class Client {
 public:
  explicit Client(int port) : context_(redisConnect("127.0.0.1", port)) {
    if (context_ == nullptr || context_->err != 0) {
      throw std::runtime_error(std::string("redis connect: ") + (context_ ? context_->errstr : "no memory"));
    }
  }

  // Runs a command; throws on a broken connection (not on an error reply).
  ReplyPtr command(const std::vector<std::string>& args) {
    append(args);
    return reply();
  }

  // Queues a command (pipelining); reply() takes the replies in order.
  void append(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    if (redisAppendCommandArgv(context_.get(), static_cast<int>(argv.size()), argv.data(), lengths.data()) !=
        REDIS_OK) {
      throw std::runtime_error("redis append failed");
    }
  }

  ReplyPtr reply() {
    void* raw = nullptr;
    if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) {
      throw std::runtime_error(std::string("redis: ") + context_->errstr);
    }
    return ReplyPtr(static_cast<redisReply*>(raw));
  }

  // The reply's text (a string, status or error reply), else "".
  static std::string text(const ReplyPtr& reply) {
    if (reply && reply->str != nullptr) return std::string(reply->str, reply->len);
    return {};
  }

  std::string xadd(const std::string& key, const std::string& id, const std::vector<std::string>& fields) {
    std::vector<std::string> args = {"XADD", key, id};
    args.insert(args.end(), fields.begin(), fields.end());
    const ReplyPtr r = command(args);
    if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error("XADD: " + text(r));
    return text(r);
  }

  long long integer(const std::vector<std::string>& args) {
    const ReplyPtr r = command(args);
    if (r->type != REDIS_REPLY_INTEGER) throw std::runtime_error(args.front() + ": " + text(r));
    return r->integer;
  }

 private:
  struct ContextFree {
    void operator()(redisContext* context) const noexcept { redisFree(context); }
  };
  std::unique_ptr<redisContext, ContextFree> context_;
};

}  // namespace memlog_test
