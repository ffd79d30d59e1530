#!/usr/bin/env python3
"""flash_mla quick start: checks correctness and prints µs / TFLOPS / GB/s per case.

    pip install --no-build-isolation .      # from the repository root
    python tests/test_flash_mla.py [--dtype bf16|fp16] [--quick] [--cases SUBSTRING ...]

On an sm_90 GPU every case is checked against a float64 PyTorch reference (computed on the GPU), then timed
two ways: eager calls between CUDA events, and CUDA-graph replay (device time), rotating several input sets
so that the 50 MB L2 cannot hold the KV cache. Host overhead is the wall time of un-synchronized eager calls
/ calls. Formulas (docs: /docs/performance.md of the project): with mean_L the mean of cache_seqlens,
    FLOP  = b · h_q · s_q · mean_L · 2 · (576 + 512)
    bytes = b · (s_q · h_q · 576 · 2 + mean_L · h_kv · 576 · 2 + s_q · h_q · 512 · 2)
TFLOPS and GB/s use the better of the eager and graph times.

Without such a GPU (or with a CPU-only build) it says so and checks the CPU backend on small cases.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from typing import List, Optional

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "python"))

import flash_mla  # noqa: E402
from mla_reference import DTYPES, PAGE, Case, compare, reference  # noqa: E402

D, DV = 576, 512


@dataclasses.dataclass
class Spec:
    b: int
    s_k: int
    h_q: int
    s_q: int = 1
    h_kv: int = 1
    causal: bool = False
    varlen: bool = True

    @property
    def name(self) -> str:
        return (f"b{self.b}_sk{self.s_k}{'v' if self.varlen else ''}_hq{self.h_q}_sq{self.s_q}"
                f"{'_hkv' + str(self.h_kv) if self.h_kv != 1 else ''}{'_causal' if self.causal else ''}")


# The cases of docs/performance.md (so numbers compare with the reference figures there).
GPU_CASES = [
    # compute-bound, h_q = 128
    *[Spec(128, sk, 128, s_q=1) for sk in (4096, 8192, 16384, 32768)],
    *[Spec(128, sk, 128, s_q=2) for sk in (4096, 8192, 16384, 32768)],
    *[Spec(128, sk, 128, s_q=1, causal=True) for sk in (4096, 16384)],
    # memory-bound, s_q = 1
    *[Spec(128, sk, h) for h in (16, 32, 64) for sk in (4096, 16384)],
    Spec(128, 1024, 16, varlen=False),
    # latency (fixed lengths unless varlen; causal flag set)
    Spec(1, 8192, 128, causal=True, varlen=False),
    Spec(8, 8192, 128, causal=True, varlen=False),
    Spec(32, 8192, 128, causal=True, varlen=False),
    Spec(1, 65536, 16, causal=True, varlen=False),
    Spec(4, 16384, 16, s_q=4, causal=True),
    Spec(64, 2048, 128, s_q=4, causal=True),
]
QUICK_NAMES = {"b128_sk4096v_hq128_sq1", "b128_sk16384v_hq16_sq1", "b1_sk8192_hq128_sq1_causal",
               "b4_sk16384v_hq16_sq4_causal", "b128_sk4096v_hq128_sq2"}

CPU_CASES = [
    Spec(2, 300, 16),
    Spec(3, 200, 8, s_q=2, causal=True),
    Spec(2, 129, 16, h_kv=2),
    Spec(1, 1000, 128, varlen=False),
    Spec(4, 64, 4, s_q=4, causal=True),
]


def make_lengths(spec: Spec, g: torch.Generator) -> List[int]:
    if not spec.varlen:
        return [spec.s_k] * spec.b
    lens = torch.normal(float(spec.s_k), spec.s_k / 2, (spec.b,), generator=g)
    return [max(int(x), spec.s_q) for x in lens.tolist()]


def make_inputs(spec: Spec, dtype: torch.dtype, device: str, seed: int) -> Case:
    """Random inputs on `device`: a shuffled block table with junk in unused entries, NaN in the tails of last
    pages, values clamp(randn / 10, ±1)."""
    g = torch.Generator().manual_seed(seed)
    lens = make_lengths(spec, g)
    pages = [math.ceil(L / PAGE) for L in lens]
    num_blocks = max(1, sum(pages))
    max_pages = max(max(pages), 1)
    gd = torch.Generator(device=device).manual_seed(seed)
    k_cache = torch.randn(num_blocks, PAGE, spec.h_kv, D, generator=gd, device=device).div_(10).clamp_(-1, 1).to(dtype)
    q = torch.randn(spec.b, spec.s_q, spec.h_q, D, generator=gd, device=device).div_(10).clamp_(-1, 1).to(dtype)
    perm = torch.randperm(num_blocks, generator=g).to(torch.int32)
    table = torch.full((spec.b, max_pages), 2**31 - 1, dtype=torch.int32)
    pos = 0
    for i, n in enumerate(pages):
        table[i, :n] = perm[pos : pos + n]
        pos += n
        tail = lens[i] % PAGE
        if n and tail:
            k_cache[int(table[i, n - 1]), tail:] = float("nan")
    return Case(spec.name, q, k_cache, table.to(device), torch.tensor(lens, dtype=torch.int32, device=device),
                spec.causal)


def flop_and_bytes(spec: Spec, mean_len: float):
    flop = spec.b * spec.h_q * spec.s_q * mean_len * 2 * (D + DV)
    nbytes = spec.b * (spec.s_q * spec.h_q * D * 2 + mean_len * spec.h_kv * D * 2 + spec.s_q * spec.h_q * DV * 2)
    return flop, nbytes


def call(c: Case, md, ns):
    return flash_mla.flash_mla_with_kvcache(c.q, c.k_cache, c.block_table, c.cache_seqlens, DV, md, ns,
                                            causal=c.causal)


def time_gpu(sets, iters: int):
    """(eager µs per call, graph µs per call, host µs per call)."""
    fns = [lambda s=s: call(s[0], s[1], s[2]) for s in sets]
    for fn in fns:
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    eager = host = float("inf")
    for _ in range(3):
        start.record()
        t0 = time.perf_counter()
        for i in range(iters):
            fns[i % len(fns)]()
        t1 = time.perf_counter()
        end.record()
        end.synchronize()
        eager = min(eager, start.elapsed_time(end) * 1e3 / iters)
        host = min(host, (t1 - t0) * 1e6 / iters)

    reps = max(1, iters // len(fns))
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(reps):
            for fn in fns:
                fn()
    graph.replay()
    torch.cuda.synchronize()
    graph_us = float("inf")
    for _ in range(5):
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        graph_us = min(graph_us, start.elapsed_time(end) * 1e3 / (reps * len(fns)))
    del graph
    return eager, graph_us, host


def ceilings():
    """Copy bandwidth (GB/s, read + write) and bf16 GEMM rate (TFLOPS) of this GPU, measured now."""
    n = 1 << 30
    a = torch.empty(n, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    b.copy_(a)
    best = float("inf")
    for _ in range(5):
        start.record()
        b.copy_(a)
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / 1e3)
    copy = 2 * n / best / 1e9
    del a, b
    m = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")
    m @ m
    times = []
    for _ in range(5):
        start.record()
        m @ m
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    gemm = 2 * 8192**3 / sorted(times)[len(times) // 2] / 1e12
    del m
    torch.cuda.empty_cache()
    return copy, gemm


def run_gpu(specs, dtype, check: bool) -> int:
    name = torch.cuda.get_device_name()
    copy, gemm = ceilings()
    print(f"{name}, torch {torch.__version__}, flash_mla {flash_mla.__version__}, dtype {dtype}")
    print(f"ceilings measured now: copy {copy:.0f} GB/s, bf16 GEMM {gemm:.0f} TFLOPS")
    header = (f"{'case':34s} {'check':>6s} {'eager us':>9s} {'graph us':>9s} {'host us':>8s} {'TFLOPS':>7s} "
              f"{'GB/s':>7s} {'of copy':>7s}")
    print(header)
    print("-" * len(header))
    failures = 0
    for idx, spec in enumerate(specs):
        first = make_inputs(spec, dtype, "cuda", seed=idx)
        set_bytes = first.k_cache.numel() * first.k_cache.element_size()
        n_sets = min(32, max(2, math.ceil(256e6 / max(set_bytes, 1))))
        sets = []
        for k in range(n_sets):
            c = first if k == 0 else make_inputs(spec, dtype, "cuda", seed=idx * 1000 + k)
            md, ns = flash_mla.get_mla_metadata(c.cache_seqlens, c.s_q * c.h_q // c.h_kv, c.h_kv)
            sets.append((c, md, ns))
        status = "-"
        if check:
            c, md, ns = sets[0]
            out, lse = call(c, md, ns)
            errors = compare(out, lse, *reference(c))
            status = "ok" if not errors else "FAIL"
            if errors:
                failures += 1
        mean_len = float(first.cache_seqlens.double().mean())
        flop, nbytes = flop_and_bytes(spec, mean_len)
        # about 20 ms of work per timing loop
        est = nbytes / (copy * 1e9) * 1e6 + 5
        iters = max(len(sets), min(2000, int(20000 / est)) // len(sets) * len(sets))
        eager, graph_us, host = time_gpu(sets, iters)
        best = min(eager, graph_us)
        tflops = flop / (best * 1e-6) / 1e12
        gbs = nbytes / (best * 1e-6) / 1e9
        print(f"{spec.name:34s} {status:>6s} {eager:9.1f} {graph_us:9.1f} {host:8.1f} {tflops:7.1f} {gbs:7.0f} "
              f"{gbs / copy:7.3f}")
        if check and status == "FAIL":
            for e in errors:
                print(f"    {e}")
        del sets, first
        torch.cuda.empty_cache()
    return failures


def run_cpu(specs, dtype) -> int:
    print(f"CPU backend, torch {torch.__version__}, flash_mla {flash_mla.__version__}, dtype {dtype}, "
          f"{torch.get_num_threads()} threads")
    header = f"{'case':34s} {'check':>6s} {'us':>10s} {'GFLOPS':>8s}"
    print(header)
    print("-" * len(header))
    failures = 0
    for idx, spec in enumerate(specs):
        c = make_inputs(spec, dtype, "cpu", seed=idx)
        t0 = time.perf_counter()
        out, lse = call(c, None, None)
        us = (time.perf_counter() - t0) * 1e6
        errors = compare(out, lse, *reference(c))
        failures += bool(errors)
        flop, _ = flop_and_bytes(spec, float(c.cache_seqlens.double().mean()))
        print(f"{spec.name:34s} {'ok' if not errors else 'FAIL':>6s} {us:10.0f} {flop / us / 1e3:8.2f}")
        for e in errors:
            print(f"    {e}")
    return failures


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    p.add_argument("--quick", action="store_true", help="a few representative cases only")
    p.add_argument("--cases", nargs="*", default=None, help="run the cases whose name contains one of these")
    p.add_argument("--no-check", action="store_true", help="timings only (GPU)")
    p.add_argument("--cpu", action="store_true", help="check the CPU backend even if a GPU is present")
    args = p.parse_args(argv)
    dtype = DTYPES[args.dtype]

    gpu_ok = (not args.cpu and torch.cuda.is_available() and torch.cuda.get_device_capability()[0] == 9
              and flash_mla._ops.built_with_cuda())
    specs = GPU_CASES if gpu_ok else CPU_CASES
    if args.quick and gpu_ok:
        specs = [s for s in specs if s.name in QUICK_NAMES]
    if args.cases:
        specs = [s for s in specs if any(k in s.name for k in args.cases)]
    if gpu_ok:
        failures = run_gpu(specs, dtype, not args.no_check)
    else:
        if not args.cpu:
            why = ("no CUDA device" if not torch.cuda.is_available()
                   else "flash_mla was built without CUDA kernels" if not flash_mla._ops.built_with_cuda()
                   else f"{torch.cuda.get_device_name()} is not an sm_90 GPU")
            print(f"No Hopper GPU to test ({why}): checking the CPU backend on small cases instead.")
        failures = run_cpu(specs, dtype)
    print(f"\n{len(specs) - failures}/{len(specs)} cases correct")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
