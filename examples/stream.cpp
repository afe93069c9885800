// Streaming: one thread follows the log with a Stream while another keeps
// writing (the Go library's example_stream_test.go). The log starts at
// offset 10 with 100 records per segment; the stream starts at the latest
// offset (14) and is stopped through a std::stop_source once it has seen the
// last record, offset 19. Go cancels a context after two seconds instead; a
// stop request is deterministic and needs no sleep.

#include <memlog/memlog.hpp>

#include <cstdio>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>

namespace {

constexpr memlog::Offset log_start = 10;
constexpr std::size_t log_size = 100;
constexpr int write_records = 10;

std::string make_record(int id) { return R"({"id":)" + std::to_string(id) + R"(,"message","hello world"})"; }

// Quotes like Go's %q for printable ASCII: "..." with \" and \\ escaped.
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

int main() {
  memlog::Log<std::string> log({.start_offset = log_start, .max_segment_size = log_size});

  // write some records (offsets 10-14)
  for (int i = 0; i < write_records / 2; ++i) {
    const auto offset = log.write(make_record(i + static_cast<int>(log_start)));
    if (!offset) {
      std::printf("write: %s\n", offset.error().message().c_str());
      return 1;
    }
  }

  const memlog::Offset latest = log.range().latest;  // 14
  constexpr memlog::Offset last = log_start + write_records - 1;  // 19

  std::stop_source stop;
  std::error_code stream_error;
  std::error_code write_error;
  {
    // stream records, from latest (offset 14)
    std::jthread reader([&] {
      auto stream = log.stream(latest, stop.get_token());
      for (const auto& r : stream) {
        std::printf("Record at offset %lld says %s\n", static_cast<long long>(r.metadata.offset),
                    quote(r.data).c_str());
        if (r.metadata.offset == last) stop.request_stop();  // simulate SIGTERM: we are done
      }
      stream_error = stream.error();
    });

    // continue writing while streaming
    std::jthread writer([&] {
      for (int i = write_records / 2; i < write_records; ++i) {
        const auto offset = log.write(make_record(i + static_cast<int>(log_start)));
        if (!offset) {
          write_error = offset.error();
          stop.request_stop();  // the stream would wait for ever
          return;
        }
      }
    });
  }  // joins both

  if (write_error) {
    std::printf("write: %s\n", write_error.message().c_str());
    return 1;
  }
  std::printf("stream ended: %s\n", stream_error.message().c_str());
  return stream_error == memlog::Errc::cancelled ? 0 : 1;
}
