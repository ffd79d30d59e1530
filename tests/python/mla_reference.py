"""Shared helpers of the Python tests: adversarial inputs, a plain-PyTorch float64 reference, tolerances.

The reference follows docs/spec.md §1 literally, one request at a time: gather the request's pages from the block
table, keep its first L rows, scores = q · kᵀ · scale, the end-aligned causal mask, float64 softmax.
A query row that sees no key gets out = 0 and lse = +inf.

Tolerances (the same numbers and measures as tests/common/compare.h): per element `abs < atol OR rel < rtol`,
the same +inf positions, and on the whole output 1 - 2·Σxy / (Σx² + Σy²) < 1e-5.
"""

from __future__ import annotations

import dataclasses
import math
from typing import List, Optional, Sequence

import torch

D = 576
DV = 512
PAGE = 64

OUT_ATOL = 8e-4
OUT_RTOL = 2.01 / 128
LSE_ATOL = 1e-6
LSE_RTOL = 8.01 / 65536
MAX_COS_DIFF = 1e-5  # out only

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclasses.dataclass
class Case:
    name: str
    q: torch.Tensor  # [b, s_q, h_q, 576]
    k_cache: torch.Tensor  # [num_blocks, 64, h_kv, 576]
    block_table: torch.Tensor  # int32 [b, max_blocks]
    cache_seqlens: torch.Tensor  # int32 [b]
    causal: bool
    softmax_scale: Optional[float] = None

    @property
    def b(self) -> int:
        return self.q.shape[0]

    @property
    def s_q(self) -> int:
        return self.q.shape[1]

    @property
    def h_q(self) -> int:
        return self.q.shape[2]

    @property
    def h_kv(self) -> int:
        return self.k_cache.shape[2]

    def to(self, device) -> "Case":
        # Keep q's strides (Tensor.to would make a non-dense view contiguous).
        q = torch.empty_strided(self.q.shape, self.q.stride(), dtype=self.q.dtype, device=device)
        q.copy_(self.q)
        return dataclasses.replace(
            self,
            q=q,
            k_cache=self.k_cache.to(device),
            block_table=self.block_table.to(device),
            cache_seqlens=self.cache_seqlens.to(device),
        )


def make_case(
    name: str,
    lens: Sequence[int],
    s_q: int = 1,
    h_q: int = 16,
    h_kv: int = 1,
    dtype: torch.dtype = torch.bfloat16,
    causal: bool = False,
    softmax_scale: Optional[float] = None,
    seed: int = 0,
    extra_pages: int = 3,
    extra_table_cols: int = 2,
    nan_fill: bool = True,
    q_strided: bool = False,
    device: str = "cpu",
) -> Case:
    """Builds an adversarial paged-KV case.

    Every cache byte the kernel must not read is NaN (tails of last pages, unused pages); the block table
    is a random permutation of the pages and its unused entries hold huge / negative ids; `q_strided`
    gives q non-contiguous strides on its leading dimensions (last dimension contiguous).
    """
    g = torch.Generator().manual_seed(seed)
    b = len(lens)
    pages_per_req = [math.ceil(L / PAGE) for L in lens]
    used = sum(pages_per_req)
    num_blocks = max(1, used + extra_pages)
    max_blocks = max(pages_per_req, default=0) + extra_table_cols
    max_blocks = max(max_blocks, 1)

    perm = torch.randperm(num_blocks, generator=g).to(torch.int32)
    junk = torch.tensor([2**31 - 1, -1, -(2**31), num_blocks, 10**9], dtype=torch.int32)
    block_table = junk[torch.randint(0, len(junk), (b, max_blocks), generator=g)]
    k_cache = torch.full((num_blocks, PAGE, h_kv, D), float("nan") if nan_fill else 0.0, dtype=torch.float32)
    pos = 0
    for i, L in enumerate(lens):
        n = pages_per_req[i]
        ids = perm[pos : pos + n]
        pos += n
        block_table[i, :n] = ids
        for p, page in enumerate(ids.tolist()):
            rows = min(PAGE, L - p * PAGE)
            k_cache[page, :rows] = (torch.randn(rows, h_kv, D, generator=g) / 10).clamp(-1, 1)
    k_cache = k_cache.to(dtype)

    q = (torch.randn(b, s_q, h_q, D, generator=g) / 10).clamp(-1, 1).to(dtype)
    if q_strided:  # a view into a larger buffer (16-byte aligned strides, as TMA needs)
        holder = torch.full((b, s_q, h_q + 3, D + 64), float("nan"), dtype=dtype)
        holder[:, :, 1 : h_q + 1, 32 : 32 + D] = q
        q = holder[:, :, 1 : h_q + 1, 32 : 32 + D]
    cache_seqlens = torch.tensor(list(lens), dtype=torch.int32)
    case = Case(name, q, k_cache, block_table, cache_seqlens, causal, softmax_scale)
    return case.to(device) if device != "cpu" else case


def reference(case: Case, head_dim_v: int = DV, compute_device=None):
    """float64 reference: (out float64 [b, s_q, h_q, dv], lse float64 [b, h_q, s_q])."""
    dev = compute_device if compute_device is not None else case.q.device
    q = case.q.to(dev)
    k_cache = case.k_cache.to(dev)
    b, s_q, h_q, d = q.shape
    h_kv = k_cache.shape[2]
    scale = case.softmax_scale if case.softmax_scale is not None else d**-0.5
    out = torch.zeros(b, s_q, h_q, head_dim_v, dtype=torch.float64, device=dev)
    lse = torch.full((b, h_q, s_q), float("inf"), dtype=torch.float64, device=dev)
    seqlens = case.cache_seqlens.tolist()
    table = case.block_table.cpu()
    for i in range(b):
        L = seqlens[i]
        if L <= 0:
            continue
        n = math.ceil(L / PAGE)
        pages = table[i, :n].long().to(dev)
        kv = k_cache[pages].reshape(n * PAGE, h_kv, d)[:L].double()  # [L, h_kv, d]
        qi = q[i].double().reshape(s_q, h_kv, h_q // h_kv, d)  # query head h uses KV head h // (h_q / h_kv)
        s = torch.einsum("skgd,lkd->kgsl", qi, kv).reshape(h_q, s_q, L) * scale  # [h_q, s_q, L]
        if case.causal:
            j = torch.arange(s_q, device=dev)[:, None]
            t = torch.arange(L, device=dev)[None, :]
            s = s.masked_fill(t >= L - (s_q - 1 - j), float("-inf"))
        m = torch.logsumexp(s, dim=-1)  # [h_q, s_q]; -inf where a row sees nothing
        seen = torch.isfinite(m)
        p = torch.where(seen[..., None], torch.exp(s - m[..., None]), torch.zeros_like(s))
        o = torch.einsum("kgsl,lkd->skgd", p.reshape(h_kv, h_q // h_kv, s_q, L), kv[..., :head_dim_v])
        o = o.reshape(s_q, h_q, head_dim_v)
        out[i] = o
        lse[i] = torch.where(seen, m, torch.full_like(m, float("inf")))
    return out, lse


def _check(name: str, got: torch.Tensor, ref: torch.Tensor, atol: float, rtol: float, cosine: bool) -> List[str]:
    errors = []
    got = got.detach().to("cpu", torch.float64)
    ref = ref.detach().to("cpu", torch.float64)
    if got.shape != ref.shape:
        return [f"{name}: shape {tuple(got.shape)} != reference {tuple(ref.shape)}"]
    if torch.isnan(got).any():
        errors.append(f"{name}: {int(torch.isnan(got).sum())} NaN elements (first at {_first(torch.isnan(got))})")
    inf_got, inf_ref = torch.isinf(got), torch.isinf(ref)
    if not torch.equal(inf_got, inf_ref) or not torch.equal(got[inf_ref], ref[inf_ref]):
        bad = (inf_got != inf_ref) | (inf_ref & (got != ref))
        errors.append(f"{name}: inf positions differ ({int(bad.sum())} elements, first at {_first(bad)})")
    fin = torch.isfinite(got) & torch.isfinite(ref)
    diff = (got - ref).abs()
    rel = diff / ref.abs().clamp_min(1e-300)
    bad = fin & ~((diff < atol) | (rel < rtol))
    if bad.any():
        idx = _first(bad)
        errors.append(
            f"{name}: {int(bad.sum())} elements outside abs<{atol:g} or rel<{rtol:g}; first at {idx}: "
            f"got {got[idx].item():.8g}, reference {ref[idx].item():.8g}"
        )
    if cosine and fin.any():
        a, r = got[fin], ref[fin]
        denom = float((a * a).sum() + (r * r).sum())
        cos_diff = 1.0 - 2.0 * float((a * r).sum()) / denom if denom > 0 else 0.0
        if cos_diff >= MAX_COS_DIFF:
            errors.append(f"{name}: 1 - 2·Σxy/(Σx²+Σy²) = {cos_diff:.3g} >= {MAX_COS_DIFF:g}")
    return errors


def _first(mask: torch.Tensor):
    nz = mask.nonzero()
    return tuple(nz[0].tolist()) if len(nz) else None


def compare(out: torch.Tensor, lse: torch.Tensor, ref_out: torch.Tensor, ref_lse: torch.Tensor) -> List[str]:
    """Every tolerance violation, as readable lines (empty list = pass)."""
    return _check("out", out, ref_out, OUT_ATOL, OUT_RTOL, True) + _check(
        "lse", lse, ref_lse, LSE_ATOL, LSE_RTOL, False
    )


def assert_close(out, lse, ref_out, ref_lse, what: str = "") -> None:
    errors = compare(out, lse, ref_out, ref_lse)
    assert not errors, (what + ": " if what else "") + "; ".join(errors)


def adversarial_cases(dtype: torch.dtype = torch.bfloat16, device: str = "cpu", small: bool = False) -> List[Case]:
    """Named cases: odd lengths, zero lengths, h_q not a multiple of 64, h_kv > 1, s_q > 1 causal."""
    specs = [
        ("odd_lengths", dict(lens=[1, 63, 64, 65, 127], h_q=16)),
        ("zero_lengths", dict(lens=[0, 130, 0, 5], h_q=16)),
        ("all_zero", dict(lens=[0, 0], h_q=8)),
        ("h1", dict(lens=[200], h_q=1)),
        ("h3_sq2_causal", dict(lens=[70, 1, 129], h_q=3, s_q=2, causal=True)),
        ("h63", dict(lens=[100, 33], h_q=63)),
        ("h126_sq1", dict(lens=[65], h_q=126)),
        ("sq4_causal_short", dict(lens=[1, 2, 3, 4, 200], h_q=8, s_q=4, causal=True)),
        ("sq4_not_causal", dict(lens=[3, 90], h_q=8, s_q=4, causal=False)),
        ("hkv2", dict(lens=[150, 64], h_q=8, h_kv=2)),
        ("hkv3_causal", dict(lens=[40, 300], h_q=6, h_kv=3, s_q=2, causal=True)),
        ("hkv8", dict(lens=[129], h_q=16, h_kv=8)),
        ("scale", dict(lens=[77, 500], h_q=4, softmax_scale=0.3)),
        ("q_strided", dict(lens=[90, 10], h_q=5, s_q=2, q_strided=True)),
    ]
    if not small:
        specs += [
            ("h128_long", dict(lens=[1000, 2049], h_q=128)),
            ("b16_varlen_sq2", dict(lens=[(i * 97) % 700 for i in range(16)], h_q=16, s_q=2, causal=True)),
        ]
    return [
        make_case(name, dtype=dtype, device=device, seed=1000 + i, **kw) for i, (name, kw) in enumerate(specs)
    ]
