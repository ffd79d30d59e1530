"""Merging partial attention results (context-parallel decode, docs/merge.md).

n partial results of the same queries over disjoint key sets combine exactly::

    lse = log(sum_i exp(lse_i))          out = sum_i exp(lse_i - lse) * out_i

A part with ``lse_i = +inf`` (flash_mla's "saw no key"; ``-inf`` is treated the same) is skipped and its
``out_i`` never read, so NaN there cannot leak; a row with no live part gets ``out = 0``, ``lse = +inf``;
a NaN ``lse_i`` makes the row NaN. CUDA tensors run one kernel on the current stream (graph-capturable);
CPU tensors the float64 reference. The op is ``torch.ops.flash_mla.merge_partial_attention`` with a fake
implementation, so ``torch.compile`` traces it.
"""

from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch

from . import _ops

_OP = "flash_mla.merge_partial_attention"
_merge = torch.ops.flash_mla.merge_partial_attention.default

TensorOrList = Union[torch.Tensor, Sequence[torch.Tensor]]


def _stacked(name: str, x: TensorOrList, rank: int) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    if not isinstance(x, (list, tuple)) or not all(isinstance(t, torch.Tensor) for t in x):
        raise TypeError(f"{_OP}: {name}: expected a tensor or a list of tensors, got {type(x).__name__}")
    if len(x) == 0:
        raise ValueError(f"{_OP}: {name}: expected 1 to 64 parts, got an empty list")
    for i, t in enumerate(x):
        if t.dim() != rank:
            raise ValueError(f"{_OP}: {name}[{i}]: expected rank {rank}, got rank {t.dim()} {tuple(t.shape)}")
    return torch.stack(list(x))


def merge_partial_attention(outs: TensorOrList, lses: TensorOrList) -> Tuple[torch.Tensor, torch.Tensor]:
    """Merges n partial attention results.

    Args:
        outs: [n, b, s_q, h_q, dv] bfloat16/float16/float32 (any strides, last dim contiguous), or a
            list of n tensors [b, s_q, h_q, dv] (stacked first: one copy).
        lses: float32 [n, b, h_q, s_q] (any strides), or a list of n tensors [b, h_q, s_q] -- the layout
            flash_mla_with_kvcache returns its softmax_lse in. 1 <= n <= 64, 1 <= dv <= 1024.

    Returns:
        (out [b, s_q, h_q, dv] in outs' dtype, lse float32 [b, h_q, s_q]).
    """
    return _merge(_stacked("outs", outs, 4), _stacked("lses", lses, 3))


@torch.library.register_fake("flash_mla::merge_partial_attention")
def _merge_fake(outs, lses):
    _ops.check_one_device(_OP, "outs", outs, lses=lses)
    torch._check(outs.dim() == 5, lambda: f"{_OP}: outs: expected rank 5 [n, b, s_q, h_q, dv], got {outs.dim()}")
    torch._check(lses.dim() == 4, lambda: f"{_OP}: lses: expected rank 4 [n, b, h_q, s_q], got {lses.dim()}")
    _, b, s_q, h_q, dv = outs.shape
    out = outs.new_empty((b, s_q, h_q, dv))
    lse = outs.new_empty((b, h_q, s_q), dtype=torch.float32)
    return out, lse
