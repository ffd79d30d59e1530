"""Dense decode over an FP8 (e4m3) KV cache with per-tensor descales (docs/spec.md §8), CPU backend.

The fp8 result is compared with an fp64 reference on the dequantized inputs (vLLM's bar: cosine distance
< 1e-4 on out, < 1e-5 on lse); the error against the unquantized bf16 result is printed per case.
"""

import pytest
import torch

import flash_mla
from flash_mla.quant import quantize_dense_fp8


def _cos(a, b):
    a, b = a.double().flatten(), b.double().flatten()
    return 1.0 - (a @ b / (a.norm() * b.norm()).clamp_min(1e-300)).item()


def _ref(q, k, block_table, lens, causal):
    """fp64 attention; q [b, s_q, h_q, 576], k [nb, page, h_kv, 576] float64."""
    b, s_q, h_q, _ = q.shape
    page, h_kv = k.shape[1], k.shape[2]
    out = torch.zeros(b, s_q, h_q, 512, dtype=torch.float64)
    lse = torch.full((b, h_q, s_q), float("inf"), dtype=torch.float64)
    for i in range(b):
        L = int(lens[i])
        keys = torch.cat([k[block_table[i, p]] for p in range((L + page - 1) // page)] or [k[:0, 0]], 0)[:L]
        for j in range(s_q):
            lim = max(0, L - (s_q - 1 - j)) if causal else L
            if lim == 0:
                continue
            kk = keys[:lim].repeat_interleave(h_q // h_kv, dim=1)  # [lim, h_q, 576]
            s = torch.einsum("hd,thd->ht", q[i, j], kk) * 576 ** -0.5
            lse[i, :, j] = torch.logsumexp(s, -1)
            out[i, j] = torch.einsum("ht,thd->hd", torch.softmax(s, -1), kk[..., :512])
    return out, lse


CASES = [  # (name, fp8_q, b, s_q, h_q, h_kv, lens, causal)
    ("bf16q_odd", False, 3, 1, 16, 1, [1, 77, 130], False),
    ("fp8q_odd", True, 3, 1, 16, 1, [1, 77, 130], False),
    ("fp8q_hkv2_zero", True, 2, 1, 8, 2, [0, 33], False),
    ("bf16q_sq2_causal", False, 2, 2, 8, 2, [1, 65], True),
    ("fp8q_sq2_causal", True, 2, 2, 8, 1, [1, 65], True),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_dense_fp8_matches_reference(case):
    name, fp8_q, b, s_q, h_q, h_kv, lens, causal = case
    torch.manual_seed(len(name))
    page = 64
    maxb = max(1, max((L + page - 1) // page for L in lens))
    nb = b * maxb + 1
    k_bf16 = (torch.randn(nb, page, h_kv, 576) / 10).clamp(-1, 1).to(torch.bfloat16)
    q_bf16 = (torch.randn(b, s_q, h_q, 576) / 10).clamp(-1, 1).to(torch.bfloat16)
    block_table = torch.randperm(nb - 1, dtype=torch.int32)[: b * maxb].add(1).reshape(b, maxb)
    cache_seqlens = torch.tensor(lens, dtype=torch.int32)
    k8, dk = quantize_dense_fp8(k_bf16)
    k8.view(torch.uint8)[0] = 0x7F  # page 0 is never used: NaN
    if fp8_q:
        q8, dq = quantize_dense_fp8(q_bf16.reshape(b * s_q, 1, h_q, 576))
        q_in, q_real = q8.reshape(b, s_q, h_q, 576), q8.double().reshape(b, s_q, h_q, 576) * dq.double()
    else:
        q_in, dq, q_real = q_bf16, None, q_bf16.double()
    md, ns = flash_mla.get_mla_metadata_dense_fp8(cache_seqlens, s_q * h_q // h_kv, h_kv)
    out, lse = flash_mla.flash_mla_with_kvcache_fp8(q_in, k8, block_table, cache_seqlens, 512, md, ns,
                                                    causal=causal, descale_q=dq, descale_k=dk)
    assert out.dtype == torch.bfloat16 and lse.dtype == torch.float32
    assert not out.isnan().any() and not lse.isnan().any()
    ro, rl = _ref(q_real, k8.double() * dk.double(), block_table.long(), lens, causal)
    fin = torch.isfinite(rl)
    assert torch.all(lse[~fin] == float("inf")) and torch.all(out.permute(0, 2, 1, 3)[~fin] == 0)
    co, cl = _cos(out, ro), _cos(lse[fin], rl[fin])
    assert co < 1e-4 and cl < 1e-5, (name, co, cl)
    bo, bl = _ref(q_bf16.double(), k_bf16.double(), block_table.long(), lens, causal)
    print(f"[{name}] vs dequantized: out {co:.2e} lse {cl:.2e}; vs unquantized bf16: out cos-dist "
          f"{_cos(out, bo):.2e}, lse cos-dist {_cos(lse[fin], bl[fin]):.2e}, "
          f"max|out-bf16| {(out.double() - bo).abs().max().item():.3e}")


def test_vllm_sglang_call_sequence():
    # vLLM: get_mla_metadata_dense_fp8 then flash_mla_with_kvcache_fp8, q e4m3 and descales of 1 (SGLang).
    torch.manual_seed(0)
    b, h_q, h_kv = 2, 16, 1
    k8 = (torch.randn(4, 64, h_kv, 576) / 10).to(torch.float8_e4m3fn)
    q8 = (torch.randn(b, 1, h_q, 576) / 10).to(torch.float8_e4m3fn)
    bt = torch.tensor([[0, 1], [2, 3]], dtype=torch.int32)
    lens = torch.tensor([100, 7], dtype=torch.int32)
    one = torch.ones(1, dtype=torch.float32)
    md, ns = flash_mla.get_mla_metadata_dense_fp8(lens, h_q // h_kv, h_kv)
    out, lse = flash_mla.flash_mla_with_kvcache_fp8(q8, k8, bt, lens, 512, md, ns, None, False, one, one)
    out2, lse2 = flash_mla.flash_mla_with_kvcache(q8, k8, bt, lens, 512, md, ns, is_fp8_kvcache=True)
    assert torch.equal(out, out2) and torch.equal(lse, lse2)
    ro, rl = _ref(q8.double(), k8.double(), bt.long(), [100, 7], False)
    assert _cos(out, ro) < 1e-4 and _cos(lse, rl) < 1e-5


def test_descale_errors():
    k8 = torch.zeros(1, 64, 1, 576, dtype=torch.float8_e4m3fn)
    q = torch.zeros(1, 1, 4, 576, dtype=torch.bfloat16)
    bt = torch.zeros(1, 1, dtype=torch.int32)
    lens = torch.tensor([3], dtype=torch.int32)
    one = torch.ones(1)
    with pytest.raises(ValueError, match="descale_q"):
        flash_mla.flash_mla_with_kvcache_fp8(q, k8, bt, lens, 512, None, None, descale_q=one, descale_k=one)
    with pytest.raises(ValueError, match="descale_k"):
        flash_mla.flash_mla_with_kvcache_fp8(q, k8, bt, lens, 512, None, None, descale_k=torch.zeros(1))
    with pytest.raises(ValueError, match="descale_k"):
        flash_mla.flash_mla_with_kvcache_fp8(q, k8, bt, lens, 512, None, None, descale_k=torch.ones(2))


def test_quantize_dense_fp8():
    x = (torch.randn(2, 64, 2, 576)).to(torch.bfloat16)
    k8, d = quantize_dense_fp8(x)
    assert k8.dtype == torch.float8_e4m3fn and d.shape == (1,) and d.dtype == torch.float32
    assert torch.isclose(d, x.float().abs().amax() / 448).all()
    assert ((k8.float() * d - x.float()).abs() <= x.float().abs() / 16 + 1e-2 * d).all()
