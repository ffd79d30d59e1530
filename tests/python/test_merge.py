"""flash_mla.merge_partial_attention and flash_mla.distributed (CPU; CUDA cases skip without a GPU).

* the op against the formula written in torch (float64), on stacked and list inputs, strided views,
  empty parts whose outs are NaN (+inf and -inf lses), all-empty rows, bf16/fp16/fp32;
* errors (TypeError for dtypes, ValueError for shapes), the fake implementation (FakeTensorMode);
* context-parallel decode with the gloo backend: world_size 1 in this process, and 2 spawned processes
  (contiguous and interleaved token shards, both exchanges) against the decode of the whole cache.
"""

from __future__ import annotations

import math
import os
import socket
import tempfile

import pytest
import torch

import flash_mla  # noqa: F401  (loads the op library)
from flash_mla.merge import merge_partial_attention

CUDA = torch.cuda.is_available()


def reference(outs: torch.Tensor, lses: torch.Tensor):
    """The spec's formula in float64: empty parts (+-inf) skipped, all empty -> out 0, lse +inf."""
    o = outs.double()
    l = lses.double()  # [n, b, h, s]
    live = torch.isfinite(l)
    m = torch.where(live, l, torch.full_like(l, -math.inf)).amax(0)
    any_live = torch.isfinite(m)
    m0 = torch.where(any_live, m, torch.zeros_like(m))
    e = torch.where(live, torch.exp(l - m0), torch.zeros_like(l))
    s = e.sum(0)
    lse = torch.where(any_live, m0 + torch.log(torch.where(any_live, s, torch.ones_like(s))),
                      torch.full_like(m, math.inf))
    w = e / torch.where(any_live, s, torch.ones_like(s))  # [n, b, h, s]
    wt = w.permute(0, 1, 3, 2).unsqueeze(-1)  # [n, b, s, h, 1]
    out = torch.where(wt > 0, o * wt, torch.zeros((), dtype=torch.float64)).sum(0)
    return out, lse


def make_parts(n, b, s_q, h_q, dv, dtype, empty=0.3, neg_inf=False, device="cpu"):
    outs = (torch.randn(n, b, s_q, h_q, dv) / 10).clamp(-1, 1).to(dtype)
    lses = (torch.rand(n, b, h_q, s_q) * 16 - 8).float()
    mask = torch.rand(n, b, h_q, s_q) < empty
    lses[mask] = -math.inf if neg_inf else math.inf
    outs.masked_fill_(mask.permute(0, 1, 3, 2).unsqueeze(-1), float("nan"))  # never to be read
    return outs.to(device), lses.to(device)


def check(out, lse, outs, lses):
    ro, rl = reference(outs.cpu(), lses.cpu())
    tol = dict(atol=8e-4, rtol=2.01 / 128) if out.dtype != torch.float32 else dict(atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.cpu().double(), ro.to(out.dtype).double(), equal_nan=False, **tol)
    torch.testing.assert_close(lse.cpu().double(), rl.float().double(), atol=1e-6, rtol=8.01 / 65536)


DEVICES = ["cpu"] + (["cuda"] if CUDA else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_merge_matches_formula(device, n, dtype):
    outs, lses = make_parts(n, 2, 2, 5, 512, dtype, device=device)
    out, lse = merge_partial_attention(outs, lses)
    assert out.shape == (2, 2, 5, 512) and out.dtype == dtype
    assert lse.shape == (2, 5, 2) and lse.dtype == torch.float32
    check(out, lse, outs, lses)


@pytest.mark.parametrize("device", DEVICES)
def test_merge_list_input_and_neg_inf(device):
    outs, lses = make_parts(4, 3, 1, 7, 512, torch.bfloat16, neg_inf=True, device=device)
    out, lse = merge_partial_attention(list(outs.unbind(0)), list(lses.unbind(0)))
    check(out, lse, outs, lses)


@pytest.mark.parametrize("device", DEVICES)
def test_merge_strided_views(device):
    # outs stored [b, n, h, s, dv + 8], lses stored [b, s, h, n]: any strides but the last dim of outs
    base = (torch.randn(2, 3, 4, 2, 520) / 10).to(torch.bfloat16).to(device)
    outs = base[..., :512].permute(1, 0, 3, 2, 4)  # [n=3, b=2, s=2, h=4, 512]
    lbase = (torch.rand(2, 2, 4, 3) * 4).to(device)
    lses = lbase.permute(3, 0, 2, 1)  # [n, b, h, s]
    out, lse = merge_partial_attention(outs, lses)
    check(out, lse, outs, lses)


@pytest.mark.parametrize("device", DEVICES)
def test_merge_all_empty(device):
    outs, lses = make_parts(3, 2, 1, 4, 64, torch.bfloat16, empty=1.0, device=device)
    out, lse = merge_partial_attention(outs, lses)
    assert torch.all(out == 0) and torch.all(lse == math.inf)


def test_merge_errors():
    outs, lses = make_parts(2, 1, 1, 2, 512, torch.bfloat16)
    with pytest.raises(TypeError, match="lses"):
        merge_partial_attention(outs, lses.double())
    with pytest.raises(TypeError, match="outs"):
        merge_partial_attention(outs.to(torch.int32), lses)
    with pytest.raises(ValueError, match="lses"):
        merge_partial_attention(outs, lses[:, :, :1])
    with pytest.raises(ValueError):
        merge_partial_attention([], [])
    with pytest.raises(ValueError, match="outs"):
        merge_partial_attention(outs[..., :1].expand(2, 1, 1, 2, 1025), lses)  # dv 1025 > 1024


def test_merge_fake():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        outs = torch.empty(4, 2, 3, 5, 512, dtype=torch.bfloat16)
        lses = torch.empty(4, 2, 5, 3)
        out, lse = torch.ops.flash_mla.merge_partial_attention(outs, lses)
        assert out.shape == (2, 3, 5, 512) and out.dtype == torch.bfloat16
        assert lse.shape == (2, 5, 3) and lse.dtype == torch.float32


# ---- context-parallel decode (gloo) ------------------------------------------------------------------

PAGE = 64


def paged(token_rows, h_kv=1, d=576, dtype=torch.bfloat16):
    """k_cache [nb, 64, h_kv, d], block_table, cache_seqlens for per-request token rows [L_i, h_kv, d]
    (pages handed out in reverse order; unused rows NaN)."""
    pages = [max(0, -(-t.shape[0] // PAGE)) for t in token_rows]
    nb = sum(pages) + 1
    cache = torch.full((nb, PAGE, h_kv, d), float("nan"), dtype=dtype)
    table = torch.full((len(token_rows), max(pages + [1]) + 1), -1, dtype=torch.int32)
    ids = list(range(nb - 1, 0, -1))
    for i, t in enumerate(token_rows):
        for p in range(pages[i]):
            pid = ids.pop(0)
            table[i, p] = pid
            rows = t[p * PAGE:(p + 1) * PAGE]
            cache[pid, :rows.shape[0]] = rows.to(dtype)
    seqlens = torch.tensor([t.shape[0] for t in token_rows], dtype=torch.int32)
    return cache, table, seqlens


def shard_tokens(L, rank, world, layout, g):
    idx = torch.arange(L)
    if layout == "contiguous":
        starts = [(r * L // world) // g * g for r in range(world)] + [L]
        return idx[starts[rank]:starts[rank + 1]]
    return idx[(idx // g) % world == rank]


def make_problem(seed, b=3, s_q=1, h_q=8, lengths=(0, 130, 517)):
    gen = torch.Generator().manual_seed(seed)
    q = (torch.randn(b, s_q, h_q, 576, generator=gen) / 10).clamp(-1, 1).to(torch.bfloat16)
    kv = [(torch.randn(L, 1, 576, generator=gen) / 10).clamp(-1, 1) for L in lengths]
    return q, kv


def decode(q, cache, table, seqlens, causal=False):
    meta, splits = flash_mla.get_mla_metadata(seqlens, q.shape[1] * q.shape[2], 1)
    return flash_mla.flash_mla_with_kvcache(q, cache, table, seqlens, 512, meta, splits, causal=causal)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cp_worker(rank, world, init, layout, g, exchange, s_q, result_dir):
    import torch.distributed as dist

    from flash_mla.distributed import context_parallel_decode

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        q, kv = make_problem(1234, s_q=s_q)
        full_out, full_lse = decode(q, *paged(kv), causal=s_q == 1)
        mine = [t[shard_tokens(t.shape[0], rank, world, layout, g)] for t in kv]
        cache, table, seqlens = paged(mine)
        meta, splits = flash_mla.get_mla_metadata(seqlens, q.shape[1] * q.shape[2], 1)
        out, lse = context_parallel_decode(q, cache, table, seqlens, 512, meta, splits, causal=s_q == 1,
                                           exchange=exchange)
        torch.testing.assert_close(out.float(), full_out.float(), atol=1e-3, rtol=3.01 / 128)
        torch.testing.assert_close(lse, full_lse, atol=1e-5, rtol=8.01 / 65536)
        msg = "ok"
    except Exception as e:  # reported to the parent through the file
        msg = f"rank {rank}: {type(e).__name__}: {e}"
    finally:
        dist.destroy_process_group()
    with open(os.path.join(result_dir, f"r{rank}"), "w") as f:
        f.write(msg)


def test_cp_world_size_1_in_process():
    import torch.distributed as dist

    from flash_mla.distributed import context_parallel_decode

    with tempfile.TemporaryDirectory() as d:
        dist.init_process_group("gloo", init_method=f"file://{d}/init", rank=0, world_size=1)
        try:
            q, kv = make_problem(7)
            cache, table, seqlens = paged(kv)
            ref = decode(q, cache, table, seqlens)
            meta, splits = flash_mla.get_mla_metadata(seqlens, q.shape[1] * q.shape[2], 1)
            out, lse = context_parallel_decode(q, cache, table, seqlens, 512, meta, splits)
            torch.testing.assert_close(out, ref[0], atol=0, rtol=0)
            torch.testing.assert_close(lse, ref[1], atol=0, rtol=0)
            with pytest.raises(ValueError, match="causal"):
                q2 = q.expand(3, 2, 8, 576)
                context_parallel_decode(q2, cache, table, seqlens, 512, meta, splits, causal=True)
        finally:
            dist.destroy_process_group()


@pytest.mark.parametrize("layout,g,exchange,s_q", [
    ("contiguous", 64, "all_gather", 1),
    ("interleaved", 1, "all_gather", 2),
    ("interleaved", 64, "all_reduce", 1),
])
def test_cp_two_processes(layout, g, exchange, s_q):
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as d:
        init = f"tcp://127.0.0.1:{_free_port()}"
        mp.spawn(_cp_worker, args=(2, init, layout, g, exchange, s_q, d), nprocs=2, join=True)
        for r in range(2):
            with open(os.path.join(d, f"r{r}")) as f:
                assert f.read() == "ok"
