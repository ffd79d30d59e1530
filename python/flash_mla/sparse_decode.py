"""Sparse top-k decode over an FP8 KV cache (DeepSeek-V3.2 "V32" and "MODEL1" formats; docs/sparse_decode.md).

``flash_mla_with_kvcache(..., indices=...)`` lands here. Each query token attends to the cache tokens
``indices[b, s, :]`` names (``page * page_block_size + row``; -1 and any other out-of-range entry are
masked and never read), the first ``topk_length[b]`` of them if given, plus an optional second pool
(``extra_k_cache`` / ``extra_indices`` / ``extra_topk_length``) in the same softmax. The format follows
from ``q``'s last dimension: 576 -> V32 (656 B/token), 512 -> MODEL1 (584 B/token). CUDA tensors run the
sm90a kernel (any h_q, any topk >= 1, any page size), CPU tensors the float64 reference. On CUDA, calls
with fewer (request, token, 64-head) CTAs than SMs split each top-k list across CTAs and merge the
partials; the op allocates that workspace itself from the caching allocator (graph-pool aware).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

from . import _ops

_OP = "flash_mla.sparse_decode"
_sparse_decode = torch.ops.flash_mla.sparse_decode.default


def sparse_decode(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    indices: torch.Tensor,
    softmax_scale: Optional[float] = None,
    attn_sink: Optional[torch.Tensor] = None,
    extra_k_cache: Optional[torch.Tensor] = None,
    extra_indices: Optional[torch.Tensor] = None,
    topk_length: Optional[torch.Tensor] = None,
    extra_topk_length: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sparse FP8 decode.

    Args:
        q: [b, s_q, h_q, d_qk] bfloat16, d_qk 576 (V32) or 512 (MODEL1).
        k_cache: [num_blocks, page_block_size, 1, 656 | 584] float8_e4m3fn / uint8 / int8 (row stride =
            bytes per token, page stride free).
        indices: [b, s_q, topk] int32.
        softmax_scale: None -> d_qk ** -0.5.
        attn_sink: optional [h_q] float32: out *= 1 / (1 + exp(attn_sink[h] - lse)).
        extra_k_cache, extra_indices: optional second pool (same format, its own page size).
        topk_length, extra_topk_length: optional [b] int32 valid prefixes.

    Returns:
        (out [b, s_q, h_q, 512] bfloat16, lse [b, h_q, s_q] float32): lse without the sink, +inf (and out 0)
        for a row that sees no valid token.
    """
    for name, t, optional in (("q", q, False), ("k_cache", k_cache, False), ("indices", indices, False),
                              ("attn_sink", attn_sink, True), ("extra_k_cache", extra_k_cache, True),
                              ("extra_indices", extra_indices, True), ("topk_length", topk_length, True),
                              ("extra_topk_length", extra_topk_length, True)):
        if t is None and optional:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{_OP}: {name}: expected a torch.Tensor, got {type(t).__name__}")
    if softmax_scale is None:
        softmax_scale = 0.0
    if isinstance(softmax_scale, bool) or not isinstance(softmax_scale, (int, float)):
        raise TypeError(f"{_OP}: softmax_scale: expected a float or None, got {type(softmax_scale).__name__}")
    return _sparse_decode(q, k_cache, indices, float(softmax_scale), attn_sink, extra_k_cache, extra_indices,
                          topk_length, extra_topk_length)


@torch.library.register_fake("flash_mla::sparse_decode")
def _sparse_decode_fake(q, k_cache, indices, softmax_scale, attn_sink, extra_k_cache, extra_indices, topk_length,
                        extra_topk_length):
    _ops.check_one_device(_OP, "q", q, k_cache=k_cache, indices=indices, attn_sink=attn_sink,
                          extra_k_cache=extra_k_cache, extra_indices=extra_indices, topk_length=topk_length,
                          extra_topk_length=extra_topk_length)
    torch._check(q.dim() == 4, lambda: f"{_OP}: q must have 4 dimensions [b, s_q, h_q, d_qk], got {q.dim()}")
    b, s_q, h_q, _ = q.shape
    out = q.new_empty((b, s_q, h_q, 512), dtype=torch.bfloat16)
    lse = q.new_empty((b, s_q, h_q), dtype=torch.float32).transpose(1, 2)
    return out, lse
