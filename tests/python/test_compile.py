"""The ops are proper torch custom ops: opcheck (schema, fake/meta implementations, AOT dispatch) and
torch.compile(fullgraph=True) of functions that call them, on CPU tensors."""

import pytest
import torch

import flash_mla
from mla_reference import make_case


def _case(**kw):
    args = dict(lens=[70, 0, 129], s_q=2, h_q=8, causal=True, seed=21)
    args.update(kw)
    return make_case("compile", **args)


def test_opcheck_decode():
    c = _case()
    md, ns = flash_mla.get_mla_metadata(c.cache_seqlens, c.s_q * c.h_q // c.h_kv, c.h_kv)
    torch.library.opcheck(
        torch.ops.flash_mla.decode.default,
        (c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, md, ns, None, True),
    )
    torch.library.opcheck(
        torch.ops.flash_mla.decode.default,
        (c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, None, None, 0.25, False),
    )


def test_opcheck_decode_hkv2_fp16():
    c = _case(h_kv=2, dtype=torch.float16, causal=False)
    torch.library.opcheck(
        torch.ops.flash_mla.decode.default,
        (c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, None, None, None, False),
    )


@pytest.mark.parametrize("s_q", [0, 2])
def test_opcheck_get_mla_metadata(s_q):
    seqlens = torch.tensor([5, 700, 0, 64], dtype=torch.int32)
    torch.library.opcheck(torch.ops.flash_mla.get_mla_metadata.default, (seqlens, 16 * max(s_q, 1), 1, s_q))


def test_fake_metadata_shape_matches_real():
    seqlens = torch.tensor([5, 700, 0, 64], dtype=torch.int32)
    for rows, h_kv, s_q in [(16, 1, 0), (128, 1, 1), (256, 1, 2), (8, 8, 1), (130, 2, 0)]:
        md, ns = torch.ops.flash_mla.get_mla_metadata(seqlens, rows, h_kv, s_q)
        with torch._subclasses.fake_tensor.FakeTensorMode() as mode:
            fmd, fns = torch.ops.flash_mla.get_mla_metadata(mode.from_tensor(seqlens), rows, h_kv, s_q)
        assert fmd.shape == md.shape and fns.shape == ns.shape
        assert fmd.dtype == torch.int32 and fns.dtype == torch.int32
        meta = seqlens.to("meta")
        mmd, mns = torch.ops.flash_mla.get_mla_metadata(meta, rows, h_kv, s_q)
        assert mmd.shape == md.shape and mns.shape == ns.shape and mmd.device.type == "meta"


def test_meta_decode_shapes():
    c = _case().to("meta")
    out, lse = flash_mla.flash_mla_with_kvcache(c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, None, None)
    assert out.shape == (3, 2, 8, 512) and out.dtype == torch.bfloat16 and out.device.type == "meta"
    assert lse.shape == (3, 8, 2) and lse.dtype == torch.float32


def test_compile_fullgraph_decode():
    c = _case()
    md, ns = flash_mla.get_mla_metadata(c.cache_seqlens, c.s_q * c.h_q // c.h_kv, c.h_kv)

    def step(q, k_cache, block_table, cache_seqlens, md, ns):
        out, lse = flash_mla.flash_mla_with_kvcache(q, k_cache, block_table, cache_seqlens, 512, md, ns, causal=True)
        return out.float() * 2, lse + 1

    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True)
    got = compiled(c.q, c.k_cache, c.block_table, c.cache_seqlens, md, ns)
    want = step(c.q, c.k_cache, c.block_table, c.cache_seqlens, md, ns)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_compile_fullgraph_metadata_and_decode():
    c = _case(causal=False)

    def step(q, k_cache, block_table, cache_seqlens):
        md, ns = flash_mla.get_mla_metadata(cache_seqlens, q.shape[1] * q.shape[2] // k_cache.shape[2], k_cache.shape[2])
        out, lse = flash_mla.flash_mla_with_kvcache(q, k_cache, block_table, cache_seqlens, 512, md, ns, softmax_scale=0.1)
        return out, lse, ns

    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True)
    got = compiled(c.q, c.k_cache, c.block_table, c.cache_seqlens)
    want = step(c.q, c.k_cache, c.block_table, c.cache_seqlens)
    for g, w in zip(got, want):
        assert torch.equal(g, w)


def test_compile_dynamic_batch():
    def step(q, k_cache, block_table, cache_seqlens):
        return flash_mla.flash_mla_with_kvcache(q, k_cache, block_table, cache_seqlens, 512, None, None)

    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, dynamic=True)
    for lens in ([10, 300], [64, 1, 129]):
        c = _case(lens=lens, s_q=1, causal=False)
        got = compiled(c.q, c.k_cache, c.block_table, c.cache_seqlens)
        want = step(c.q, c.k_cache, c.block_table, c.cache_seqlens)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
