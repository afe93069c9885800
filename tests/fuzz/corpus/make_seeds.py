#!/usr/bin/env python3
"""Writes the named seed inputs of log/ and sharded/ (not `random` or
`mixed_run`, which are arbitrary bytes).

Each seed is spelled in terms of the decoders in fuzz_common.hpp,
fuzz_log.cpp and fuzz_sharded.cpp; when those change, change the encoders
here to match and run this again:  python3 tests/fuzz/corpus/make_seeds.py
The seeds are small, so that ctest's replay of the corpus stays fast.
"""
import pathlib

HERE = pathlib.Path(__file__).resolve().parent


def u16(v):
    return [(v >> 8) & 0xFF, v & 0xFF]


# --- decode_options (fuzz_common.hpp) --------------------------------------

def options(start=0, segment=2, record=8, spin=0, age=None, seg_bytes=None, clock=3, raw=None):
    """start: 0 | ('u8', n) | ('near_max', k) -> INT64_MAX - k | ('neg', n) -> -1 - n.
    segment: 1..8 records (or 'zero'); record: 1..24 bytes (or 'max', 'zero').
    spin: 0 or 2000 (or 'negative'). age: None, 1..64 ns, ('u16', n) -> 1 + n,
    'max', ('negative', n) -> -1 - n. seg_bytes: None, 1..64, 65536, 'max'.
    clock: the mock clock's start, 3..255 (mod 8 >= 3), or ('min', n), ('max', n)."""
    out = []
    if start == 0:
        out += [0]
    elif start[0] == 'u8':
        out += [2, start[1]]
    elif start[0] == 'near_max':
        out += [3] + u16(start[1])
    elif start[0] == 'neg':
        out += [0x87, start[1]]
    out += [0xFF if segment == 'zero' else segment - 1]
    out += [0xFF if record == 'zero' else 0xFE if record == 'max' else record - 1]
    out += [0xFF if spin == 'negative' else 3 if spin == 2000 else 0]
    if age is None:
        out += [0]
    elif age == 'max':
        out += [0x85]
    elif isinstance(age, int):
        out += [0x80, age - 1]
    elif age[0] == 'u16':
        out += [0x84] + u16(age[1])
    elif age[0] == 'negative':
        out += [0xC7, age[1]]
    if seg_bytes is None:
        out += [0]
    elif seg_bytes == 65536:
        out += [0x84]
    elif seg_bytes == 'max':
        out += [0x85]
    else:
        out += [0x80, seg_bytes - 1]
    if isinstance(clock, int):
        assert clock % 8 >= 3 and clock < 256
        out += [clock]
    elif clock[0] == 'min':
        out += [0, clock[1]]
    elif clock[0] == 'max':
        out += [1, clock[1]]
    return out


def data(length, fill=0x41):
    """decode_data: `length` <= min(record, 40) + 2 bytes; or ('chunk', i):
    the i-th size around a byte log's 64 KiB chunk (record must be 'max')."""
    if isinstance(length, tuple):
        return [0xF8 + length[1], fill]
    return [length, fill]


# pick_offset: what each mode asks about.
OFF = dict(min=0, minus1=1, max=2, before_earliest=3, earliest=4, last=5, next=6, after_next=7,
           start=8, zero=9, before_live=10, live=11)
# pick_time: its modes.
TIME = dict(min=0, max=1, now=2, cutoff=3, last_created=4, epoch=5, now_minus=6, record=7)


def stream_options(reset, spin=None):
    """decode_stream_options: reset = b % 3, spin = (b >> 2) % 16 (4: the log's)."""
    s = {None: 4, 0: 0, 2000: 1, 'negative': 2, 'overflow': 3}[spin]
    r = ['none', 'earliest', 'latest'].index(reset)
    b = 4 * s + (r - 4 * s) % 3
    assert b % 3 == r and (b >> 2) % 16 == s
    return b


def t_at(mode, arg=1):
    """A pick_time: cutoff and last_created take -1/0/+1 as arg 0/1/2;
    now_minus takes a 16-bit distance; record takes an index (the stamp
    itself), and only while the log retains a record (else it reads none)."""
    if mode in ('cutoff', 'last_created'):
        return [TIME[mode], arg]
    if mode == 'now_minus':
        return [TIME[mode]] + u16(arg)
    if mode == 'record':
        return [7] + u16(arg)  # 7 % 3 == 1: the stamp itself
    return [TIME[mode]]


# --- fuzz_log.cpp operations ------------------------------------------------

class LogOps:
    def __init__(self):
        self.b = []

    def write(self, length, fill=0x41, view=False):
        self.b += [20 if view else 0] + data(length, fill)
        return self

    def burst(self, n_byte, pace=0):
        self.b += [2, n_byte, pace]
        return self

    def read(self, off):
        self.b += [3, OFF[off]]
        return self

    def visit(self, off):
        self.b += [4, OFF[off]]
        return self

    def visit_void(self, off):
        self.b += [5, OFF[off]]
        return self

    def batch(self, off, size):
        self.b += [6, OFF[off], size]
        return self

    def offset_at(self, *t):
        self.b += [7] + t_at(*t)
        return self

    def stream(self, slot, off, reset=None, spin=None):
        """reset None: stream() without StreamOptions; else 'none', 'earliest', 'latest'."""
        if reset is None:
            self.b += [8, slot, OFF[off]]
        else:
            self.b += [28, slot, OFF[off], stream_options(reset, spin)]
        return self

    def step(self, slot, call='next'):
        self.b += [9 + 20 * ['next', 'zero', 'negative', 'past'].index(call), slot]
        return self

    def stop(self, slot):
        self.b += [12, slot]
        return self

    def move(self, src, dst):
        self.b += [13, src | (dst << 2)]
        return self

    def tick(self, n=1):
        self.b += [14, 0, n - 1]  # forward 1..64
        return self

    def age_step(self, delta=0):
        self.b += [14, 5, delta + 2]  # forward max_age + delta, delta in -2..2
        return self

    def back(self, n=1):
        self.b += [14, 10, n - 1]  # back 1..8
        return self

    def drain(self, slot, steps):
        self.b += [17, slot, steps - 1]
        return self

    def close(self):
        self.b += [18]
        return self

    def iterate(self, slot, limit):
        self.b += [19, slot, limit - 1]
        return self


def log_seeds():
    seeds = {}
    o = LogOps()
    o.write(3).write(5, 0x42, view=True).write(0).write(10)  # empty and too large refused
    o.read('earliest').read('last').read('next').read('minus1').visit('earliest').visit_void('last')
    o.batch('earliest', 4).batch('next', 2).batch('earliest', 0)
    o.stream(0, 'earliest').step(0).step(0, 'zero').step(0).step(0, 'negative')
    o.stream(1, 'next').step(1, 'zero').write(2).step(1, 'past').stop(1).step(1).move(0, 2).step(2)
    seeds['basic'] = options(segment=2, record=8) + o.b

    seeds['invalid_segment'] = options(segment='zero') + LogOps().write(1).b
    seeds['invalid_start'] = options(start=('neg', 5)) + LogOps().write(1).b
    seeds['invalid_max_age'] = options(age=('negative', 0)) + LogOps().write(1).b

    # Writes up to INT64_MAX - 1; then offset_overflow; streams at the end.
    o = LogOps()
    o.stream(0, 'max').stream(1, 'next').burst(7).write(2).write(2)
    o.read('last').read('max').step(1).drain(1, 8).step(0, 'zero').offset_at('max').offset_at('min')
    seeds['near_int64_max'] = options(start=('near_max', 5), segment=4, record='max') + o.b

    # One-record segments under streams: purged positions, each reset policy.
    o = LogOps()
    o.stream(0, 'next').stream(1, 'next', 'earliest', 0).stream(2, 'next', 'latest', 2000)
    o.stream(3, 'next', 'none', 'negative')  # invalid spin: throws
    o.burst(2).burst(2).step(0, 'zero').step(1).step(2).write(1).step(2).iterate(1, 4).drain(2, 4)
    seeds['spin_and_purge'] = options(start=('u8', 3), segment=1, record=3, spin=2000) + o.b

    # Records of sizes around the byte log's 64 KiB chunk, read back.
    o = LogOps()
    for i in range(8):
        o.write(('chunk', i), 0x41 + i, view=i % 2 == 1)
    for off in ('earliest', 'last', 'before_live', 'live'):
        o.read(off).visit(off)
    o.batch('earliest', 12)
    seeds['records_around_chunks'] = options(segment=3, record='max') + o.b

    # max_age 10 ns, 4-record segments: records expire in the middle of a
    # segment, a whole active segment expires (a write then seals it), a
    # history expires and is freed; reads, batches, range, stats and streams
    # see expired records as purged; the clock steps back.
    o = LogOps()
    o.stream(0, 'start', 'earliest').stream(1, 'start').stream(2, 'start', 'latest')
    o.write(1).tick(3).write(2).tick(3).write(3).tick(3).write(4).tick(3).write(5)
    o.read('earliest').read('live').read('before_live').visit_void('live').batch('earliest', 4)
    o.step(0).step(2).age_step(-1)  # records the streams read ahead expire.read('earliest').batch('live', 3).step(0).step(1).step(2)
    o.write(6).age_step(1).read('last').batch('earliest', 2).offset_at('now').step(0, 'zero')
    o.write(7).age_step(0).write(8).back(2).read('last').tick(5).read('last').write(1)
    o.visit_void('last').iterate(0, 8)
    seeds['max_age_expiry'] = options(segment=4, record=8, age=10) + o.b

    # Expiry at the ends of the clock's range: the cutoff saturates.
    o = LogOps()
    o.write(2).tick(1).write(3).offset_at('min').offset_at('cutoff', 0).read('earliest')
    o.b += [14, 14, 0]  # to the clock's maximum
    o.write(4).read('earliest').offset_at('now').offset_at('max').write(1)
    seeds['max_age_clock_ends'] = options(segment=2, record=8, age=('u16', 100), clock=('min', 2)) + o.b

    # max_segment_bytes 10: segments sealed by bytes before by count; a
    # record larger than the limit alone in a fresh segment; stats' bytes.
    o = LogOps()
    o.write(3).write(4).write(3).write(5).write(12).write(2).write(10).write(1).write(9)
    o.read('earliest').read('before_earliest').batch('earliest', 6).stream(0, 'start', 'earliest')
    o.drain(0, 10).write(11).write(11)
    seeds['max_segment_bytes'] = options(segment=8, record=16, seg_bytes=10) + o.b

    # Both limits at once, records bigger than max_segment_bytes expiring.
    o = LogOps()
    o.write(5).tick(2).write(6).tick(2).write(2).age_step(1).write(1).write(7).read('earliest')
    o.age_step(2).batch('earliest', 4).write(3)
    seeds['max_age_and_bytes'] = options(segment=3, record=8, age=4, seg_bytes=4) + o.b

    # offset_at before, at, between and after records, on an empty log,
    # after a purge, with the clock stepped back (stamps do not decrease).
    o = LogOps()
    o.offset_at('now').offset_at('min').offset_at('max')
    o.write(1).tick(5).write(2).tick(5).write(3).back(8).write(4).write(1).tick(20).write(2)
    for i in range(6):
        o.offset_at('record', i)
    o.b += [7, 8, 0, 2]  # mode 8: a record's stamp + 1 (between records)
    o.b += [7, 9, 0, 0]  # mode 9: a record's stamp - 1
    o.offset_at('last_created', 0).offset_at('last_created', 2).offset_at('now_minus', 12)
    o.offset_at('epoch').burst(2).offset_at('record', 0).offset_at('min')
    seeds['offset_at'] = options(segment=2, record=4) + o.b

    # close(): streams waiting and behind; writes refused (closed first, also
    # for an empty or oversized record); streams drain, then end; reads work.
    o = LogOps()
    o.write(2).write(3).stream(0, 'earliest').stream(1, 'next').stream(2, 'next', 'latest')
    o.step(0).step(1, 'zero').close().write(2).write(0).write(9, view=True)
    o.read('earliest').read('last').batch('earliest', 3).step(0).step(0).step(1).step(1)
    o.iterate(2, 3).offset_at('min').close()
    seeds['close'] = options(segment=2, record=8) + o.b
    return seeds


# --- fuzz_sharded.cpp -------------------------------------------------------

KEY_CHARS = {'a': 0, 'b': 1, '\0': 2, '\xff': 3}


def key_bytes(key):
    return [len(key)] + [KEY_CHARS[c] for c in key]


class ShardedOps:
    """Each operation names its key: an index into the listed keys (int) or a
    key spelled out (str). `fails` says which keys the sharder refuses: a
    call on one reads no offset, time or batch size."""

    def __init__(self, fails=lambda key: False):
        self.b = []
        self.fails = fails

    def _op(self, kind, key, variant=None):
        # variant % 4 == 0 decodes a key; otherwise a listed key is picked.
        if isinstance(key, int):
            v = 1 if variant is None else variant
            assert v % 4 != 0
            self.b += [kind + 12 * v, key]
        else:
            v = 0 if variant is None else variant
            assert v % 4 == 0
            self.b += [kind + 12 * v] + key_bytes(key)

    def write(self, key, length, fill=0x41):
        self._op(0, key)
        self.b += data(length, fill)
        return self

    def read(self, key, off, visitor=False):
        """Odd variants read through a visitor; a decoded key's variant is even."""
        assert isinstance(key, int) or not visitor
        self._op(2, key, (1 if visitor else 2) if isinstance(key, int) else 0)
        self.b += [] if self.fails(key) else [OFF[off]]
        return self

    def range(self, key):
        self._op(3, key)
        return self

    def stream(self, key, slot, off, reset='none'):
        self._op(4, key)
        self.b += [slot, stream_options(reset)] + ([] if self.fails(key) else [OFF[off]])
        return self

    def step(self, slot, block=True):
        self.b += [5 + (0 if block else 12), 0, slot]  # the key (decoded, empty) is unused
        return self

    def stop(self, slot):
        self.b += [7, 0, slot]
        return self

    def tick(self, n=1):
        self.b += [8, 0, 0, n - 1]
        return self

    def age_step(self, delta=0):
        self.b += [8, 0, 5, delta + 2]
        return self

    def batch(self, key, off, size):
        self._op(9, key)
        self.b += [] if self.fails(key) else [OFF[off], size]
        return self

    def shard_offset_at(self, index, *t):
        """An index past the last shard throws, and then reads no time."""
        self.b += [10, 0, index] + (t_at(*t) if t else [])
        return self

    def close_all(self):
        self.b += [11, 0]
        return self

    def close_shard(self, key):
        self._op(11, key, 1 if isinstance(key, int) else None)
        return self


def sharded_head(shards, key_sharder):
    """shards = 2 + head % 7 (unless head % 16 == 15); KeySharder when head & 0x80."""
    base = 0x80 if key_sharder else 0
    return next(h for h in range(base, base + 0x80) if h % 16 != 15 and 2 + h % 7 == shards)


def keys_bytes(keys):
    return [len(keys)] + sum((key_bytes(k) for k in keys), [])


def sharded_seeds():
    seeds = {}
    # FnvSharder over 7 shards: every call on a few keys, some colliding.
    keys = ['a', '', 'b', 'ab']
    o = ShardedOps()
    for i in range(4):
        o.write(i, 1 + i)
    o.write('ba', 2).write(0, 0).write(1, 9)  # a key not listed; an empty and a too large record
    o.read(0, 'earliest').read(1, 'last', visitor=True).read('ba', 'next').range(2).range('')
    o.stream(3, 0, 'earliest').step(0).step(0, block=False).stop(0).step(0).batch(0, 'earliest', 4)
    seeds['fnv'] = [sharded_head(7, False)] + options(segment=3, record=8) + keys_bytes(keys) + o.b

    seeds['invalid_shards'] = [0x1F] + options() + keys_bytes([]) + ShardedOps().write('a', 1).b

    # KeySharder: key i -> shard i; an unlisted key -> shard_not_found.
    keys = ['a', 'b', 'ab', '\0']
    o = ShardedOps(fails=lambda key: key == 'ba')
    for i in range(4):
        o.write(i, 2 + i).write(i, 1)
    o.write('ba', 1).read('ba', 'earliest').range('ba').stream('ba', 0, 'earliest').batch('ba', 'earliest', 2)
    o.read(2, 'earliest').read(3, 'last', visitor=True).range(1).stream(2, 0, 'earliest').step(0).step(0)
    seeds['key_sharder'] = [sharded_head(5, True)] + options(segment=2, record=8) + keys_bytes(keys) + o.b

    # A key listed twice takes its last position and counts once.
    keys = ['a', 'b', 'a']
    o = ShardedOps()
    o.write(0, 1).write(1, 2).write(2, 3).read(0, 'earliest').range(1).range(2)
    seeds['key_sharder_duplicate'] = (
        [sharded_head(3, True)] + options(segment=2, record=8) + keys_bytes(keys) + o.b)

    # ... and when that position is past the last shard: shard_not_found.
    keys = ['a', 'b', 'a']
    o = ShardedOps(fails=lambda key: key != 1)
    o.write(0, 1).write(1, 2).read(0, 'earliest').range(0).read(1, 'earliest')
    seeds['key_past_last_shard'] = (
        [sharded_head(2, True)] + options(segment=2, record=8) + keys_bytes(keys) + o.b)

    # More distinct keys than shards: every keyed call fails with too_many_keys.
    keys = ['a', 'b', 'ab', '', 'ba']
    o = ShardedOps(fails=lambda key: True)
    o.write(0, 1).read(1, 'earliest').range(2).stream(3, 0, 'earliest').batch(4, 'earliest', 2)
    seeds['too_many_keys'] = [sharded_head(4, True)] + options(segment=2, record=8) + keys_bytes(keys) + o.b

    # FnvSharder over 3 shards with max_age: shards expire on the one clock
    # independently of each other; each shard's Log answers offset_at.
    keys = ['a', 'aa', 'ba', 'b']  # shards 0, 1, 2, 0
    o = ShardedOps()
    for i in range(4):
        o.write(i, 2 + i).tick(2)
    o.write(0, 3).write(1, 4).age_step(-1).range(0).read(1, 'earliest').batch(2, 'earliest', 3)
    o.stream(0, 0, 'start', 'earliest').step(0).age_step(1).write(3, 1).range(0).step(0, block=False)
    for i in range(3):
        o.shard_offset_at(i, 'now').shard_offset_at(i, 'min').shard_offset_at(i, 'record', 0)
    o.shard_offset_at(3)  # past the last shard: throws
    seeds['max_age'] = [sharded_head(3, False)] + options(segment=2, record=8, age=8) + keys_bytes(keys) + o.b

    # KeySharder with max_segment_bytes: byte-sealed segments per key.
    keys = ['a', 'b']
    o = ShardedOps()
    for n in (3, 4, 5, 9, 2):
        o.write(0, n).write(1, 10 - n)
    o.read(0, 'earliest').read(1, 'before_earliest', visitor=True).batch(0, 'earliest', 8).range(1)
    seeds['max_segment_bytes'] = (
        [sharded_head(2, True)] + options(segment=6, record=12, seg_bytes=8) + keys_bytes(keys) + o.b)

    # close() of one shard, then of all: refused writes, streams that drain
    # and end, reads that keep working.
    keys = ['a', 'b']
    o = ShardedOps()
    o.write(0, 2).write(1, 3).stream(0, 0, 'earliest').stream(1, 1, 'next').step(0).step(1, block=False)
    o.close_shard(0).write(0, 2).write(0, 0).write(1, 2).step(0).step(0).read(0, 'earliest').step(1)
    o.close_all().write(1, 9).step(1).step(1).range(1).batch(1, 'earliest', 2)
    seeds['close'] = [sharded_head(2, True)] + options(segment=2, record=8) + keys_bytes(keys) + o.b
    return seeds


def main():
    for name, seeds in (('log', log_seeds()), ('sharded', sharded_seeds())):
        for seed, content in seeds.items():
            assert all(0 <= b < 256 for b in content), seed
            (HERE / name / seed).write_bytes(bytes(content))


if __name__ == '__main__':
    main()
