// Replays fuzz inputs without libFuzzer, so that every compiler and sanitizer
// configuration runs the seed corpus as a regular test:
//   fuzz_log_replay <file-or-directory>...
// A divergence traps (the process dies); otherwise it prints how many inputs
// ran and exits 0. An argument that does not exist, or no input at all, fails.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

bool replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", file.c_str());
    return false;
  }
  const std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  // Copy into an exactly sized buffer, as libFuzzer does, so that ASan sees overreads.
  const auto data = std::make_unique<std::uint8_t[]>(bytes.size());
  std::copy(bytes.begin(), bytes.end(), data.get());
  LLVMFuzzerTestOneInput(data.get(), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& file : files) {
        if (!replay(file)) return 1;
        ++inputs;
      }
    } else if (std::filesystem::is_regular_file(arg, ec)) {
      if (!replay(arg)) return 1;
      ++inputs;
    } else {
      std::fprintf(stderr, "no such file or directory: %s\n", argv[i]);
      return 1;
    }
  }
  if (inputs == 0) {
    std::fprintf(stderr, "usage: %s <file-or-directory>... (no inputs replayed)\n", argv[0]);
    return 1;
  }
  std::printf("replayed %zu inputs, no divergence\n", inputs);
  return 0;
}
