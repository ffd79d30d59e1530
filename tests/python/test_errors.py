"""Bad arguments raise ValueError / TypeError / NotImplementedError naming the argument, the expected and
the actual value; nothing crashes and the interpreter keeps working (docs/spec.md §3, §5)."""

import subprocess
import sys
import textwrap

import pytest
import torch

import flash_mla
from mla_reference import make_case

f = flash_mla.flash_mla_with_kvcache


def _case(**kw):
    args = dict(lens=[70, 129], s_q=1, h_q=8, h_kv=1, seed=3, nan_fill=False)
    args.update(kw)
    return make_case("errors", **args)


def _args(c):
    return dict(
        q=c.q, k_cache=c.k_cache, block_table=c.block_table, cache_seqlens=c.cache_seqlens, head_dim_v=512,
        tile_scheduler_metadata=None, num_splits=None,
    )


def _with(**changes):
    c = _case()
    a = _args(c)
    for k, v in changes.items():
        a[k] = v(c, a) if callable(v) else v
    return a


def _bad_table(c, a):
    t = a["block_table"].clone()
    t[1, 0] = c.k_cache.shape[0]  # a used page id == num_blocks
    return t


def _neg_len(c, a):
    s = a["cache_seqlens"].clone()
    s[0] = -1
    return s


def _md(c, a):
    return flash_mla.get_mla_metadata(c.cache_seqlens, c.s_q * c.h_q // c.h_kv, c.h_kv)


DECODE_ERRORS = [
    # name, changes, exception, substrings of the message
    ("q_float32", dict(q=lambda c, a: a["q"].float()), TypeError, ["q.dtype", "float32"]),
    ("q_float64", dict(q=lambda c, a: a["q"].double()), TypeError, ["q.dtype", "float64"]),
    ("q_int64", dict(q=lambda c, a: a["q"].long()), TypeError, ["q.dtype", "int64"]),
    ("k_cache_other_dtype", dict(k_cache=lambda c, a: a["k_cache"].half()), TypeError, ["k_cache.dtype", "float16"]),
    ("block_table_int64", dict(block_table=lambda c, a: a["block_table"].long()), TypeError, ["block_table.dtype", "int64"]),
    ("seqlens_int64", dict(cache_seqlens=lambda c, a: a["cache_seqlens"].long()), TypeError, ["cache_seqlens.dtype"]),
    ("q_rank3", dict(q=lambda c, a: a["q"][:, 0]), ValueError, ["q", "rank 4", "rank 3"]),
    ("q_rank6", dict(q=lambda c, a: a["q"][None, None]), ValueError, ["q", "rank 6"]),
    ("k_cache_rank3", dict(k_cache=lambda c, a: a["k_cache"][:, :, 0]), ValueError, ["k_cache", "rank 3"]),
    ("head_dim_v_256", dict(head_dim_v=256), NotImplementedError, ["head_dim_v", "512", "256"]),
    ("head_dim_v_0", dict(head_dim_v=0), ValueError, ["head_dim_v", "512", "got 0"]),
    ("head_dim_v_huge", dict(head_dim_v=100000), ValueError, ["head_dim_v", "100000"]),
    ("head_dim_512", dict(q=lambda c, a: a["q"][..., :512], k_cache=lambda c, a: a["k_cache"][..., :512].contiguous()),
     NotImplementedError, ["q.shape[3]", "576", "512"]),
    ("h_q_not_multiple", dict(k_cache=lambda c, a: a["k_cache"].expand(-1, -1, 3, -1).contiguous()), ValueError,
     ["h_kv", "h_q=8", "h_kv=3"]),
    ("h_kv_9", dict(q=lambda c, a: a["q"].repeat(1, 1, 9, 1)[:, :, :9],
                    k_cache=lambda c, a: a["k_cache"].expand(-1, -1, 9, -1).contiguous()), NotImplementedError,
     ["k_cache.shape[2]", "9"]),
    ("block_table_batch", dict(block_table=lambda c, a: a["block_table"][:1]), ValueError, ["block_table.shape[0]", "2", "1"]),
    ("seqlens_batch", dict(cache_seqlens=lambda c, a: a["cache_seqlens"][:1]), ValueError, ["cache_seqlens.shape[0]"]),
    ("seqlens_rank2", dict(cache_seqlens=lambda c, a: a["cache_seqlens"][None]), ValueError, ["cache_seqlens", "rank 2"]),
    ("negative_seqlen", dict(cache_seqlens=_neg_len), ValueError, ["cache_seqlens[0]", "-1"]),
    ("block_table_too_short", dict(block_table=lambda c, a: a["block_table"][:, :2].contiguous()), ValueError,
     ["block_table.shape[1]", "3", "got 2"]),
    ("page_id_out_of_range", dict(block_table=_bad_table), ValueError, ["block_table[1][0]"]),
    ("q_last_dim_strided", dict(q=lambda c, a: torch.cat([a["q"], a["q"]], -1)[..., ::2]), ValueError, ["q.stride[3]"]),
    ("k_cache_last_dim_strided", dict(k_cache=lambda c, a: torch.cat([a["k_cache"], a["k_cache"]], -1)[..., ::2]),
     ValueError, ["k_cache.stride[3]"]),
    ("metadata_wrong_shape", dict(tile_scheduler_metadata=lambda c, a: torch.zeros(4, 7, dtype=torch.int32),
                                  num_splits=lambda c, a: torch.zeros(3, dtype=torch.int32)), ValueError,
     ["tile_scheduler_metadata"]),
    ("num_splits_wrong_size", dict(tile_scheduler_metadata=lambda c, a: _md(c, a)[0],
                                   num_splits=lambda c, a: torch.zeros(7, dtype=torch.int32)), ValueError,
     ["num_splits.shape[0]", "3", "7"]),
    ("metadata_int64", dict(tile_scheduler_metadata=lambda c, a: _md(c, a)[0].long(),
                            num_splits=lambda c, a: _md(c, a)[1]), TypeError, ["tile_scheduler_metadata.dtype"]),
    ("softmax_scale_inf", dict(softmax_scale=float("inf")), ValueError, ["softmax_scale", "inf"]),
    ("batch_0", dict(q=lambda c, a: a["q"][:0], block_table=lambda c, a: a["block_table"][:0],
                     cache_seqlens=lambda c, a: a["cache_seqlens"][:0]), ValueError, ["q.shape[0]", "got 0"]),
]


@pytest.mark.parametrize("name,changes,exc,words", DECODE_ERRORS, ids=[e[0] for e in DECODE_ERRORS])
def test_decode_errors(name, changes, exc, words):
    a = _with(**changes)
    with pytest.raises(exc) as info:
        f(**a)
    msg = str(info.value)
    for w in words:
        assert w in msg, f"{name}: {w!r} not in message {msg!r}"
    if exc is not TypeError or "dtype" in msg:
        assert "expected" in msg and "got" in msg, msg


def test_same_errors_through_the_op():
    c = _case()
    with pytest.raises(TypeError, match=r"q\.dtype"):
        torch.ops.flash_mla.decode(c.q.float(), c.k_cache, c.block_table, c.cache_seqlens, 512, None, None, None, False)


METADATA_ERRORS = [
    ("heads_k_0", lambda s: flash_mla.get_mla_metadata(s, 16, 0), ValueError, ["num_heads_k", "0"]),
    ("heads_k_9", lambda s: flash_mla.get_mla_metadata(s, 16, 9), NotImplementedError, ["num_heads_k", "9"]),
    ("rows_0", lambda s: flash_mla.get_mla_metadata(s, 0, 1), ValueError, ["num_q_rows_per_head_k", "0"]),
    ("rows_huge", lambda s: flash_mla.get_mla_metadata(s, 2**40, 1), ValueError, ["num_q_rows_per_head_k", "int32"]),
    ("seqlens_int64", lambda s: flash_mla.get_mla_metadata(s.long(), 16, 1), TypeError, ["cache_seqlens.dtype", "int64"]),
    ("seqlens_float", lambda s: flash_mla.get_mla_metadata(s.float(), 16, 1), ValueError, ["cache_seqlens.dtype", "float32"]),
    ("seqlens_rank2", lambda s: flash_mla.get_mla_metadata(s[None], 16, 1), ValueError, ["cache_seqlens", "rank"]),
    ("seqlens_empty", lambda s: flash_mla.get_mla_metadata(s[:0], 16, 1), ValueError, ["cache_seqlens.shape[0]"]),
    ("num_heads_q", lambda s: flash_mla.get_mla_metadata(s, 16, 1, 5), ValueError, ["num_heads_q", "5"]),
]


@pytest.mark.parametrize("name,call,exc,words", METADATA_ERRORS, ids=[e[0] for e in METADATA_ERRORS])
def test_metadata_errors(name, call, exc, words):
    seqlens = torch.tensor([10, 200], dtype=torch.int32)
    expected = (exc, TypeError) if exc is ValueError else exc  # a float dtype message may be either
    with pytest.raises(expected) as info:
        call(seqlens)
    for w in words:
        assert w in str(info.value), f"{name}: {w!r} not in {str(info.value)!r}"


def test_nothing_written_on_error_and_still_usable():
    c = _case()
    a = _args(c)
    good = f(**a)
    snapshot = [t.clone() for t in (c.q, c.k_cache, c.block_table, c.cache_seqlens)]
    for _ in range(3):
        with pytest.raises(ValueError):
            f(**dict(a, block_table=a["block_table"][:1]))
    for before, after in zip(snapshot, (c.q, c.k_cache, c.block_table, c.cache_seqlens)):
        assert torch.equal(before.view(torch.uint8) if before.is_floating_point() else before,
                           after.view(torch.uint8) if after.is_floating_point() else after)
    again = f(**a)
    assert torch.equal(good[0], again[0]) and torch.equal(good[1], again[1])


def test_interpreter_survives_errors():
    """Every error path in a fresh interpreter, which must then exit normally (no abort, no crash)."""
    script = textwrap.dedent(
        """
        import torch, flash_mla
        q = torch.zeros(1, 1, 4, 576, dtype=torch.bfloat16)
        k = torch.zeros(2, 64, 1, 576, dtype=torch.bfloat16)
        bt = torch.zeros(1, 2, dtype=torch.int32)
        sl = torch.tensor([10], dtype=torch.int32)
        calls = [
            lambda: flash_mla.flash_mla_with_kvcache(q.float(), k, bt, sl, 512, None, None),
            lambda: flash_mla.flash_mla_with_kvcache(q, k, bt, sl.long(), 512, None, None),
            lambda: flash_mla.flash_mla_with_kvcache(q, k, bt[:, :0], sl, 512, None, None),
            lambda: flash_mla.flash_mla_with_kvcache(q, k, bt + 5, sl, 512, None, None),
            lambda: flash_mla.flash_mla_with_kvcache(q[0], k, bt, sl, 512, None, None),
            lambda: flash_mla.flash_mla_with_kvcache(q, k, bt, sl, -3, None, None),
            lambda: flash_mla.get_mla_metadata(sl, -1, 1),
            lambda: flash_mla.get_mla_metadata(sl[None], 4, 1),
            lambda: torch.ops.flash_mla.get_mla_metadata(sl, 4, 1, -2),
        ]
        n = 0
        for c in calls:
            try:
                c()
            except (ValueError, TypeError, NotImplementedError, RuntimeError):
                n += 1
        assert n == len(calls), n
        out, lse = flash_mla.flash_mla_with_kvcache(q, k, bt, sl, 512, None, None)
        assert out.shape == (1, 1, 4, 512)
        print("survived", n)
        """
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "survived 9" in r.stdout


# ---- regressions of the reliability issue (item 5): each named after what it reproduces ----------------


def test_mixed_cpu_and_meta_tensors_are_rejected():
    # A meta k_cache or block_table used to route the call to the fake kernel and return garbage.
    c = _case()
    for name in ("k_cache", "block_table"):
        a = _args(c)
        a[name] = torch.empty_like(a[name], device="meta")
        with pytest.raises(ValueError, match=rf"{name}\.device"):
            f(**a)


@pytest.mark.parametrize("scale", [1e-50, 0.0, 1e-45])
def test_softmax_scale_that_rounds_to_zero_is_rejected(scale):
    # 1e-50 is 0 in float32: it used to select the default scale silently.
    with pytest.raises(ValueError, match="softmax_scale"):
        f(**_args(_case()), softmax_scale=scale)


@pytest.mark.parametrize("scale", [float("nan"), -1.0, float("inf"), 1e37])
def test_softmax_scale_outside_the_range_is_rejected(scale):
    with pytest.raises(ValueError, match="softmax_scale"):
        f(**_args(_case()), softmax_scale=scale)


def test_q_none_is_a_type_error_naming_q():
    a = _args(_case())
    a["q"] = None
    with pytest.raises(TypeError, match="q: expected a torch.Tensor, got NoneType"):
        f(**a)


def test_q_none_with_sched_meta_is_a_type_error():
    a = _args(_case())
    a["q"] = None
    a["tile_scheduler_metadata"], a["num_splits"] = flash_mla.get_mla_metadata()
    with pytest.raises(TypeError, match="q: expected a torch.Tensor"):
        f(**a)


def test_expanded_q_too_large_is_rejected_before_allocating():
    # b * s_q * h_q > 2^31 - 1 with an expanded view (no memory behind it): an error, not a 2 TB allocation.
    c = _case()
    q = c.q[:1, :1, :1].expand(2**16, 2**8, 2**8, 576)
    a = _args(c)
    a["q"] = q
    with pytest.raises(ValueError, match="query rows"):
        f(**a)
