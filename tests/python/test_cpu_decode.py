"""The CPU backend (flash_mla on CPU tensors) against the plain-PyTorch float64 reference (docs/spec.md §1)."""

import pytest
import torch

import flash_mla
from mla_reference import DTYPES, adversarial_cases, assert_close, make_case, reference

CASES = {dt: adversarial_cases(DTYPES[dt]) for dt in ("bf16", "fp16")}
IDS = [c.name for c in CASES["bf16"]]


def _run(c, with_metadata=True):
    md = ns = None
    if with_metadata:
        md, ns = flash_mla.get_mla_metadata(c.cache_seqlens, c.s_q * c.h_q // c.h_kv, c.h_kv)
    return flash_mla.flash_mla_with_kvcache(
        c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, md, ns, softmax_scale=c.softmax_scale, causal=c.causal
    )


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
@pytest.mark.parametrize("index", range(len(IDS)), ids=IDS)
def test_adversarial(dtype, index):
    c = CASES[dtype][index]
    out, lse = _run(c)
    assert out.dtype == c.q.dtype and lse.dtype == torch.float32
    assert_close(out, lse, *reference(c), what=f"{c.name}/{dtype}")


def test_empty_rows_are_zero_and_inf():
    c = make_case("empty", lens=[0, 2], s_q=4, h_q=4, causal=True)
    out, lse = _run(c)
    assert torch.all(out[0] == 0) and torch.all(torch.isinf(lse[0])) and torch.all(lse[0] > 0)
    # request 1 has 2 keys: query tokens 0 and 1 of 4 see none (end-aligned mask)
    assert torch.all(out[1, :2] == 0) and torch.all(torch.isinf(lse[1, :, :2]))
    assert torch.all(torch.isfinite(lse[1, :, 2:]))


def test_nan_outside_lengths_never_leaks():
    c = make_case("nan", lens=[65, 3], h_q=8, nan_fill=True)
    out, lse = _run(c)
    assert not torch.isnan(out).any() and not torch.isnan(lse).any()


def test_shuffled_tables_match_contiguous():
    """The same keys reached through a shuffled and through an identity block table give the same result."""
    c = make_case("shuffled", lens=[300, 129], h_q=16, seed=11)
    out, lse = _run(c)
    pages = [c.block_table[i, : (int(c.cache_seqlens[i]) + 63) // 64] for i in range(c.b)]
    flat = torch.cat(pages).long()
    k2 = c.k_cache[flat]
    bt2 = torch.full_like(c.block_table, 2**31 - 1)
    pos = 0
    for i, p in enumerate(pages):
        bt2[i, : len(p)] = torch.arange(pos, pos + len(p), dtype=torch.int32)
        pos += len(p)
    out2, lse2 = flash_mla.flash_mla_with_kvcache(c.q, k2, bt2, c.cache_seqlens, 512, None, None)
    assert torch.equal(out, out2) and torch.equal(lse, lse2)


def test_without_metadata_same_result():
    c = make_case("nometa", lens=[100, 7], s_q=2, h_q=8, causal=True)
    a = _run(c, True)
    b = _run(c, False)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_strided_inputs():
    """Non-contiguous leading strides of q, k_cache (a view of a wider cache) and block_table."""
    c = make_case("strided", lens=[90, 140], s_q=2, h_q=4, h_kv=1, q_strided=True, causal=True, seed=5)
    wide = torch.zeros(c.k_cache.shape[0], 64, 2, 576, dtype=c.k_cache.dtype)
    wide[:, :, 1] = c.k_cache[:, :, 0]
    k_view = wide[:, :, 1:2]
    bt_rows = torch.zeros(c.b * 2, c.block_table.shape[1], dtype=torch.int32)
    bt_rows[::2] = c.block_table
    bt_view = bt_rows[::2]
    assert not bt_view.is_contiguous() and not k_view.is_contiguous() and not c.q.is_contiguous()
    out, lse = flash_mla.flash_mla_with_kvcache(c.q, k_view, bt_view, c.cache_seqlens, 512, None, None, causal=True)
    assert_close(out, lse, *reference(c))


def test_compare_catches_errors():
    """The checks above are not vacuous: one wrong element, a lost +inf or a NaN is reported."""
    from mla_reference import compare

    c = make_case("cmp", lens=[0, 100], h_q=4)
    out, lse = _run(c)
    ref = reference(c)
    assert compare(out, lse, *ref) == []
    bad = out.clone()
    bad[1, 0, 2, 7] += 0.25
    assert any("out" in e for e in compare(bad, lse, *ref))
    bad_lse = lse.clone()
    bad_lse[0, 0, 0] = 0.0  # an empty row must be +inf
    assert any("inf positions" in e for e in compare(out, bad_lse, *ref))
    nan_out = out.clone()
    nan_out[1, 0, 0, 0] = float("nan")
    assert any("NaN" in e for e in compare(nan_out, lse, *ref))
