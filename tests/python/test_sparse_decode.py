"""Sparse FP8 decode (flash_mla.sparse_decode) and the cache quantizer (flash_mla.quant).

CPU tests: quant.py and the C++ quantizer produce the same bytes; dequantization agrees; the op matches a
float64 torch reference built on quant.py's dequantizer (holes, garbage, topk_length, extra cache, sinks);
the fake implementation gives the right shapes. GPU tests (skipped without CUDA): the kernel against the
CPU op on the same inputs.
"""

import math

import pytest
import torch

import flash_mla  # noqa: F401  (loads the op library)
from flash_mla import quant
from flash_mla.sparse_decode import sparse_decode

FORMATS = {"v32": (576, 656, quant.quantize_v32, quant.dequantize_v32),
           "model1": (512, 584, quant.quantize_model1, quant.dequantize_model1)}


def _latent(nb, page, d, seed, max_exp=6):
    # Token magnitudes 2^-max_exp .. 2^max_exp (max_exp 0: values in [-1, 1]).
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(nb, page, 1, d, generator=g) / 10).clamp(-1, 1)
    mag = torch.pow(2.0, torch.randint(-max_exp, max_exp + 1, (nb, page, 1, 1), generator=g).float())
    x = x * mag
    x[0, 0, 0, :7] = 0  # a zero run
    return x.to(torch.bfloat16)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("page", [1, 7, 64])
def test_quant_bytes_match_cpp(fmt, page):
    d, bpt, qfn, dqfn = FORMATS[fmt]
    x = _latent(5, page, d, seed=page)
    py = qfn(x).view(torch.uint8)
    cpp = torch.ops.flash_mla.quantize_kv_cache(x)
    assert py.shape == cpp.shape == (5, page, 1, bpt)
    diff = (py != cpp).nonzero()
    assert diff.numel() == 0, f"{fmt}: first differing byte at {diff[0].tolist()}"
    back_py = dqfn(py)
    back_cpp = torch.ops.flash_mla.dequantize_kv_cache(cpp, d)
    assert torch.equal(back_py.view(torch.int16), back_cpp.view(torch.int16))
    # RoPE exact, NoPE within e4m3 precision.
    nope = 512 if fmt == "v32" else 448
    assert torch.equal(back_py[..., nope:], x[..., nope:])
    err = (back_py[..., :nope].float() - x[..., :nope].float()).abs()
    assert (err <= x[..., :nope].float().abs() / 15 + 1e-3).all()


def _reference(q, caches, indices, lengths, sink, scale, d):
    """float64 reference on dequantized caches (quant.py): (out, lse, out_abs), where out_abs is the same
    attention over |V| (sum_i w_i |v_i|, sink factor included): the scale of the error that rounding the
    weights to bf16 causes (docs/sparse_decode.md, "Accuracy")."""
    b, s_q, h_q, _ = q.shape
    out = torch.zeros(b, s_q, h_q, 512, dtype=torch.float64)
    out_abs = torch.zeros_like(out)
    lse = torch.full((b, h_q, s_q), math.inf, dtype=torch.float64)
    deq = [FORMATS["v32" if d == 576 else "model1"][3](c).reshape(-1, d).double() for c in caches]
    for i in range(b):
        for j in range(s_q):
            rows = []
            for kv, ind, ln in zip(deq, indices, lengths):
                n = ind.shape[2] if ln is None else max(0, min(int(ln[i]), ind.shape[2]))
                for t in range(n):
                    idx = int(ind[i, j, t])
                    if 0 <= idx < kv.shape[0]:
                        rows.append(kv[idx])
            if not rows:
                continue
            k = torch.stack(rows)
            s = (q[i, j].double() @ k.T) * scale
            l = torch.logsumexp(s, dim=-1)
            w = torch.softmax(s, dim=-1)
            o, o_abs = w @ k[:, :512], w @ k[:, :512].abs()
            if sink is not None:
                f = 1 / (1 + torch.exp(sink.double() - l)).unsqueeze(-1)
                o, o_abs = o * f, o_abs * f
            out[i, j] = o
            out_abs[i, j] = o_abs
            lse[i, :, j] = l
    return out, lse, out_abs


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("extra", [False, True])
def test_cpu_matches_reference(fmt, extra):
    d, bpt, qfn, _ = FORMATS[fmt]
    g = torch.Generator().manual_seed(1 if extra else 2)
    b, s_q, h_q, topk, page = 3, 2, 5, 40, 53
    cache = qfn(_latent(4, page, d, seed=3))
    ntok = 4 * page
    ind = torch.randint(0, ntok, (b, s_q, topk), generator=g, dtype=torch.int32)
    ind[0, 0, :5] = -1
    ind[1, 1, 3] = 2**31 - 1
    ind[2, 0, 4] = ntok
    ind[2, 1, 6] = -(2**31)
    lens = torch.tensor([topk, 0, 17], dtype=torch.int32)
    q = (torch.randn(b, s_q, h_q, d, generator=g) / 10).clamp(-1, 1).to(torch.bfloat16)
    sink = torch.tensor([0.5, -math.inf, math.inf, -1.0, 2.0])
    kw = {}
    caches, indices, lengths = [cache], [ind], [lens]
    if extra:
        ecache = qfn(_latent(3, 2, d, seed=4))
        eind = torch.randint(-1, 6, (b, s_q, 9), generator=g, dtype=torch.int32)
        kw = dict(extra_k_cache=ecache, extra_indices=eind)
        caches.append(ecache)
        indices.append(eind)
        lengths.append(None)
    out, lse = sparse_decode(q, cache, ind, None, sink, topk_length=lens, **kw)
    assert out.shape == (b, s_q, h_q, 512) and out.dtype == torch.bfloat16
    assert lse.shape == (b, h_q, s_q) and lse.dtype == torch.float32
    ref_o, ref_l, _ = _reference(q, caches, indices, lengths, sink, d ** -0.5, d)
    torch.testing.assert_close(out.double(), ref_o, atol=1e-3, rtol=2.01 / 128)
    fin = torch.isfinite(ref_l)
    assert torch.equal(torch.isfinite(lse), fin)
    torch.testing.assert_close(lse.double()[fin], ref_l[fin], atol=1e-6, rtol=8.01 / 65536)


def test_bad_argument_names_it():
    q = torch.zeros(1, 1, 4, 576, dtype=torch.bfloat16)
    cache = torch.zeros(2, 64, 1, 600, dtype=torch.uint8)
    ind = torch.zeros(1, 1, 8, dtype=torch.int32)
    with pytest.raises(ValueError, match="k_cache.shape"):
        sparse_decode(q, cache, ind)
    with pytest.raises(TypeError, match="indices"):
        sparse_decode(q, torch.zeros(2, 64, 1, 656, dtype=torch.uint8), ind.float())


def test_fake_shapes():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        q = torch.empty(2, 3, 16, 512, dtype=torch.bfloat16)
        cache = torch.empty(4, 64, 1, 584, dtype=torch.float8_e4m3fn)
        ind = torch.empty(2, 3, 128, dtype=torch.int32)
        out, lse = torch.ops.flash_mla.sparse_decode(q, cache, ind, 0.0, None, None, None, None, None)
        assert out.shape == (2, 3, 16, 512) and lse.shape == (2, 16, 3)


# The GPU kernel's P*V takes the softmax weights in bf16 (as every Hopper MLA kernel's), the CPU backend
# in fp32. Rounding weight w_i to bf16 moves it by at most 2^-9 w_i, so the output moves by at most
# 2^-9 * sum_i w_i |v_i| (times the sink factor): an error that scales with the magnitude of the values,
# not of the output, so values of +-64 that cancel can exceed a fixed atol (docs/sparse_decode.md,
# "Accuracy"). The check is that bound, from the float64 reference, plus both sides' bf16 output rounding
# (2.01/128 |out|) and 1e-5 for the fp32 sums. With values in [-1, 1] ("unit") the fixed tolerance
# (atol 1e-3) is checked as well.
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("h_q", [16, 64, 128])
@pytest.mark.parametrize("values", ["unit", "wide"])
def test_gpu_matches_cpu(fmt, h_q, values):
    d, _, qfn, _ = FORMATS[fmt]
    g = torch.Generator().manual_seed(h_q)
    b, s_q, topk, page = 4, 2, 256, 64
    cache = qfn(_latent(40, page, d, seed=5, max_exp=0 if values == "unit" else 6))
    ind = torch.randint(-1, 40 * page, (b, s_q, topk), generator=g, dtype=torch.int32)
    lens = torch.tensor([topk, 0, 100, 255], dtype=torch.int32)
    q = (torch.randn(b, s_q, h_q, d, generator=g) / 10).clamp(-1, 1).to(torch.bfloat16)
    sink = torch.randn(h_q, generator=g)
    o_cpu, l_cpu = sparse_decode(q, cache, ind, None, sink, topk_length=lens)
    dev = torch.device("cuda")
    o_gpu, l_gpu = sparse_decode(q.to(dev), cache.to(dev), ind.to(dev), None, sink.to(dev),
                                 topk_length=lens.to(dev))
    o_gpu = o_gpu.cpu().double()
    o_cpu = o_cpu.double()
    _, _, ref_abs = _reference(q, [cache], [ind], [lens], sink, d ** -0.5, d)
    bound = 2.0 ** -9 * ref_abs + 2.01 / 128 * o_cpu.abs() + 1e-5
    err = (o_gpu - o_cpu).abs()
    bad = ~(err <= bound)  # NaN fails too
    assert not bad.any(), (
        f"{int(bad.sum())} of {bad.numel()} outputs past the bf16-P bound; first {bad.nonzero()[0].tolist()}: "
        f"gpu {float(o_gpu[bad][0])} cpu {float(o_cpu[bad][0])} bound {float(bound[bad][0]):.3g}; "
        f"worst err/bound {float((err / bound).max()):.3f}")
    if values == "unit":
        torch.testing.assert_close(o_gpu, o_cpu, atol=1e-3, rtol=2.01 / 128)
    fin = torch.isfinite(l_cpu)
    assert torch.equal(torch.isfinite(l_gpu.cpu()), fin)
    torch.testing.assert_close(l_gpu.cpu()[fin], l_cpu[fin], atol=1e-6, rtol=8.01 / 65536)
