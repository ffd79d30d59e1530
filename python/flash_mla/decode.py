"""The decode facade of flash_mla: DeepSeek FlashMLA's Python API, all three generations.

Dense decode (this module's ops) and, when ``indices`` is given, the sparse FP8 decode (flash_mla.sparse_decode)
share ``flash_mla_with_kvcache``. Shapes: b requests, s_q query tokens per request, h_q query heads, h_kv KV
heads (h_q % h_kv == 0), d = 576 (512 latent + 64 RoPE channels), dv = head_dim_v = 512, page size 64 on
the GPU (any on the CPU backend).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

from . import _ops

_decode = _ops.decode
_metadata = _ops.get_mla_metadata
# Host overhead per eager call matters (one call per layer per decoding step): `_decode_eager` is the
# C++ entry point behind the OpOverload, the same dispatcher call without OpOverload.__call__'s Python
# frame (~0.35 us). TorchDynamo must see the OpOverload itself, so traced code takes `_decode`;
# `torch.compiler.is_compiling()` is constant-folded while tracing.
_decode_eager = _ops.decode._op
_is_compiling = torch.compiler.is_compiling

_decode_fp8 = _ops.decode_fp8


def _require_tensor(op: str, name: str, value, optional: bool = False) -> None:
    # A clear TypeError for None or a non-tensor, before anything touches an attribute of it.
    if value is None and optional:
        return
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{op}: {name}: expected a torch.Tensor, got {type(value).__name__}")


def _check_softmax_scale(op: str, softmax_scale) -> None:
    # The op converts to float32: a value that becomes 0 or a subnormal there would silently select the
    # default. Everything else (NaN, negative, inf, > 1e4) the library itself rejects.
    if softmax_scale is None:
        return
    if isinstance(softmax_scale, bool) or not isinstance(softmax_scale, (int, float)):
        raise TypeError(f"{op}: softmax_scale: expected a float or None, got {type(softmax_scale).__name__}")


def _describe(config) -> str:
    if config is None:
        return "(k_cache of rank < 3)"
    q_shape, h_kv, device = config
    dims = ", ".join(f"{n}={v}" for n, v in zip(("b", "s_q", "h_q"), tuple(q_shape)))
    return f"({dims}, h_kv={h_kv}, device={'cpu' if device < 0 else f'cuda:{device}'})"


class FlashMLASchedMeta:
    """Schedule of one decoding step, computed lazily (the 2026-01 API: ``get_mla_metadata()``).

    The first ``flash_mla_with_kvcache`` call that receives it computes the split-KV schedule from that
    call's ``cache_seqlens`` and shapes (on the current stream, so inside a CUDA graph capture the schedule
    is captured too) and keeps it; later calls (the other layers of the step) reuse it. A later call with a
    different configuration (b, s_q, h_q, h_kv, device) raises ValueError. The schedule depends on the
    values of ``cache_seqlens`` at that first call: take a fresh object for every decoding step.

    Attributes, None until the first call:
        tile_scheduler_metadata: int32 [num_sm_parts, 8]
        num_splits: int32 [b + 1]
    """

    __slots__ = ("tile_scheduler_metadata", "num_splits", "_config")

    def __init__(self) -> None:
        self.tile_scheduler_metadata: Optional[torch.Tensor] = None
        self.num_splits: Optional[torch.Tensor] = None
        self._config = None

    def __repr__(self) -> str:
        if self._config is None:
            return "FlashMLASchedMeta(not computed yet)"
        parts = self.tile_scheduler_metadata.shape[0]
        return f"FlashMLASchedMeta({_describe(self._config)}, num_sm_parts={parts})"

    def _resolve(self, q: torch.Tensor, k_cache: torch.Tensor, cache_seqlens: torch.Tensor, num_splits):
        _require_tensor("flash_mla_with_kvcache", "q", q)
        _require_tensor("flash_mla_with_kvcache", "k_cache", k_cache)
        _require_tensor("flash_mla_with_kvcache", "cache_seqlens", cache_seqlens)
        if num_splits is not None:
            raise ValueError(
                "flash_mla_with_kvcache: num_splits: expected None (tile_scheduler_metadata is a FlashMLASchedMeta "
                f"from get_mla_metadata()), got {type(num_splits).__name__}"
            )
        # (q.shape, h_kv, device index): cheap to build and compare on every layer's call.
        try:
            config = (q.shape, k_cache.shape[2], q.get_device())
        except (IndexError, RuntimeError, AttributeError):
            config = None  # k_cache of rank < 3 (or not a tensor): reported below
        if self._config is not None:
            if config != self._config:
                raise ValueError(
                    "flash_mla_with_kvcache: tile_scheduler_metadata: expected the configuration this "
                    f"FlashMLASchedMeta was computed for, {_describe(self._config)}, got {_describe(config)} "
                    "(call get_mla_metadata() again for another configuration)"
                )
            return self.tile_scheduler_metadata, self.num_splits
        if q.dim() != 4:
            raise ValueError(
                f"flash_mla_with_kvcache: q: expected rank 4 [b, s_q, h_q, 576], got rank {q.dim()} {list(q.shape)}"
            )
        if config is None or k_cache.dim() != 4:
            raise ValueError(
                "flash_mla_with_kvcache: k_cache: expected rank 4 [num_blocks, 64, h_kv, 576], "
                f"got rank {k_cache.dim()} {list(k_cache.shape)}"
            )
        _, s_q, h_q, _ = q.shape
        h_kv = k_cache.shape[2]
        if h_kv <= 0 or h_q % h_kv != 0:
            raise ValueError(f"flash_mla_with_kvcache: h_q % h_kv: expected 0, got h_q={h_q}, h_kv={h_kv}")
        self.tile_scheduler_metadata, self.num_splits = _metadata(cache_seqlens, s_q * h_q // h_kv, h_kv, s_q)
        self._config = config
        return self.tile_scheduler_metadata, self.num_splits


def get_mla_metadata(
    cache_seqlens: Optional[torch.Tensor] = None,
    num_q_tokens_per_head_k: Optional[int] = None,
    num_heads_k: Optional[int] = None,
    num_heads_q: Optional[int] = None,
    is_fp8_kvcache: bool = False,
    topk: Optional[int] = None,
    *,
    num_heads_per_head_k: Optional[int] = None,
):
    """Split-KV schedule of one decoding step, shared by every layer of the step.

    Three call forms (DeepSeek FlashMLA's three API generations):

    * ``get_mla_metadata(cache_seqlens, num_heads_per_head_k, num_heads_k)`` (2025-02) and
    * ``get_mla_metadata(cache_seqlens, num_q_tokens_per_head_k, num_heads_k, num_heads_q=None,
      is_fp8_kvcache=False, topk=None)`` (2025-09) return ``(tile_scheduler_metadata, num_splits)``;
    * ``get_mla_metadata()`` (2026-01) returns ``(sched_meta, None)``, a :class:`FlashMLASchedMeta` that the
      first ``flash_mla_with_kvcache`` call fills.

    Args:
        cache_seqlens: int32 [b], cached tokens per request, on the device the decode will run on.
        num_q_tokens_per_head_k: s_q * h_q // h_kv (query rows per KV head); ``num_heads_per_head_k`` is the
            2025-02 name of the same number and may be passed by keyword.
        num_heads_k: h_kv.
        num_heads_q: h_q, optional; with it the schedule knows s_q exactly.
        is_fp8_kvcache, topk: with ``topk`` (sparse decode) the result is ``(sched_meta, None)`` as in the
            2026-01 form; a dense FP8 cache (``is_fp8_kvcache`` without ``topk``) has the dense schedule.

    Returns:
        tile_scheduler_metadata: int32 [num_sm_parts, 8] on cache_seqlens' device.
        num_splits: int32 [b + 1], exclusive prefix sum of the splits per request.

    Runs on the current CUDA stream without a host synchronization (capturable in a CUDA graph).
    """
    if num_heads_per_head_k is not None:
        if num_q_tokens_per_head_k is not None:
            raise TypeError(
                "get_mla_metadata: got both num_q_tokens_per_head_k and num_heads_per_head_k (two names of one argument)"
            )
        num_q_tokens_per_head_k = num_heads_per_head_k
    if cache_seqlens is None:
        if num_q_tokens_per_head_k is not None or num_heads_k is not None or num_heads_q is not None:
            raise TypeError("get_mla_metadata: cache_seqlens is required when the other arguments are given")
        return FlashMLASchedMeta(), None
    if num_q_tokens_per_head_k is None or num_heads_k is None:
        raise TypeError("get_mla_metadata: missing argument num_q_tokens_per_head_k or num_heads_k")
    if topk is not None:
        # Sparse decode (2025-09 form): its schedule is the lazy sched-meta object; the call computes it.
        return FlashMLASchedMeta(), None
    # A dense FP8 cache (is_fp8_kvcache without topk) uses the dense schedule.
    _require_tensor("get_mla_metadata", "cache_seqlens", cache_seqlens)
    s_q = 0
    if num_heads_q is not None:
        rows = num_q_tokens_per_head_k * num_heads_k
        if num_heads_q <= 0 or rows % num_heads_q != 0:
            raise ValueError(
                f"get_mla_metadata: num_q_tokens_per_head_k * num_heads_k ({num_q_tokens_per_head_k} * {num_heads_k}) "
                f"must be a multiple of num_heads_q, got num_heads_q = {num_heads_q}"
            )
        s_q = rows // num_heads_q
    return _metadata(cache_seqlens, num_q_tokens_per_head_k, num_heads_k, s_q)


def flash_mla_with_kvcache(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    block_table: torch.Tensor,
    cache_seqlens: torch.Tensor,
    head_dim_v: int,
    tile_scheduler_metadata,
    num_splits: Optional[torch.Tensor],
    softmax_scale: Optional[float] = None,
    causal: bool = False,
    is_fp8_kvcache: bool = False,
    indices: Optional[torch.Tensor] = None,
    attn_sink: Optional[torch.Tensor] = None,
    extra_k_cache: Optional[torch.Tensor] = None,
    extra_indices_in_kvcache: Optional[torch.Tensor] = None,
    topk_length: Optional[torch.Tensor] = None,
    extra_topk_length: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """MLA decode over a paged KV cache: ``softmax(q · kᵀ · softmax_scale) · v`` per request and head.

    Args:
        q: [b, s_q, h_q, 576] bfloat16 or float16.
        k_cache: [num_blocks, 64, h_kv, 576], q's dtype; V is the first head_dim_v channels of each row.
        block_table: int32 [b, max_blocks_per_seq]; token t of request i is in page block_table[i][t // 64].
        cache_seqlens: int32 [b], cached tokens per request.
        head_dim_v: 512.
        tile_scheduler_metadata, num_splits: from ``get_mla_metadata`` (int32 [num_sm_parts, 8] and int32
            [b + 1]), or ``(sched_meta, None)`` from ``get_mla_metadata()``. Required for CUDA tensors; may
            be None for CPU tensors.
        softmax_scale: None selects q.shape[-1] ** -0.5; otherwise a normal float32 in (0, 1e4] (anything else:
            ValueError).
        causal: end-aligned causal mask over the s_q query tokens (query j sees keys [0, L - s_q + 1 + j)).
        is_fp8_kvcache, indices, attn_sink, extra_k_cache, extra_indices_in_kvcache, topk_length,
            extra_topk_length: sparse top-k decode over an FP8 cache when ``indices`` is given (see
            flash_mla.sparse_decode; block_table and cache_seqlens are then ignored and may be None).

    Returns:
        out: [b, s_q, h_q, head_dim_v], q's dtype.
        softmax_lse: float32 [b, h_q, s_q], natural-log log-sum-exp of the scaled scores (+inf for a query
            that sees no key, whose out row is 0).

    CUDA tensors run on the current stream of their device, allocate through torch's caching allocator,
    never synchronize the host and can be captured in CUDA graphs; CPU tensors run on the CPU backend.
    Set FLASH_MLA_DEBUG=1 to also check every used page id against num_blocks (a host synchronization).
    """
    if indices is not None:
        from . import sparse_decode as _sparse  # imported on first use: dense callers never pay for it

        _require_tensor("flash_mla_with_kvcache", "q", q)
        _check_softmax_scale("flash_mla_with_kvcache", softmax_scale)
        return _sparse.sparse_decode(q, k_cache, indices, softmax_scale, attn_sink, extra_k_cache,
                                     extra_indices_in_kvcache, topk_length, extra_topk_length)
    if is_fp8_kvcache:
        return flash_mla_with_kvcache_fp8(q, k_cache, block_table, cache_seqlens, head_dim_v, tile_scheduler_metadata,
                                          num_splits, softmax_scale, causal)
    if softmax_scale is not None:
        _check_softmax_scale("flash_mla_with_kvcache", softmax_scale)
    _T = torch.Tensor
    if not (isinstance(q, _T) and isinstance(k_cache, _T) and isinstance(block_table, _T) and isinstance(cache_seqlens, _T)):
        for name, value in (("q", q), ("k_cache", k_cache), ("block_table", block_table), ("cache_seqlens", cache_seqlens)):
            _require_tensor("flash_mla_with_kvcache", name, value)
    if type(tile_scheduler_metadata) is FlashMLASchedMeta:
        tile_scheduler_metadata, num_splits = tile_scheduler_metadata._resolve(q, k_cache, cache_seqlens, num_splits)
    return (_decode if _is_compiling() else _decode_eager)(
        q,
        k_cache,
        block_table,
        cache_seqlens,
        head_dim_v,
        tile_scheduler_metadata,
        num_splits,
        softmax_scale,
        causal,
    )


def get_mla_metadata_dense_fp8(cache_seqlens: torch.Tensor, num_q_tokens_per_head_k: int, num_heads_k: int):
    """vLLM's name: the split-KV schedule of a dense FP8 cache (the same schedule as the dense one)."""
    return get_mla_metadata(cache_seqlens, num_q_tokens_per_head_k, num_heads_k)


def flash_mla_with_kvcache_fp8(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    block_table: torch.Tensor,
    cache_seqlens: torch.Tensor,
    head_dim_v: int,
    tile_scheduler_metadata,
    num_splits: Optional[torch.Tensor],
    softmax_scale: Optional[float] = None,
    causal: bool = False,
    descale_q: Optional[torch.Tensor] = None,
    descale_k: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Dense decode over an FP8 (float8_e4m3fn) KV cache with per-tensor scales (vLLM's API, docs/spec.md §8).

    k_cache: [num_blocks, 64, h_kv, 576] float8_e4m3fn; q: [b, s_q, h_q, 576] bfloat16 or float8_e4m3fn.
    descale_k: float32 [1] (real value = stored * descale_k), 1 when omitted (as upstream's
    ``flash_mla_with_kvcache(..., is_fp8_kvcache=True)`` implies); descale_q: float32 [1] for an fp8 q (1 when
    omitted), rejected for a bf16 q. Values must be finite and > 0. out is bfloat16 for an fp8 q (q's dtype
    otherwise). CUDA tensors run the sm90 kernels -- a bf16 q: the e4m3 bytes converted to bf16 exactly, bf16
    tensor cores; an fp8 q: both GEMMs on the FP8 tensor cores, P in two e4m3 terms -- with the descales read on
    the device (graph-safe; docs/dense_fp8.md); CPU tensors the CPU reference.
    """
    for name, value in (("q", q), ("k_cache", k_cache), ("block_table", block_table), ("cache_seqlens", cache_seqlens)):
        _require_tensor("flash_mla_with_kvcache_fp8", name, value)
    _require_tensor("flash_mla_with_kvcache_fp8", "descale_q", descale_q, optional=True)
    _require_tensor("flash_mla_with_kvcache_fp8", "descale_k", descale_k, optional=True)
    _check_softmax_scale("flash_mla_with_kvcache_fp8", softmax_scale)
    if descale_k is None and k_cache.dtype == torch.float8_e4m3fn:
        descale_k = torch.ones(1, dtype=torch.float32, device=k_cache.device)
    if descale_q is None and q.dtype == torch.float8_e4m3fn:
        descale_q = torch.ones(1, dtype=torch.float32, device=q.device)
    if type(tile_scheduler_metadata) is FlashMLASchedMeta:
        tile_scheduler_metadata, num_splits = tile_scheduler_metadata._resolve(q, k_cache, cache_seqlens, num_splits)
    return _decode_fp8(q, k_cache, block_table, cache_seqlens, head_dim_v, tile_scheduler_metadata, num_splits,
                       softmax_scale, causal, descale_q, descale_k)
