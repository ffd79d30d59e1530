"""Sparse top-k attention prefill: DeepSeek FlashMLA's ``flash_mla_sparse_fwd`` (docs/sparse_prefill.md).

Every query token attends, with all of its heads, to the ``topk`` rows of ``kv`` that ``indices`` names
(MQA: one KV head). Index entries < 0, >= s_kv or at positions >= ``topk_length[i]`` are masked and
never read. CUDA tensors run the sm90a kernel (any h_q in 1..128, any topk >= 1, any s_q); CPU tensors the
float64 reference.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

from . import _ops

_OP = "flash_mla.sparse_prefill"
_sparse_prefill = torch.ops.flash_mla.sparse_prefill.default


def flash_mla_sparse_fwd(
    q: torch.Tensor,
    kv: torch.Tensor,
    indices: torch.Tensor,
    sm_scale: float,
    d_v: int = 512,
    attn_sink: Optional[torch.Tensor] = None,
    topk_length: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sparse attention prefill.

    Args:
        q: [s_q, h_q, d_qk] bfloat16, d_qk in {512, 576}, 1 <= h_q <= 128.
        kv: [s_kv, 1, d_qk] bfloat16 (a flattened paged cache is fine: any row stride that is a multiple
            of 8 elements); the value is its first d_v channels.
        indices: [s_q, 1, topk] int32 rows of kv; out-of-range entries (e.g. -1) are masked.
        sm_scale: softmax scale (required), a normal float in (0, 1e4].
        d_v: 512.
        attn_sink: optional [h_q] float32: out *= 1 / (1 + exp(attn_sink[h] - lse)).
        topk_length: optional [s_q] int32: only positions p < topk_length[i] count.

    Returns:
        (out [s_q, h_q, d_v] bfloat16, max_logits [s_q, h_q] float32, lse [s_q, h_q] float32): max_logits
        is the max of sm_scale * q.k (-inf for a row with no valid index), lse the natural-log
        log-sum-exp (+inf for such a row), both without the sink; such a row's out is 0.

    Set FLASH_MLA_DEBUG=1 (read once per process) to reject, instead of masking, a counted index that is
    neither -1 nor a row of kv and a topk_length outside [0, topk] (a host synchronization per call).
    """
    for name, t, optional in (("q", q, False), ("kv", kv, False), ("indices", indices, False),
                              ("attn_sink", attn_sink, True), ("topk_length", topk_length, True)):
        if t is None and optional:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{_OP}: {name}: expected a torch.Tensor, got {type(t).__name__}")
    if isinstance(sm_scale, bool) or not isinstance(sm_scale, (int, float)):
        raise TypeError(f"{_OP}: sm_scale: expected a float, got {type(sm_scale).__name__}")
    if isinstance(d_v, bool) or not isinstance(d_v, int):
        raise TypeError(f"{_OP}: d_v: expected an int, got {type(d_v).__name__}")
    return _sparse_prefill(q, kv, indices, float(sm_scale), d_v, attn_sink, topk_length)


@torch.library.register_fake("flash_mla::sparse_prefill")
def _sparse_prefill_fake(q, kv, indices, sm_scale, d_v, attn_sink, topk_length):
    _ops.check_one_device(_OP, "q", q, kv=kv, indices=indices, attn_sink=attn_sink, topk_length=topk_length)
    torch._check(q.dim() == 3, lambda: f"{_OP}: q must have 3 dimensions [s_q, h_q, d_qk], got {q.dim()}")
    s_q, h_q, _ = q.shape
    out = q.new_empty((s_q, h_q, d_v), dtype=torch.bfloat16)
    max_logits = q.new_empty((s_q, h_q), dtype=torch.float32)
    lse = q.new_empty((s_q, h_q), dtype=torch.float32)
    return out, max_logits, lse
