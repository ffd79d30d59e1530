"""Context-parallel decode over torch.distributed (docs/merge.md).

Each rank holds a SHARD of every request's KV cache (its own ``k_cache`` / ``block_table`` /
``cache_seqlens`` describing only its tokens, in any order: contiguous ranges or interleaved blocks);
the query ``q`` is the same on every rank. Every rank runs the ordinary local decode
(``flash_mla.flash_mla_with_kvcache`` with the metadata of ``flash_mla.get_mla_metadata`` for ITS lengths),
the ranks exchange their partial ``(out, lse)`` and each merges them with
``flash_mla.merge.merge_partial_attention``: every rank ends with the exact attention over the whole cache.

Exchange (``exchange=``):

* ``"all_gather"`` (default): out and lse packed into one byte buffer (16-byte aligned parts) and
  all-gathered in ONE collective; the merge then reads the gathered buffer in place (it accepts strided
  views). Per rank it receives (N - 1) * (2 * dv + 4) bytes per query row; exact skip semantics for
  empty shards (their out is never read).
* ``"all_reduce"``: all-gather of the lses only (4 bytes per row), local rescale
  ``out_r * exp(lse_r - lse)`` in float32, one all-reduce (sum) of float32 out: about
  2 * (N - 1) / N * 4 * dv bytes per row. Cheaper than the all-gather from N >= 5 on a bandwidth-bound
  ring; costs two collectives.

``bench/context_parallel.py`` measures both (``torchrun --nproc-per-node N``); docs/merge.md has the plan.
Nothing here sets NCCL environment variables (NVLink multicast / NVLS stays whatever the job chose).

Causal masking: with ``s_q > 1`` the end-aligned causal mask depends on each key's GLOBAL position, which
a rank's local decode cannot see, so ``causal=True`` is accepted only for ``s_q == 1`` (where it is a
no-op).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.distributed as dist

from .decode import flash_mla_with_kvcache
from .merge import merge_partial_attention

_OP = "flash_mla.distributed.context_parallel_decode"
_ALIGN = 16  # bytes: keeps every gathered part 16-byte aligned, so the merge takes its vector path


def _packed_all_gather(out: torch.Tensor, lse: torch.Tensor, group) -> Tuple[torch.Tensor, torch.Tensor]:
    """All-gathers (out, lse) of every rank in one collective; returns strided views [N, ...] of the result."""
    world = dist.get_world_size(group)
    out_bytes = out.numel() * out.element_size()
    lse_bytes = lse.numel() * 4
    lse_at = -(-out_bytes // _ALIGN) * _ALIGN
    total = -(-(lse_at + lse_bytes) // _ALIGN) * _ALIGN
    send = torch.empty(total, dtype=torch.uint8, device=out.device)
    send[:out_bytes].copy_(out.contiguous().view(-1).view(torch.uint8))
    send[lse_at:lse_at + lse_bytes].copy_(lse.contiguous().view(-1).view(torch.uint8))
    recv = torch.empty((world, total), dtype=torch.uint8, device=out.device)
    if dist.get_backend(group) == "nccl":
        dist.all_gather_into_tensor(recv, send, group=group)
    else:  # gloo (CPU): the list form
        dist.all_gather(list(recv.unbind(0)), send, group=group)
    outs = recv[:, :out_bytes].view(out.dtype).view(world, *out.shape)
    lses = recv[:, lse_at:lse_at + lse_bytes].view(torch.float32).view(world, *lse.shape)
    return outs, lses


def _all_reduce_merge(out: torch.Tensor, lse: torch.Tensor, group) -> Tuple[torch.Tensor, torch.Tensor]:
    world = dist.get_world_size(group)
    lses = torch.empty((world, *lse.shape), dtype=torch.float32, device=lse.device)
    if dist.get_backend(group) == "nccl":
        dist.all_gather_into_tensor(lses, lse.contiguous(), group=group)
    else:
        dist.all_gather(list(lses.unbind(0)), lse.contiguous(), group=group)
    live = torch.isfinite(lses)
    m = torch.where(live, lses, torch.full_like(lses, -torch.inf)).amax(0)  # [b, h, s]
    any_live = torch.isfinite(m)
    m0 = torch.where(any_live, m, torch.zeros_like(m))
    e = torch.where(live, torch.exp(lses - m0), torch.zeros_like(lses))
    s = e.sum(0)
    merged_lse = torch.where(any_live, m0 + torch.log(s), torch.full_like(m, torch.inf))
    rank = dist.get_rank(group)
    w = torch.where(any_live, e[rank] / torch.where(any_live, s, torch.ones_like(s)), torch.zeros_like(s))
    # [b, h, s] -> [b, s, h, 1]; an empty local shard contributes exact zeros (its out is never multiplied)
    wt = w.transpose(1, 2).unsqueeze(-1)
    part = torch.where(wt > 0, out.float() * wt, torch.zeros((), dtype=torch.float32, device=out.device))
    dist.all_reduce(part, op=dist.ReduceOp.SUM, group=group)
    return part.to(out.dtype), merged_lse


def context_parallel_decode(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    block_table: torch.Tensor,
    cache_seqlens: torch.Tensor,
    head_dim_v: int,
    tile_scheduler_metadata,
    num_splits: Optional[torch.Tensor],
    softmax_scale: Optional[float] = None,
    causal: bool = False,
    group: Optional[dist.ProcessGroup] = None,
    exchange: str = "all_gather",
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Dense MLA decode of a KV cache sharded over the ranks of `group` (default: the world).

    Args are flash_mla_with_kvcache's, for THIS rank's shard (q identical on every rank); metadata
    from flash_mla.get_mla_metadata(cache_seqlens, ...) of this rank's cache_seqlens.

    Returns:
        (out [b, s_q, h_q, head_dim_v] q.dtype, lse float32 [b, h_q, s_q]) over the whole cache, on
        every rank.
    """
    if exchange not in ("all_gather", "all_reduce"):
        raise ValueError(f"{_OP}: exchange: expected 'all_gather' or 'all_reduce', got {exchange!r}")
    if not isinstance(q, torch.Tensor):
        raise TypeError(f"{_OP}: q: expected a torch.Tensor, got {type(q).__name__}")
    if causal and q.dim() == 4 and q.shape[1] > 1:
        raise ValueError(
            f"{_OP}: causal: expected False when s_q > 1 (got s_q = {q.shape[1]}): the end-aligned causal mask "
            "depends on global key positions, which a shard's local decode cannot apply")
    out, lse = flash_mla_with_kvcache(q, k_cache, block_table, cache_seqlens, head_dim_v, tile_scheduler_metadata,
                                      num_splits, softmax_scale=softmax_scale, causal=causal)
    if not dist.is_initialized() or dist.get_world_size(group) == 1:
        return out, lse
    if exchange == "all_reduce":
        return _all_reduce_merge(out, lse, group)
    outs, lses = _packed_all_gather(out, lse, group)
    return merge_partial_attention(outs, lses)
