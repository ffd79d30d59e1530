"""flash_mla: Multi-head Latent Attention decode kernels for Hopper GPUs (sm_90a), with a CPU backend.

A drop-in replacement for DeepSeek FlashMLA's Python API (all three generations)::

    import flash_mla

    # once per decoding step
    tile_scheduler_metadata, num_splits = flash_mla.get_mla_metadata(
        cache_seqlens, s_q * h_q // h_kv, h_kv)
    # every layer
    out, lse = flash_mla.flash_mla_with_kvcache(
        q, k_cache, block_table, cache_seqlens, 512, tile_scheduler_metadata, num_splits, causal=True)

    # or, 2026-01 style: the schedule is computed by the first call of the step
    sched_meta, _ = flash_mla.get_mla_metadata()
    out, lse = flash_mla.flash_mla_with_kvcache(
        q, k_cache, block_table, cache_seqlens, 512, sched_meta, None, causal=True)

The ops are torch custom ops (``torch.ops.flash_mla.get_mla_metadata`` / ``torch.ops.flash_mla.decode``)
with fake implementations, so ``torch.compile`` traces them.
"""

from . import _ops
from ._ops import build_info
from .decode import (FlashMLASchedMeta, flash_mla_with_kvcache, flash_mla_with_kvcache_fp8, get_mla_metadata,
                     get_mla_metadata_dense_fp8)
from .sparse_prefill import flash_mla_sparse_fwd
from .merge import merge_partial_attention
from . import distributed, quant

__version__ = "0.1.0"

__all__ = ["FlashMLASchedMeta", "distributed", "flash_mla_sparse_fwd", "flash_mla_with_kvcache", "flash_mla_with_kvcache_fp8",
           "get_mla_metadata", "get_mla_metadata_dense_fp8",
           "merge_partial_attention", "quant", "build_info", "__version__"]
