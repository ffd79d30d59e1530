"""flash_mla.flash_mla_sparse_fwd (sparse top-k prefill) against a plain-PyTorch float64 reference.

CPU tests run everywhere (CI); the CUDA tests skip without an sm_90 GPU.
"""

import math

import pytest
import torch

from flash_mla.sparse_prefill import flash_mla_sparse_fwd

FILLERS = (-(2**31), -1, None, 2**31 - 1)  # None: s_kv


def make(s_q, s_kv, h_q, topk, d_qk=576, invalid=0.25, lengths=False, sink=None, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    q = (torch.randn(s_q, h_q, d_qk, generator=g) / 10).clamp(-1, 1).to(torch.bfloat16)
    kv = (torch.randn(s_kv, 1, d_qk, generator=g) / 10).clamp(-1, 1).to(torch.bfloat16)
    idx = torch.randint(0, max(s_kv, 1), (s_q, 1, topk), generator=g, dtype=torch.int32)
    mask = torch.rand(s_q, 1, topk, generator=g) < invalid
    fill = torch.tensor([s_kv if f is None else f for f in FILLERS], dtype=torch.int32)
    idx[mask] = fill[torch.arange(int(mask.sum())) % 4]
    tl = torch.randint(-2, topk + 3, (s_q,), generator=g, dtype=torch.int32) if lengths else None
    # NaN in every kv row no valid position references
    valid = (idx >= 0) & (idx < s_kv)
    if tl is not None:
        valid &= torch.arange(topk).view(1, 1, -1) < tl.view(-1, 1, 1)
    used = torch.zeros(s_kv, dtype=torch.bool)
    used[idx[valid].long()] = True
    kv[~used] = float("nan")
    s = None
    if sink is not None:
        s = torch.rand(h_q, generator=g) * 10 - 2
        if sink == "inf":
            s[0::3] = float("inf")
            s[1::3] = float("-inf")
    to = lambda t: None if t is None else t.to(device)  # noqa: E731
    return to(q), to(kv), to(idx), to(tl), to(s)


def reference(q, kv, idx, sm_scale, sink=None, tl=None):
    s_q, h_q, _ = q.shape
    s_kv, topk = kv.shape[0], idx.shape[-1]
    qd, kd = q.double().cpu(), kv[:, 0].double().cpu()
    idx = idx[:, 0].long().cpu()
    valid = (idx >= 0) & (idx < s_kv)
    if tl is not None:
        valid &= torch.arange(topk).view(1, -1) < tl.cpu().view(-1, 1).long()
    safe = torch.where(valid, idx, torch.zeros_like(idx))
    k = kd[safe]  # [s_q, topk, d]
    k = torch.where(valid[..., None], k, torch.zeros_like(k))
    logits = torch.einsum("shd,std->sht", qd, k) * sm_scale
    logits = logits.masked_fill(~valid[:, None, :], float("-inf"))
    max_logits = logits.amax(-1)
    lse = torch.logsumexp(logits, -1)
    p = torch.exp(logits - lse[..., None]).nan_to_num(0.0)
    out = torch.einsum("sht,std->shd", p, k[..., :512])
    if sink is not None:
        out = out / (1 + torch.exp(sink.double().cpu()[None, :] - lse))[..., None]
    empty = ~valid.any(-1)
    out[empty] = 0
    lse = lse.masked_fill(empty[:, None], float("inf"))
    return out, max_logits.float(), lse.float()


def check(got, ref, name):
    out, ml, lse = got
    r_out, r_ml, r_lse = ref
    assert out.dtype == torch.bfloat16 and ml.dtype == torch.float32 and lse.dtype == torch.float32
    o, ro = out.double().cpu(), r_out
    err = (o - ro).abs()
    ok = (err < 8e-4) | (err < (3.01 / 128) * ro.abs())
    assert bool(ok.all()), f"{name}: out: {int((~ok).sum())} bad elements, max abs err {err.max().item():.3g}"
    denom = (o * o).sum() + (ro * ro).sum()
    cos_diff = 0.0 if denom == 0 else 1 - 2 * (o * ro).sum().item() / denom.item()
    assert cos_diff < 7e-6, f"{name}: out cos diff {cos_diff:.3g}"
    for what, g, r in (("max_logits", ml.cpu(), r_ml), ("lse", lse.cpu(), r_lse)):
        same_inf = torch.equal(torch.isinf(g), torch.isinf(r)) and torch.equal(g[torch.isinf(g)], r[torch.isinf(r)])
        assert same_inf, f"{name}: {what}: infinite entries differ"
        fin = torch.isfinite(r)
        e = (g[fin].double() - r[fin].double()).abs()
        good = (e < 1e-6) | (e < (2.01 / 65536) * r[fin].double().abs())
        assert bool(good.all()), f"{name}: {what}: max abs err {e.max().item():.3g}"


CASES = [
    dict(name="d576_h1_topk1", s_q=3, s_kv=8, h_q=1, topk=1),
    dict(name="d512_h3_topk5", s_q=4, s_kv=40, h_q=3, topk=5, d_qk=512),
    dict(name="d576_h16_topk128_lengths_sink", s_q=3, s_kv=400, h_q=16, topk=128, lengths=True, sink="rand"),
    dict(name="d512_h64_topk300_skv100_sinkinf", s_q=2, s_kv=100, h_q=64, topk=300, d_qk=512, sink="inf"),
    dict(name="d576_h100_topk64_allinvalid", s_q=2, s_kv=50, h_q=100, topk=64, invalid=1.0),
]


def _run(c, device):
    kw = {k: v for k, v in c.items() if k != "name"}
    q, kv, idx, tl, sink = make(device=device, **kw)
    scale = 1 / math.sqrt(q.shape[-1])
    got = flash_mla_sparse_fwd(q, kv, idx, scale, attn_sink=sink, topk_length=tl)
    check(got, reference(q, kv, idx, scale, sink, tl), c["name"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_cpu(case):
    _run(case, "cpu")


def test_cpu_flattened_paged_kv_row_stride():
    q, kv, idx, _, _ = make(2, 64, 4, 16, d_qk=576, invalid=0.0)
    paged = torch.full((64, 1, 640), float("nan"), dtype=torch.bfloat16)
    paged[:, :, :576] = kv
    view = paged[:, :, :576]  # row stride 640
    got = flash_mla_sparse_fwd(q, view, idx, 0.05)
    check(got, reference(q, kv, idx, 0.05), "stride640")


def test_errors():
    q, kv, idx, _, _ = make(2, 16, 4, 8)
    with pytest.raises(ValueError, match="sm_scale"):
        flash_mla_sparse_fwd(q, kv, idx, 0.0)
    with pytest.raises(TypeError, match="q.dtype"):
        flash_mla_sparse_fwd(q.float(), kv, idx, 0.1)
    with pytest.raises(TypeError, match="indices"):
        flash_mla_sparse_fwd(q, kv, idx.long(), 0.1)
    with pytest.raises(ValueError, match="d_v"):
        flash_mla_sparse_fwd(q, kv, idx, 0.1, d_v=256)
    with pytest.raises(ValueError, match="indices.shape"):
        flash_mla_sparse_fwd(q, kv, idx[:1], 0.1)
    with pytest.raises(TypeError, match="sm_scale"):
        flash_mla_sparse_fwd(q, kv, idx, None)


def test_fake_shapes():
    q = torch.empty(5, 16, 576, dtype=torch.bfloat16, device="meta")
    kv = torch.empty(100, 1, 576, dtype=torch.bfloat16, device="meta")
    idx = torch.empty(5, 1, 64, dtype=torch.int32, device="meta")
    out, ml, lse = flash_mla_sparse_fwd(q, kv, idx, 0.1)
    assert out.shape == (5, 16, 512) and out.dtype == torch.bfloat16
    assert ml.shape == (5, 16) and lse.shape == (5, 16) and lse.dtype == torch.float32


def test_compile():
    q, kv, idx, tl, sink = make(2, 50, 4, 16, lengths=True, sink="rand")
    fn = torch.compile(lambda *a: flash_mla_sparse_fwd(*a, attn_sink=sink, topk_length=tl), fullgraph=True)
    got = fn(q, kv, idx, 0.05)
    check(got, reference(q, kv, idx, 0.05, sink, tl), "compiled")


def _hopper():
    return torch.cuda.is_available() and torch.cuda.get_device_capability()[0] == 9


@pytest.mark.skipif(not _hopper(), reason="needs an sm_90 GPU")
@pytest.mark.parametrize("case", CASES + [
    dict(name="d576_h128_topk2048_skv8192_sink", s_q=4, s_kv=8192, h_q=128, topk=2048, sink="rand", invalid=0.05),
    dict(name="d512_h1_topk5_sq70000", s_q=70000, s_kv=1000, h_q=1, topk=5, d_qk=512, lengths=True),
], ids=lambda c: c["name"])
def test_cuda(case):
    _run(case, "cuda")
