// Checkpointing and resuming (the Go library's TestLog_Checkpoint_Resume,
// told as a story). memlog keeps records in memory only; the durable data is
// the source's. A reader checkpoints the offset it has processed; after a
// crash, a new log starts at that checkpoint, is refilled from the source, and
// the reader resumes. Records it sees twice are dropped by id.

#include <memlog/memlog.hpp>

#include <cstddef>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

namespace {

constexpr int source_count = 50;
constexpr std::size_t segment_size = 20;

// The durable source: 50 documents with ids 1 .. 50.
std::vector<std::string> make_source() {
  std::vector<std::string> source;
  for (int i = 0; i < source_count; ++i) {
    source.push_back(R"({"id":)" + std::to_string(i + 1) + R"(,"type":"record.created.event.v0"})");
  }
  return source;
}

int id_of(const std::string& doc) { return std::stoi(doc.substr(doc.find(':') + 1)); }

long long ll(memlog::Offset o) { return static_cast<long long>(o); }

}  // namespace

int main() {
  const std::vector<std::string> source = make_source();
  std::vector<std::string> received;  // every record the reader saw, duplicates included
  memlog::Offset checkpoint = -1;

  std::printf("source holds %d records, numbered 0-%d\n", source_count, source_count - 1);

  {
    memlog::Log<std::string> log({.start_offset = 0, .max_segment_size = segment_size});
    std::printf("1. log created: start offset 0, segment size %zu\n", segment_size);

    for (memlog::Offset i = 0; i < 20; ++i) {
      const auto offset = log.write(source[static_cast<std::size_t>(i)]);
      if (!offset || *offset != i) return 1;
    }
    std::printf("2. wrote source records 0-19 at offsets 0-19\n");

    for (memlog::Offset i = 0; i < 20; ++i) {
      const auto record = log.read(i);
      if (!record || record->metadata.offset != i) return 1;
      received.push_back(record->data);
      if (record->metadata.offset == 10) checkpoint = record->metadata.offset;
    }
    std::printf("3. reader read offsets 0-19, checkpoint at offset %lld\n", ll(checkpoint));
  }  // the log is destroyed: its records are gone
  std::printf("4. crash: the log and its 20 records are lost\n");

  memlog::Log<std::string> log({.start_offset = checkpoint, .max_segment_size = segment_size});
  for (memlog::Offset i = checkpoint; i < checkpoint + 20; ++i) {
    const auto offset = log.write(source[static_cast<std::size_t>(i)]);
    if (!offset || *offset != i) return 1;
  }
  std::printf("5. new log starts at the checkpoint: rewrote source records %lld-%lld at offsets %lld-%lld\n",
              ll(checkpoint), ll(checkpoint + 19), ll(checkpoint), ll(checkpoint + 19));

  const memlog::Offset resumed = checkpoint;
  for (memlog::Offset i = checkpoint;; ++i) {
    const auto record = log.read(i);
    if (!record) {
      if (record.error() != memlog::Errc::future_offset) return 1;
      checkpoint = i - 1;  // the last record read
      std::printf("6. reader resumed at offset %lld, read until offset %lld gave \"%s\", checkpoint at offset %lld\n",
                  ll(resumed), ll(i), record.error().message().c_str(), ll(checkpoint));
      break;
    }
    if (record->metadata.offset != i) return 1;
    received.push_back(record->data);
  }

  memlog::Offset first_written = -1;
  memlog::Offset last_written = -1;
  for (auto i = static_cast<std::size_t>(checkpoint); i < source.size(); ++i) {
    const auto offset = log.write(source[i]);
    if (!offset) return 1;
    if (first_written < 0) first_written = *offset;
    last_written = *offset;
  }
  std::printf("7. wrote source records %lld-%d at offsets %lld-%lld: older records purged\n", ll(checkpoint),
              source_count - 1, ll(first_written), ll(last_written));

  const auto slow = log.read(checkpoint);
  if (slow || slow.error() != memlog::Errc::out_of_range) return 1;
  std::printf("8. slow reader at checkpoint %lld gets \"%s\"\n", ll(checkpoint), slow.error().message().c_str());

  const auto [earliest, latest] = log.range();
  for (memlog::Offset i = earliest; i <= latest; ++i) {
    const auto record = log.read(i);
    if (!record) return 1;
    received.push_back(record->data);
  }
  std::printf("9. range is %lld-%lld: reader read those %lld records\n", ll(earliest), ll(latest),
              ll(latest - earliest + 1));

  // dedupe by id, keeping the first of each, and compare with the source
  std::set<int> seen;
  std::vector<std::string> unique;
  for (const auto& doc : received) {
    if (seen.insert(id_of(doc)).second) unique.push_back(doc);
  }
  if (unique != source) {
    std::printf("10. records lost or out of order: %zu unique of %zu received\n", unique.size(), received.size());
    return 1;
  }
  std::printf("10. reader received %zu records, %zu unique: all %d source records, in order\n", received.size(),
              unique.size(), source_count);
  return 0;
}
