#pragma once
// memlog::sharded: keys hashed onto N independent memlog::Log shards.
//
// Ordering is total within a shard (offsets are per shard, as in Go) and
// there is none across shards. Every member function is thread-safe; writes
// to different shards never contend. An idle sharded log allocates no record
// storage: each shard's segments grow only when written to.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <limits>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "detail/bytes.hpp"
#include "detail/fixed_array.hpp"
#include "errors.hpp"
#include "log.hpp"
#include "options.hpp"
#include "record.hpp"
#include "result.hpp"
#include "stream.hpp"

namespace memlog::sharded {

inline constexpr std::size_t default_shards = 1000;

struct Options {
  std::size_t shards = default_shards;  // > 1
  memlog::Options log{};                // options for every shard
};

// Maps a key to a shard index in [0, shards).
template <class S>
concept Sharder = requires(const S& s, std::string_view key, std::size_t shards) {
  { s.shard(key, shards) } -> std::convertible_to<Result<std::size_t>>;
};

// The default sharder: FNV-1a (32 bit) of the key's bytes, reduced the way
// the Go library does (int32(hash) % int32(shards), then its absolute value)
// so that a key lands on the same shard in both. Stateless, so unlike Go's
// it needs no mutex.
class FnvSharder {
 public:
  [[nodiscard]] static constexpr std::uint32_t hash(std::string_view key) noexcept {
    std::uint32_t h = 2166136261U;  // FNV-1a 32-bit offset basis
    for (const char c : key) {
      h ^= static_cast<unsigned char>(c);
      h *= 16777619U;  // FNV-1a 32-bit prime
    }
    return h;
  }

  // Errc::shard_not_found when shards is 0 (there is no shard to pick).
  [[nodiscard]] Result<std::size_t> shard(std::string_view key, std::size_t shards) const noexcept {
    if (shards == 0) return Errc::shard_not_found;
    const std::uint32_t h = hash(key);
    if (shards > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
      return static_cast<std::size_t>(h % shards);  // Go's int32(shards) would wrap here
    }
    // int32(h): two's complement reinterpretation, as Go's conversion does.
    const auto signed_hash = static_cast<std::int32_t>(h);
    std::int32_t shard = signed_hash % static_cast<std::int32_t>(shards);
    if (shard < 0) shard = -shard;  // |shard| < shards <= INT32_MAX: no overflow
    return static_cast<std::size_t>(shard);
  }
};

// One shard per listed key, in list order: key i goes to shard i.
class KeySharder {
 public:
  // A key listed twice takes its last position, and counts once, as in Go.
  explicit KeySharder(std::vector<std::string> keys) {
    shards_.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) shards_.insert_or_assign(std::move(keys[i]), i);
  }

  // Errc::too_many_keys when there are more keys than shards (checked first,
  // as in Go); Errc::shard_not_found for an unknown key.
  [[nodiscard]] Result<std::size_t> shard(std::string_view key, std::size_t shards) const {
    if (shards_.size() > shards) return Errc::too_many_keys;
    const auto it = shards_.find(key);
    if (it == shards_.end()) return Errc::shard_not_found;
    return it->second;
  }

 private:
  struct Hash {
    using is_transparent = void;
    [[nodiscard]] std::size_t operator()(std::string_view key) const noexcept {
      return std::hash<std::string_view>{}(key);
    }
  };

  // Heterogeneous lookup: shard() looks a string_view up without building a string.
  std::unordered_map<std::string, std::size_t, Hash, std::equal_to<>> shards_;
};

template <class T, Sharder S = FnvSharder>
class Log {
 public:
  using value_type = T;
  using sharder_type = S;

  // Throws std::invalid_argument naming the first invalid option.
  explicit Log(Options options = {}, S sharder = S{})
      : options_((validate(options), std::move(options))),
        sharder_(std::move(sharder)),
        shards_(options_.shards, detail::SharedOptionsTag{}, std::make_shared<const memlog::Options>(options_.log)) {}

  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Appends to the key's shard; the offset is that shard's.
  [[nodiscard]] Result<Offset> write(std::string_view key, T data) {
    const auto shard = find(key);
    if (!shard) return shard.error();
    return (*shard)->write(std::move(data));
  }

  // For byte sequences, as memlog::Log::write(bytes): appends a copy of
  // `bytes` (a string literal, a std::string_view, ...) without building a T.
  template <detail::bytes_of<T> U>
  [[nodiscard]] Result<Offset> write(std::string_view key, const U& bytes) {
    const auto shard = find(key);
    if (!shard) return shard.error();
    return (*shard)->write(bytes);
  }

  [[nodiscard]] Result<Record<T>> read(std::string_view key, Offset offset) const {
    const auto shard = find(key);
    if (!shard) return shard.error();
    return (*shard)->read(offset);
  }

  [[nodiscard]] Result<OffsetRange> range(std::string_view key) const {
    const auto shard = find(key);
    if (!shard) return shard.error();
    return (*shard)->range();
  }

  // Zero-copy read of the key's shard, as memlog::Log::read(offset, visit);
  // a sharder error comes back as the Result's error.
  template <class F>
    requires record_visitor<F, T>
  [[nodiscard]] auto read(std::string_view key, Offset offset, F&& visit) const
      -> decltype(std::declval<const memlog::Log<T>&>().read(offset, std::forward<F>(visit))) {
    const auto shard = find(key);
    if (!shard) return shard.error();
    return (*shard)->read(offset, std::forward<F>(visit));
  }

  // read_batch of the key's shard; a sharder error comes back as {0, error}.
  [[nodiscard]] ReadBatchResult read_batch(std::string_view key, Offset start, std::span<Record<T>> batch) const {
    const auto shard = find(key);
    if (!shard) return {0, shard.error()};
    return (*shard)->read_batch(start, batch);
  }

  // A stream over the key's shard. It sees every key that hashes to that
  // shard, not only `key`: to follow one key, give it a shard of its own
  // (KeySharder), or skip the records of other keys (carry the key in T).
  [[nodiscard]] Result<Stream<T>> stream(std::string_view key, Offset start, std::stop_token stop = {},
                                         StreamOptions options = {}) const& {
    const auto shard = find(key);
    if (!shard) return shard.error();
    return (*shard)->stream(start, std::move(stop), options);
  }

  // A stream of a temporary log would dangle as soon as the statement ends.
  template <class... Args>
  void stream(Args&&...) const&& {
    static_assert(detail::always_false<Args...>,
                  "memlog: stream() on a temporary sharded::Log: the log must outlive its streams");
  }

  // The sharder's answer for `key`: the index of its shard, or its error.
  [[nodiscard]] Result<std::size_t> shard_of(std::string_view key) const {
    const Result<std::size_t> index = sharder_.shard(key, shards_.size());
    if (!index) return index.error();
    if (*index >= shards_.size()) return Errc::shard_not_found;
    return *index;
  }

  // The shard at `index`, a full memlog::Log. Throws std::out_of_range if
  // index >= shards().
  [[nodiscard]] memlog::Log<T>& shard(std::size_t index) {
    if (index >= shards_.size()) throw std::out_of_range("memlog: shard index out of range");
    return shards_[index];
  }
  [[nodiscard]] const memlog::Log<T>& shard(std::size_t index) const {
    if (index >= shards_.size()) throw std::out_of_range("memlog: shard index out of range");
    return shards_[index];
  }

  // Closes every shard (see memlog::Log::close()).
  void close() noexcept {
    for (std::size_t i = 0; i < shards_.size(); ++i) shards_[i].close();
  }

  [[nodiscard]] std::size_t shards() const noexcept { return shards_.size(); }
  [[nodiscard]] const Options& options() const noexcept { return options_; }
  [[nodiscard]] const S& sharder() const noexcept { return sharder_; }

 private:
  static void validate(const Options& options) {
    if (options.shards < 2) {
      throw std::invalid_argument("memlog: sharded shards must be greater than 1");
    }
    if (options.shards > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
      throw std::invalid_argument("memlog: sharded shards must not exceed INT32_MAX");
    }
    detail::validate(options.log);
  }

  // The key's shard, or the sharder's error as is. An index the sharder
  // should not have returned (>= shards) gives Errc::shard_not_found.
  [[nodiscard]] Result<memlog::Log<T>*> find(std::string_view key) const {
    const Result<std::size_t> index = shard_of(key);
    if (!index) return index.error();
    return const_cast<memlog::Log<T>*>(&shards_[*index]);
  }

  const Options options_;
  S sharder_;
  detail::FixedArray<memlog::Log<T>> shards_;  // one allocation; shards share one Options
};

}  // namespace memlog::sharded
