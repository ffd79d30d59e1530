"""Writers and readers of the FP8 sparse KV-cache formats (V32, MODEL1), in plain torch.

Byte for byte the same as the C++ quantizer (include/flashmla/quantize.h, tested in
tests/python/test_sparse_decode.py). Per tile of 128 (V32) / 64 (MODEL1) NoPE values:
``scale = 2 ** ceil(log2(max(amax / 448, 1e-4)))`` (computed exactly from the float's exponent),
``e4m3 = round_to_nearest_even(x / scale)`` saturated to +-448; RoPE stays bf16.

- V32, 656 B/token: ``[512 e4m3 | 4 float32 scales | 64 bf16 RoPE]``.
- MODEL1, 584 B/token, per page: ``page_block_size`` rows of ``[448 e4m3 | 64 bf16 RoPE]`` (576 B), then
  ``page_block_size`` rows of ``[7 e8m0 scales | 1 pad byte]``.

Inputs are ``[num_blocks, page_block_size, 1, d_qk]`` bfloat16 caches; outputs ``[num_blocks,
page_block_size, 1, bytes]`` float8_e4m3fn views of the bytes (as DeepSeek's quantizer returns them).
Dequantization returns bfloat16: NoPE = bf16(e4m3 * scale) (V32: the float32 scale rounded to bf16 first).
"""

from __future__ import annotations

import torch

__all__ = ["quantize_v32", "dequantize_v32", "quantize_model1", "dequantize_model1", "quantize_dense_fp8"]


def _check_latent(x: torch.Tensor, d_qk: int, fn: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fn}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype != torch.bfloat16:
        raise TypeError(f"{fn}: input.dtype: expected torch.bfloat16, got {x.dtype}")
    if x.dim() != 4 or x.shape[2] != 1 or x.shape[3] != d_qk:
        raise ValueError(f"{fn}: input: expected shape [num_blocks, page_block_size, 1, {d_qk}], got {list(x.shape)}")


def _tile_scale_exponent(nope: torch.Tensor) -> torch.Tensor:
    """[..., tiles, tile] float32 -> int32 exponents e with scale = 2^e."""
    amax = nope.abs().amax(dim=-1)
    v = torch.clamp(amax / 448.0, min=1e-4)
    mant, exp = torch.frexp(v)  # v = mant * 2^exp, mant in [0.5, 1)
    return torch.where(mant == 0.5, exp - 1, exp).to(torch.int32)


def _to_e4m3_bytes(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(-448.0, 448.0).to(torch.float8_e4m3fn).view(torch.uint8)


def _cache_bytes(cache: torch.Tensor, bpt: int, fn: str) -> torch.Tensor:
    if cache.dtype not in (torch.float8_e4m3fn, torch.uint8, torch.int8):
        raise TypeError(f"{fn}: cache.dtype: expected float8_e4m3fn, uint8 or int8, got {cache.dtype}")
    if cache.dim() != 4 or cache.shape[2] != 1 or cache.shape[3] != bpt:
        raise ValueError(f"{fn}: cache: expected shape [num_blocks, page_block_size, 1, {bpt}], got {list(cache.shape)}")
    return cache.view(torch.uint8)


def quantize_v32(x: torch.Tensor) -> torch.Tensor:
    """bf16 [nb, page, 1, 576] -> float8_e4m3fn [nb, page, 1, 656] (V32 bytes)."""
    _check_latent(x, 576, "quantize_v32")
    nb, page = x.shape[0], x.shape[1]
    xf = x.reshape(nb, page, 576).float()
    nope = xf[..., :512].reshape(nb, page, 4, 128)
    e = _tile_scale_exponent(nope)
    scale = torch.ldexp(torch.ones_like(e, dtype=torch.float32), e)  # [nb, page, 4]
    q8 = _to_e4m3_bytes(nope / scale.unsqueeze(-1)).reshape(nb, page, 512)
    rope = x.reshape(nb, page, 576)[..., 512:].contiguous().view(torch.uint8)  # [nb, page, 128]
    out = torch.cat([q8, scale.contiguous().view(torch.uint8), rope], dim=-1)  # [nb, page, 656]
    return out.reshape(nb, page, 1, 656).view(torch.float8_e4m3fn)


def dequantize_v32(cache: torch.Tensor) -> torch.Tensor:
    """V32 bytes [nb, page, 1, 656] -> bf16 [nb, page, 1, 576]."""
    b = _cache_bytes(cache, 656, "dequantize_v32")
    nb, page = b.shape[0], b.shape[1]
    b = b.reshape(nb, page, 656)
    fp8 = b[..., :512].contiguous().view(torch.float8_e4m3fn).float().reshape(nb, page, 4, 128)
    scale = b[..., 512:528].contiguous().view(torch.float32).to(torch.bfloat16).float()  # [nb, page, 4]
    nope = (fp8 * scale.unsqueeze(-1)).reshape(nb, page, 512).to(torch.bfloat16)
    rope = b[..., 528:].contiguous().view(torch.bfloat16)
    return torch.cat([nope, rope], dim=-1).reshape(nb, page, 1, 576)


def quantize_model1(x: torch.Tensor) -> torch.Tensor:
    """bf16 [nb, page, 1, 512] -> float8_e4m3fn [nb, page, 1, 584] (MODEL1 bytes, per-page layout)."""
    _check_latent(x, 512, "quantize_model1")
    nb, page = x.shape[0], x.shape[1]
    xf = x.reshape(nb, page, 512).float()
    nope = xf[..., :448].reshape(nb, page, 7, 64)
    e = _tile_scale_exponent(nope)
    scale = torch.ldexp(torch.ones_like(e, dtype=torch.float32), e)
    q8 = _to_e4m3_bytes(nope / scale.unsqueeze(-1)).reshape(nb, page, 448)
    rope = x.reshape(nb, page, 512)[..., 448:].contiguous().view(torch.uint8)  # [nb, page, 128]
    data = torch.cat([q8, rope], dim=-1).reshape(nb, page * 576)
    codes = (e + 127).clamp(0, 254).to(torch.uint8)  # [nb, page, 7]
    pad = torch.zeros(nb, page, 1, dtype=torch.uint8, device=x.device)
    scales = torch.cat([codes, pad], dim=-1).reshape(nb, page * 8)
    return torch.cat([data, scales], dim=-1).reshape(nb, page, 1, 584).view(torch.float8_e4m3fn)


def dequantize_model1(cache: torch.Tensor) -> torch.Tensor:
    """MODEL1 bytes [nb, page, 1, 584] -> bf16 [nb, page, 1, 512]."""
    b = _cache_bytes(cache, 584, "dequantize_model1")
    nb, page = b.shape[0], b.shape[1]
    flat = b.reshape(nb, page * 584)
    data = flat[:, : page * 576].reshape(nb, page, 576)
    codes = flat[:, page * 576 :].reshape(nb, page, 8)[..., :7].to(torch.int32)
    scale = torch.ldexp(torch.ones_like(codes, dtype=torch.float32), codes - 127)
    scale = torch.where(codes == 255, torch.full_like(scale, float("nan")), scale)
    fp8 = data[..., :448].contiguous().view(torch.float8_e4m3fn).float().reshape(nb, page, 7, 64)
    nope = (fp8 * scale.unsqueeze(-1)).reshape(nb, page, 448).to(torch.bfloat16)
    rope = data[..., 448:].contiguous().view(torch.bfloat16)
    return torch.cat([nope, rope], dim=-1).reshape(nb, page, 1, 512)


def quantize_dense_fp8(k_cache: torch.Tensor):
    """Dense cache, one per-tensor scale (docs/spec.md §8): bf16 [nb, page, h_kv, 576] ->
    (float8_e4m3fn [nb, page, h_kv, 576], descale float32 [1]) with descale = amax / 448 (1 if amax is 0)
    and e4m3 = RNE(x / descale) saturated to +-448, so that real value = stored * descale (as the C++
    quantize_dense_fp8)."""
    if not isinstance(k_cache, torch.Tensor):
        raise TypeError(f"quantize_dense_fp8: expected a torch.Tensor, got {type(k_cache).__name__}")
    if k_cache.dtype != torch.bfloat16:
        raise TypeError(f"quantize_dense_fp8: k_cache.dtype: expected torch.bfloat16, got {k_cache.dtype}")
    if k_cache.dim() != 4 or k_cache.shape[3] != 576:
        raise ValueError(f"quantize_dense_fp8: k_cache: expected shape [num_blocks, page, h_kv, 576], got {list(k_cache.shape)}")
    xf = k_cache.float()
    amax = xf.abs().amax() if xf.numel() else torch.zeros((), device=k_cache.device)
    if not torch.isfinite(amax):
        raise ValueError("quantize_dense_fp8: k_cache: expected finite values, got NaN or inf")
    scale = amax / 448.0
    scale = torch.where(scale >= torch.finfo(torch.float32).tiny, scale, torch.ones_like(scale)).reshape(1)
    k_fp8 = (xf / scale).clamp(-448.0, 448.0).to(torch.float8_e4m3fn)
    return k_fp8, scale.to(torch.float32)
