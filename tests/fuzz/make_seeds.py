#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_api (tests/fuzz/corpus/), once; the seeds are committed.

Seeds follow the input format that tests/fuzz/fuzz_api.cpp reads front to back (little-endian):
a mode byte (0 decode, 1 compute_schedule, 2 scalar queries), the problem, then the mutations. They
only need to start the fuzzer on interesting ground (valid calls of each kind, one of each edge);
libFuzzer finds the rest. Run: python3 tests/fuzz/make_seeds.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# Indices into kEdges of fuzz_api.cpp.
E_0, E_NEG1, E_64, E_2P31_M64, E_2P31_M63, E_I32MAX, E_I32MIN, E_2P40 = 0, 2, 9, 21, 22, 23, 24, 28
# Mutation ops (mutate() in fuzz_api.cpp) and tensors.
OP_RANK, OP_DTYPE, OP_SHAPE, OP_STRIDE, OP_NULL, OP_MISALIGN, OP_ALIAS, OP_DEVICE = 0, 1, 2, 3, 6, 7, 8, 9
Q, K, BT, SL, MD, NS, OUT_, LSE = range(8)


def u8(*v):
    return bytes(x & 0xFF for x in v)


def u16(v):
    return struct.pack("<H", v)


def decode(b, s_q, h_kv, group, lens, table, num_blocks, max_blocks, flags=0, scale=0, mutations=(), extra=b""):
    """flags: 1 causal, 2 fp16, 4 padded strides (+ a pad byte), 16 schedule tensors (+ a parts byte),
    32 lse stored as [b, s_q, h_q]. lens: ints (a length) or ('edge', index)."""
    s = u8(0, b - 1, s_q - 1, h_kv - 1, group - 1, flags)
    if flags & 4:
        s += u8(1)
    s += u8(num_blocks - 1, max_blocks)
    for L in lens:
        s += u8(255, L[1]) if isinstance(L, tuple) else u8(0) + u16(L)
    s += u8(*table) + u8(scale, 255) + struct.pack("<I", 12345)
    if flags & 16:
        s += u8(3)
    s += u8(len(mutations))
    for m in mutations:
        s += u8(*m)
    return s + extra


def schedule(lens, flags=0, hpk=16, parts=100, mutations=()):
    """flags: 1 two KV heads, 8 s_q unknown, 128 num_sm_parts = parts instead of query_num_sm_parts."""
    s = u8(1, len(lens) - 1)
    for L in lens:
        s += u8(255, L[1]) if isinstance(L, tuple) else u8(0) + u16(L)
    s += u8(flags, hpk - 1)
    if flags & 128:
        s += u8(parts - 1)
    s += u8(len(mutations))
    for m in mutations:
        s += u8(*m)
    return s + u8(0)


SEEDS = {
    "decode_basic": decode(2, 1, 1, 2, [65, 3], [0, 1, 2, 0], 4, 2),
    "decode_causal_fp16_padded": decode(2, 3, 2, 3, [130, 2], [1, 0, 2, 3, 4, 5], 6, 3, flags=1 | 2 | 4 | 16 | 32),
    "decode_empty_and_garbage_ids": decode(3, 2, 1, 1, [0, 64, 1], [250, 251, 0, 252, 3, 254], 4, 2, flags=1),
    "decode_scale_edges": decode(1, 1, 1, 1, [40], [0], 1, 1, scale=4),  # 1e38
    "decode_huge_seqlen": decode(2, 1, 1, 1, [("edge", E_2P31_M63), ("edge", E_2P31_M64)], [0, 0], 1, 1),
    "decode_negative_seqlen": decode(1, 1, 1, 1, [("edge", E_I32MIN)], [0], 1, 1),
    "decode_out_aliases_q": decode(1, 1, 1, 1, [10], [0], 1, 1, mutations=[(OUT_, 0, OP_ALIAS, Q, 0)]),
    "decode_lse_negative_stride": decode(1, 2, 1, 2, [10], [0], 1, 1, mutations=[(LSE, 1, OP_STRIDE, E_NEG1)]),
    "decode_out_overlapping_heads": decode(1, 1, 1, 2, [10], [0], 1, 1, mutations=[(OUT_, 2, OP_STRIDE, E_64)]),
    "decode_misaligned_k_null_q": decode(1, 1, 1, 1, [5], [0], 1, 1,
                                         mutations=[(K, 0, OP_MISALIGN, 1), (Q, 0, OP_NULL)]),
    "decode_huge_q_unknown_dtype": decode(1, 1, 1, 1, [5], [0], 1, 1,
                                          mutations=[(Q, 0, OP_SHAPE, E_2P40), (BT, 0, OP_DTYPE, 30)]),
    "decode_cuda_device_bad_rank": decode(1, 1, 1, 1, [5], [0], 1, 1,
                                          mutations=[(K, 0, OP_DEVICE, 1, 0), (LSE, 0, OP_RANK, E_NEG1)]),
    "schedule_basic": schedule([1, 0, 200, 4096, 64, 65]),
    "schedule_edges": schedule([("edge", E_I32MAX), ("edge", E_NEG1), ("edge", E_2P31_M63), 7], flags=128),
    "schedule_aliased_outputs": schedule([100, 100], mutations=[(NS, 0, OP_ALIAS, MD, 0)]),
    "queries": u8(2, 0, 0, 15, 1, 1, 0, 0, 0, 0, 0, 0),
}

if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds, {sum(map(len, SEEDS.values()))} bytes in {OUT}")
