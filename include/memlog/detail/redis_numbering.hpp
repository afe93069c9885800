#pragma once
// How a Redis Streams replica numbers what it reads so that a record's
// memlog offset is the entry's add index (the number of entries added to the
// stream before it), the same on every replica. Pure logic over what Redis
// reports; <memlog/redis.hpp> states the guarantee, this file the reasoning.
//
// What Redis 7 tells (XINFO STREAM), and what each figure allows:
//   A  entries-added: entries ever added. The entry with ID G
//      (last-generated-id) is the A-th: index A - 1, whether or not it is
//      still there.
//   D  max-deleted-entry-id: the largest ID ever removed by XDEL. Trimming
//      (XTRIM, XADD MAXLEN/MINID) removes the oldest entries and leaves D
//      alone; so does nothing else but XSETID.
//   F  recorded-first-entry-id, N length. When D < F no XDEL left a hole
//      among the N entries there: F has index A - N.
// Two facts follow. (1) The entries above D that a read returns back to back
// have consecutive indexes: nothing above D was ever deleted by XDEL, and a
// trim removes a prefix, which would take the earlier of the two first.
// (2) An anchor, an entry whose index is known, fixes the index of every
// entry contiguous with it.
//
// A replica reads batches (XREAD after its last ID L) and asks XINFO STREAM
// right after each, pipelined, so the snapshot is taken after the read, never
// before. Every figure only moves one way (A, G, D, F grow, absent XSETID or
// the key being replaced), so a snapshot taken later proves what held at the
// read: D <= L then means nothing after L had been deleted by XDEL, and
// F <= L that nothing after L had been trimmed. The plan for a batch:
//   - exact so far, D <= L and F <= L: the batch follows L with no hole;
//   - else an anchor (the batch's last entry is G; or F is in the batch and
//     D < F; or, for an empty batch, L itself is G or F) gives the index of
//     the batch's entries above D; the slots between L and the first of them
//     that the entries at or below D do not fill are written as gap records,
//     after those entries (whose own place among the holes is unknowable:
//     Redis does not say where the tombstones are);
//   - else the batch is numbered densely after L and the replica is inexact
//     until an anchor comes, at which point gap records bring it back.
// A numbering never runs ahead of the truth (each record stands for a
// distinct add index, in order), so an anchor that says otherwise, or a
// snapshot with fewer entries added than the replica has read, means the key
// now holds another stream: a reset.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "../record.hpp"
#include "redis_entry.hpp"

namespace memlog::redis::detail {

// What XINFO STREAM said about the key (when it was a stream).
struct Snapshot {
  std::uint64_t length = 0;      // N
  EntryId last_generated;        // G
  EntryId max_deleted;           // D
  std::uint64_t entries_added = 0;  // A
  EntryId first;                 // F (recorded-first-entry-id); meaningful while length > 0
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

// Where a replica stands: the last ID it read (or the one right before the
// first it will read) and that entry's offset, which is its add index when
// `exact` (else at most its add index).
struct Cursor {
  EntryId id;
  Offset offset = -1;
  bool exact = true;
};

// What to write for a batch: batch[0, gap_at), then `gap` gap records, then
// batch[gap_at, size).
struct Plan {
  bool reset = false;           // the key holds another stream now: write nothing
  std::size_t gap_at = 0;
  std::uint64_t gap = 0;
  std::size_t unverified = 0;   // batch entries whose offset may differ from their add index
  bool exact = false;           // the cursor after the batch is exact
  std::int64_t lag = -1;        // entries added after the batch's last one; -1 unknown
};

namespace redis_numbering {

// The add index of `id` if the snapshot fixes it (it is G, or it is F with no
// XDEL at or above F).
[[nodiscard]] inline std::optional<std::uint64_t> anchor(const Snapshot& s, const EntryId& id) noexcept {
  if (s.entries_added == 0) return std::nullopt;
  if (id == s.last_generated) return s.entries_added - 1;
  if (s.length != 0 && s.max_deleted < s.first && id == s.first && s.length <= s.entries_added) {
    return s.entries_added - s.length;
  }
  return std::nullopt;
}

}  // namespace redis_numbering

// The plan for `batch` (IDs ascending, all above cursor.id) read after
// `cursor`, given the snapshot taken after the read (null when there is none:
// the key was missing, or the reply unusable).
[[nodiscard]] inline Plan plan_batch(const Cursor& cursor, std::span<const EntryId> batch,
                                     const Snapshot* snapshot) noexcept {
  using redis_numbering::anchor;
  Plan plan;
  const std::size_t k = batch.size();
  // Offsets are signed; the cursor's is >= -1.
  const auto next = static_cast<std::uint64_t>(cursor.offset + 1);  // the offset batch[0] gets, gaps aside
  if (snapshot == nullptr) {
    plan.exact = cursor.exact && k == 0;
    plan.unverified = k;
    return plan;
  }
  const Snapshot& s = *snapshot;
  const EntryId& last = k == 0 ? cursor.id : batch[k - 1];
  // A and G only grow: a stream that has added fewer entries than were read,
  // or never generated the last ID read, is another stream.
  if (s.last_generated < last || s.entries_added < next + k) {
    plan.reset = true;
    return plan;
  }
  const auto finish = [&](std::uint64_t written) {
    // The last index written is next + written - 1; A - 1 is the newest.
    plan.lag = static_cast<std::int64_t>(s.entries_added - (next + written));
    return plan;
  };

  if (k == 0) {
    plan.exact = cursor.exact;
    if (!cursor.exact && !cursor.id.zero()) {
      if (const auto index = anchor(s, cursor.id)) {
        // The cursor's entry is at `index`; it was written at a lower offset.
        if (*index + 1 < next) {
          plan.reset = true;
          return plan;
        }
        plan.gap = *index + 1 - next;
        plan.exact = true;
      }
    }
    return finish(plan.gap);
  }

  // Nothing after the cursor was deleted or trimmed before the read.
  if (cursor.exact && s.max_deleted <= cursor.id && s.length != 0 && s.first <= cursor.id) {
    plan.exact = true;
    return finish(k);
  }

  // The cursor's own entry as an anchor: D < F = L, so the batch follows it
  // with no hole; the cursor was numbered low by what the gap makes up.
  if (!cursor.id.zero()) {
    if (const auto index = anchor(s, cursor.id); index && s.max_deleted < cursor.id) {
      if (*index + 1 < next) {
        plan.reset = true;
        return plan;
      }
      plan.gap = *index + 1 - next;
      plan.exact = true;
      return finish(k + plan.gap);
    }
  }

  // An anchor in the batch: its last entry is G, or F (with D < F) is in it.
  std::optional<std::size_t> at;
  std::uint64_t index = 0;
  if (batch[k - 1] == s.last_generated) {
    at = k - 1;
    index = s.entries_added - 1;
  } else if (s.length != 0 && s.max_deleted < s.first) {
    const auto found = std::lower_bound(batch.begin(), batch.end(), s.first);
    if (found != batch.end() && *found == s.first) {
      at = static_cast<std::size_t>(found - batch.begin());
      index = *anchor(s, s.first);
    }
  }
  if (!at) {
    plan.exact = false;
    plan.unverified = k;
    return finish(k);
  }
  // The entries above D are contiguous with the anchor; the first of them
  // (or the anchor itself, when it is at or below D) starts the exact part.
  const auto above = static_cast<std::size_t>(
      std::upper_bound(batch.begin(), batch.end(), s.max_deleted) - batch.begin());
  const std::size_t m = *at >= above ? above : *at;
  const std::uint64_t first_exact = index - (*at - m);
  // Slots between the cursor and batch[m]: batch[0, m) fill m of them.
  if (first_exact < next + m) {
    plan.reset = true;
    return plan;
  }
  plan.gap = first_exact - next - m;
  plan.gap_at = m;
  // With no gap the m entries fill the slots exactly; with one, where they
  // sit among the holes is unknown.
  plan.unverified = plan.gap != 0 ? m : 0;
  plan.exact = true;
  return finish(k + plan.gap);
}

}  // namespace memlog::redis::detail
