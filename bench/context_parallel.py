#!/usr/bin/env python3
"""Context-parallel decode benchmark: N GPUs (one shard of every request's KV cache each) vs one GPU.

Run (one node, N GPUs; NOTHING here enables NVLink multicast -- do not set NCCL_NVLS_ENABLE=1):

    torchrun --nproc-per-node N bench/context_parallel.py --out bench/results/context_parallel_N.json

For every (b, s_k) of --batches x --seqlens (default b1 and b8, h_q 128, s_q 1, s_k 128k .. 1M), each rank
holds a contiguous 1/N shard of every request's cache (s_k / N tokens) and times, with CUDA events
(median of --iters, after a barrier):
    local      flash_mla_with_kvcache over the shard
    exchange   the packed all-gather of (out, lse)           [exchange="all_gather"]
    merge      merge_partial_attention over the N parts
    step       context_parallel_decode end to end, for both exchanges ("all_gather", "all_reduce")
and rank 0 alone times the one-GPU decode of the whole cache (single). Written per row: times in us,
comm_share = exchange / step, speedup = single / step, scaling_efficiency = speedup / N.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import torch.distributed as dist

import flash_mla
from flash_mla.distributed import _packed_all_gather, context_parallel_decode
from flash_mla.merge import merge_partial_attention

PAGE = 64


def timed(fn, iters, warmup=3):
    """Median time of fn() in microseconds (CUDA events around each call, all ranks in step)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        dist.barrier()
        torch.cuda.synchronize()
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        fn()
        e1.record()
        e1.synchronize()
        times.append(e0.elapsed_time(e1) * 1e3)
    return statistics.median(times)


def make_cache(b, tokens, h_kv, device, gen):
    pages = -(-tokens // PAGE)
    cache = (torch.randn((b * pages, PAGE, h_kv, 576), device=device, generator=gen, dtype=torch.float32) / 10)
    cache = cache.clamp_(-1, 1).to(torch.bfloat16)
    table = torch.arange(b * pages, device=device, dtype=torch.int32).view(b, pages)
    seqlens = torch.full((b,), tokens, device=device, dtype=torch.int32)
    return cache, table, seqlens


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--seqlens", type=int, nargs="+", default=[131072, 262144, 524288, 1048576])
    ap.add_argument("--heads", type=int, default=128)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--out", default="context_parallel.json")
    args = ap.parse_args()

    if os.environ.get("NCCL_NVLS_ENABLE") == "1":
        raise SystemExit("context_parallel.py: NCCL_NVLS_ENABLE=1 is set; this benchmark must run without NVLink "
                         "multicast (unset it)")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    dev = torch.device("cuda", local_rank)
    rows = []
    for b in args.batches:
        for s_k in args.seqlens:
            gen = torch.Generator(device=dev).manual_seed(1000 + rank)
            qgen = torch.Generator(device=dev).manual_seed(7)  # q identical on every rank
            q = (torch.randn((b, 1, args.heads, 576), device=dev, generator=qgen) / 10).clamp_(-1, 1).to(torch.bfloat16)
            local = s_k // world + (1 if rank < s_k % world else 0)
            cache, table, seqlens = make_cache(b, local, 1, dev, gen)
            meta, splits = flash_mla.get_mla_metadata(seqlens, args.heads, 1)

            def run_local():
                return flash_mla.flash_mla_with_kvcache(q, cache, table, seqlens, 512, meta, splits)

            out, lse = run_local()
            t_local = timed(run_local, args.iters)
            t_exchange = timed(lambda: _packed_all_gather(out, lse, None), args.iters) if world > 1 else 0.0
            outs, lses = _packed_all_gather(out, lse, None) if world > 1 else (out[None], lse[None])
            t_merge = timed(lambda: merge_partial_attention(outs, lses), args.iters)
            steps = {}
            for ex in ("all_gather", "all_reduce"):
                steps[ex] = timed(lambda: context_parallel_decode(q, cache, table, seqlens, 512, meta, splits,
                                                                  exchange=ex), args.iters)
            del cache, table
            torch.cuda.empty_cache()

            # One GPU, the whole cache: rank 0 alone (the others wait).
            t_single = 0.0
            if rank == 0:
                fc, ft, fs = make_cache(b, s_k, 1, dev, gen)
                fmeta, fsplits = flash_mla.get_mla_metadata(fs, args.heads, 1)
                fn = lambda: flash_mla.flash_mla_with_kvcache(q, fc, ft, fs, 512, fmeta, fsplits)  # noqa: E731
                for _ in range(3):
                    fn()
                ts = []
                for _ in range(args.iters):
                    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    e0.record()
                    fn()
                    e1.record()
                    e1.synchronize()
                    ts.append(e0.elapsed_time(e1) * 1e3)
                t_single = statistics.median(ts)
                del fc, ft
                torch.cuda.empty_cache()
            dist.barrier()
            # Every rank's times; the row reports the slowest rank (the step waits for it).
            vals = torch.tensor([t_local, t_exchange, t_merge, steps["all_gather"], steps["all_reduce"]], device=dev)
            dist.all_reduce(vals, op=dist.ReduceOp.MAX)
            t_local, t_exchange, t_merge, t_ag, t_ar = vals.tolist()
            if rank == 0:
                best = min(t_ag, t_ar)
                row = {
                    "b": b, "h_q": args.heads, "s_q": 1, "s_k": s_k, "gpus": world,
                    "local_us": t_local, "exchange_us": t_exchange, "merge_us": t_merge,
                    "step_all_gather_us": t_ag, "step_all_reduce_us": t_ar, "single_gpu_us": t_single,
                    "comm_share_all_gather": t_exchange / t_ag if t_ag > 0 else 0.0,
                    "speedup": t_single / best if best > 0 else 0.0,
                    "scaling_efficiency": t_single / best / world if best > 0 else 0.0,
                    "exchange_bytes_per_rank": (world - 1) * (out.numel() * 2 + lse.numel() * 4),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    if rank == 0:
        result = {
            "benchmark": "context_parallel_decode",
            "device": torch.cuda.get_device_name(dev),
            "gpus": world,
            "nccl": ".".join(map(str, torch.cuda.nccl.version())),
            "torch": torch.__version__,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "rows": rows,
        }
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.out}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
