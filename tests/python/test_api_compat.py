"""The three generations of DeepSeek FlashMLA's Python API, on CPU tensors (docs/spec.md §3)."""

import inspect

import pytest
import torch

import flash_mla
from mla_reference import assert_close, make_case, reference


def _case(**kw):
    args = dict(lens=[70, 0, 129], s_q=2, h_q=8, h_kv=1, causal=True, seed=7)
    args.update(kw)
    return make_case("compat", **args)


def _rows(c):
    return c.s_q * c.h_q // c.h_kv


# ---- signatures ----------------------------------------------------------------------------------


def test_version_and_exports():
    assert flash_mla.__version__ == "0.1.0"
    for name in ("get_mla_metadata", "flash_mla_with_kvcache", "FlashMLASchedMeta"):
        assert hasattr(flash_mla, name)
    assert hasattr(torch.ops.flash_mla, "decode")
    assert hasattr(torch.ops.flash_mla, "get_mla_metadata")


def test_flash_mla_with_kvcache_signature():
    params = inspect.signature(flash_mla.flash_mla_with_kvcache).parameters
    names = list(params)
    assert names == [
        "q", "k_cache", "block_table", "cache_seqlens", "head_dim_v", "tile_scheduler_metadata", "num_splits",
        "softmax_scale", "causal", "is_fp8_kvcache", "indices", "attn_sink", "extra_k_cache",
        "extra_indices_in_kvcache", "topk_length", "extra_topk_length",
    ]
    for required in names[:7]:
        assert params[required].default is inspect.Parameter.empty, required
    assert params["softmax_scale"].default is None
    assert params["causal"].default is False
    assert params["is_fp8_kvcache"].default is False
    assert params["indices"].default is None


def test_get_mla_metadata_signature():
    params = inspect.signature(flash_mla.get_mla_metadata).parameters
    positional = [n for n, p in params.items() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert positional == ["cache_seqlens", "num_q_tokens_per_head_k", "num_heads_k", "num_heads_q", "is_fp8_kvcache", "topk"]
    assert params["num_heads_q"].default is None
    assert params["is_fp8_kvcache"].default is False
    assert params["topk"].default is None
    # 2025-02 keyword name of the second argument
    assert "num_heads_per_head_k" in params


# ---- generation 1 (2025-02) ------------------------------------------------------------------------


def _check_metadata(md, ns, b):
    assert isinstance(md, torch.Tensor) and isinstance(ns, torch.Tensor)
    assert md.dtype == torch.int32 and ns.dtype == torch.int32
    assert md.dim() == 2 and md.shape[1] == 8 and md.shape[0] >= 1
    assert ns.shape == (b + 1,)
    assert ns[0].item() == 0
    assert bool((ns[1:] >= ns[:-1]).all())


def test_gen1_positional():
    c = _case()
    result = flash_mla.get_mla_metadata(c.cache_seqlens, _rows(c), c.h_kv)
    assert isinstance(result, tuple) and len(result) == 2
    md, ns = result
    _check_metadata(md, ns, c.b)
    ret = flash_mla.flash_mla_with_kvcache(c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, md, ns, causal=True)
    assert isinstance(ret, tuple) and len(ret) == 2
    out, lse = ret
    assert out.shape == (c.b, c.s_q, c.h_q, 512) and out.dtype == c.q.dtype
    assert lse.shape == (c.b, c.h_q, c.s_q) and lse.dtype == torch.float32
    assert out.is_contiguous() and lse.is_contiguous()
    assert_close(out, lse, *reference(c))


def test_gen1_keywords():
    c = _case(causal=False)
    md, ns = flash_mla.get_mla_metadata(cache_seqlens=c.cache_seqlens, num_heads_per_head_k=_rows(c), num_heads_k=c.h_kv)
    _check_metadata(md, ns, c.b)
    out, lse = flash_mla.flash_mla_with_kvcache(
        q=c.q, k_cache=c.k_cache, block_table=c.block_table, cache_seqlens=c.cache_seqlens, head_dim_v=512,
        tile_scheduler_metadata=md, num_splits=ns, softmax_scale=None, causal=False,
    )
    assert_close(out, lse, *reference(c))


def test_gen1_same_metadata_as_op():
    c = _case()
    md, ns = flash_mla.get_mla_metadata(c.cache_seqlens, _rows(c), c.h_kv)
    md2, ns2 = torch.ops.flash_mla.get_mla_metadata(c.cache_seqlens, _rows(c), c.h_kv, 0)
    assert torch.equal(md, md2) and torch.equal(ns, ns2)


def test_cpu_metadata_optional():
    c = _case()
    md, ns = flash_mla.get_mla_metadata(c.cache_seqlens, _rows(c), c.h_kv)
    out1, lse1 = flash_mla.flash_mla_with_kvcache(c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, md, ns, causal=True)
    out2, lse2 = flash_mla.flash_mla_with_kvcache(c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, None, None, causal=True)
    assert torch.equal(out1, out2) and torch.equal(lse1, lse2)


def test_default_softmax_scale():
    c = _case()
    a = flash_mla.flash_mla_with_kvcache(c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, None, None, causal=True)
    b = flash_mla.flash_mla_with_kvcache(
        c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, None, None, softmax_scale=576**-0.5, causal=True
    )
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    s = flash_mla.flash_mla_with_kvcache(
        c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, None, None, softmax_scale=0.5, causal=True
    )
    c.softmax_scale = 0.5
    assert_close(*s, *reference(c))


# ---- generation 2 (2025-09) ------------------------------------------------------------------------


def test_gen2_num_heads_q():
    c = _case()
    md, ns = flash_mla.get_mla_metadata(c.cache_seqlens, _rows(c), c.h_kv, c.h_q, False, None)
    _check_metadata(md, ns, c.b)
    md2, ns2 = torch.ops.flash_mla.get_mla_metadata(c.cache_seqlens, _rows(c), c.h_kv, c.s_q)
    assert torch.equal(md, md2) and torch.equal(ns, ns2)
    out, lse = flash_mla.flash_mla_with_kvcache(
        c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, md, ns, None, True, False, None
    )
    assert_close(out, lse, *reference(c))


def test_gen2_dense_fp8_schedule_and_topk_gives_sched_meta():
    c = _case()
    # A dense FP8 cache (is_fp8_kvcache without topk) has the dense schedule (docs/spec.md §8).
    md8, ns8 = flash_mla.get_mla_metadata(c.cache_seqlens, _rows(c), c.h_kv, c.h_q, is_fp8_kvcache=True)
    md, ns = flash_mla.get_mla_metadata(c.cache_seqlens, _rows(c), c.h_kv, c.h_q)
    assert torch.equal(md, md8) and torch.equal(ns, ns8)
    # Sparse decode (topk given): the schedule is the lazy sched-meta object, as in the 2026-01 API.
    meta, none = flash_mla.get_mla_metadata(c.cache_seqlens, _rows(c), c.h_kv, c.h_q, is_fp8_kvcache=True, topk=128)
    assert isinstance(meta, flash_mla.FlashMLASchedMeta) and none is None


# ---- generation 3 (2026-01) ------------------------------------------------------------------------


def test_gen3_sched_meta():
    c = _case()
    result = flash_mla.get_mla_metadata()
    assert isinstance(result, tuple) and len(result) == 2
    sched, none = result
    assert none is None
    assert isinstance(sched, flash_mla.FlashMLASchedMeta)
    assert sched.tile_scheduler_metadata is None and sched.num_splits is None
    repr(sched)

    out, lse = flash_mla.flash_mla_with_kvcache(c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, sched, None, causal=True)
    assert_close(out, lse, *reference(c))
    # The schedule was computed from this call's configuration (s_q known exactly) and is kept.
    md, ns = sched.tile_scheduler_metadata, sched.num_splits
    md_ref, ns_ref = flash_mla.get_mla_metadata(c.cache_seqlens, _rows(c), c.h_kv, c.h_q)
    assert torch.equal(md, md_ref) and torch.equal(ns, ns_ref)
    repr(sched)

    # A second layer of the same step reuses it.
    out2, lse2 = flash_mla.flash_mla_with_kvcache(c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, sched, None, causal=True)
    assert sched.tile_scheduler_metadata is md and sched.num_splits is ns
    assert torch.equal(out, out2) and torch.equal(lse, lse2)


def test_gen3_config_mismatch():
    c = _case()
    sched, _ = flash_mla.get_mla_metadata()
    flash_mla.flash_mla_with_kvcache(c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, sched, None, causal=True)
    other_heads = _case(h_q=16)
    with pytest.raises(ValueError, match="FlashMLASchedMeta"):
        flash_mla.flash_mla_with_kvcache(
            other_heads.q, other_heads.k_cache, other_heads.block_table, other_heads.cache_seqlens, 512, sched, None
        )
    other_batch = _case(lens=[5, 6])
    with pytest.raises(ValueError, match="get_mla_metadata"):
        flash_mla.flash_mla_with_kvcache(
            other_batch.q, other_batch.k_cache, other_batch.block_table, other_batch.cache_seqlens, 512, sched, None
        )
    other_sq = _case(s_q=1)
    with pytest.raises(ValueError):
        flash_mla.flash_mla_with_kvcache(
            other_sq.q, other_sq.k_cache, other_sq.block_table, other_sq.cache_seqlens, 512, sched, None
        )
    other_hkv = _case(h_kv=2)
    with pytest.raises(ValueError):
        flash_mla.flash_mla_with_kvcache(
            other_hkv.q, other_hkv.k_cache, other_hkv.block_table, other_hkv.cache_seqlens, 512, sched, None
        )
    # The object still works for its own configuration.
    flash_mla.flash_mla_with_kvcache(c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, sched, None, causal=True)


def test_gen3_num_splits_must_be_none():
    c = _case()
    sched, _ = flash_mla.get_mla_metadata()
    ns = torch.zeros(c.b + 1, dtype=torch.int32)
    with pytest.raises(ValueError, match="num_splits"):
        flash_mla.flash_mla_with_kvcache(c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, sched, ns)


def test_gen3_bad_first_call_leaves_object_unset():
    c = _case(h_q=6, h_kv=4)  # h_q % h_kv != 0
    sched, _ = flash_mla.get_mla_metadata()
    with pytest.raises(ValueError, match="h_kv"):
        flash_mla.flash_mla_with_kvcache(c.q, c.k_cache, c.block_table, c.cache_seqlens, 512, sched, None)
    assert sched.tile_scheduler_metadata is None
    good = _case()
    flash_mla.flash_mla_with_kvcache(good.q, good.k_cache, good.block_table, good.cache_seqlens, 512, sched, None, causal=True)
    assert sched.tile_scheduler_metadata is not None


def test_get_mla_metadata_argument_forms():
    c = _case()
    with pytest.raises(TypeError):
        flash_mla.get_mla_metadata(c.cache_seqlens)  # missing num_q_tokens_per_head_k / num_heads_k
    with pytest.raises(TypeError):
        flash_mla.get_mla_metadata(c.cache_seqlens, 16, 1, num_heads_per_head_k=16)
    with pytest.raises(TypeError):
        flash_mla.get_mla_metadata(None, 16, 1)
