#!/usr/bin/env python3
"""Writes the starting seeds of fuzz/corpus/<target>/ (see README.md): a few deterministic inputs per target,
built with the targets' own decoders in mind (a first byte that picks a mode, then values).  Every byte
string decodes in every target, so seeds only need to point libFuzzer at the interesting modes; the corpora
grow from there (scripts/fuzz.sh run, then scripts/fuzz.sh merge).  Run: python3 fuzz/make_seeds.py"""
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def rnd(r, n):
    return bytes(r.getrandbits(8) for _ in range(n))


def hdr(req, flags, size):
    return struct.pack("<III", req, flags, size)


def main():
    r = random.Random(10)  # fixed: the seeds are reproducible
    # proto_msg: [mode][fd count][fd kinds][u64 features][num_queues][flags][hdr][u16 len][payload]
    feats = struct.pack("<Q", (1 << 20) - 1)
    for mode in range(8):
        for nfds, kinds in ((0, b""), (1, bytes([1])), (2, bytes([0, 7]))):
            body = hdr(r.randrange(1, 45), 1 | (8 if mode & 1 else 0), 8) + struct.pack("<H", 8) + rnd(r, 8)
            write("proto_msg", f"mode{mode}-fds{nfds}", bytes([mode, nfds]) + kinds + feats + bytes([2, 0]) +
                  body + rnd(r, 32))
    # SET_MEM_TABLE with one region and a memfd
    mem = struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 0x10000, 0x7f0000000000, 0)
    write("proto_msg", "set-mem-table", bytes([0, 1, 0]) + feats + bytes([2, 0]) + hdr(5, 1, len(mem)) +
          struct.pack("<H", len(mem)) + mem)
    # Random inputs of a few sizes for every target; the stateful ones start with a negotiation (byte 0 odd).
    for t, n, size, first in (("proto_msg", 8, 200, None), ("vmem_layout", 12, 300, None),
                              ("vq_ring", 16, 400, None), ("vq_rw", 12, 300, None),
                              ("dev_blk_rng", 16, 400, None), ("vub_daemon", 16, 600, 1), ("dev_net", 12, 600, None)):
        for i in range(n):
            data = bytearray(rnd(r, r.randrange(size // 4, size)))
            if first is not None:
                data[0] = first
            write(t, f"random-{i:02d}", bytes(data))
    # vq_ring: the mock driver's split and packed images (first byte 1 / 2)
    for img in (1, 2):
        for i in range(4):
            write("vq_ring", f"image{img}-{i}", bytes([img]) + rnd(r, 300))


if __name__ == "__main__":
    main()
