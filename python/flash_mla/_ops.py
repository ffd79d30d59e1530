"""Loads the op library (_flash_mla_ops.so) and registers the fake implementations of the dense decode ops.

Each operation family registers its own ops in python/csrc/ops_<family>.cpp and its fakes in its module
(flash_mla/<family>.py). The dense decode ops (schemas in python/csrc/ops_decode.cpp):

    torch.ops.flash_mla.get_mla_metadata(cache_seqlens, num_q_rows_per_head_k, num_heads_k, s_q)
        -> (tile_scheduler_metadata int32 [P, 8], num_splits int32 [b + 1])
    torch.ops.flash_mla.decode(q, k_cache, block_table, cache_seqlens, head_dim_v,
                               tile_scheduler_metadata, num_splits, softmax_scale, causal)
        -> (out [b, s_q, h_q, head_dim_v] q.dtype, lse float32 [b, h_q, s_q])
"""

from __future__ import annotations

import ctypes
import functools
import glob
import importlib.util
import os

import torch

_LIBRARY_NAME = "_flash_mla_ops"


def _find_library() -> str:
    # FLASH_MLA_OPS_LIBRARY: a development build (e.g. build/h3/python/csrc/_flash_mla_ops.so).
    path = os.environ.get("FLASH_MLA_OPS_LIBRARY")
    if path:
        return path
    # Installed next to this file; importlib also knows where an editable install put it.
    try:
        spec = importlib.util.find_spec(f"{__package__}.{_LIBRARY_NAME}")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin and os.path.exists(spec.origin):
        return spec.origin
    hits = glob.glob(os.path.join(os.path.dirname(__file__), _LIBRARY_NAME + "*.so"))
    if hits:
        return hits[0]
    raise ImportError(
        f"flash_mla: the op library {_LIBRARY_NAME}.so was not found next to {__file__}. Install the package "
        "with `pip install --no-build-isolation .` from the flashmla repository, or point FLASH_MLA_OPS_LIBRARY "
        "at a build of python/csrc."
    )


LIBRARY_PATH = _find_library()
torch.ops.load_library(LIBRARY_PATH)
_lib = ctypes.CDLL(LIBRARY_PATH)  # the same handle torch opened; for flash_mla_py_num_sm_parts

get_mla_metadata = torch.ops.flash_mla.get_mla_metadata.default
decode = torch.ops.flash_mla.decode.default
decode_fp8 = torch.ops.flash_mla.decode_fp8.default  # dense float8_e4m3fn cache + per-tensor descales

_num_sm_parts_c = _lib.flash_mla_py_num_sm_parts
_num_sm_parts_c.restype = ctypes.c_int32
_num_sm_parts_c.argtypes = [ctypes.c_int32] * 5 + [
    ctypes.POINTER(ctypes.c_int32),
    ctypes.c_char_p,
    ctypes.c_int32,
]

_lib.flash_mla_py_built_with_cuda.restype = ctypes.c_int32
_lib.flash_mla_py_built_with_cuda.argtypes = []


def built_with_cuda() -> bool:
    """Whether this build has the sm_90a kernels (CUDA tensors can run; the GPU must also be an sm_90 one)."""
    return bool(_lib.flash_mla_py_built_with_cuda())


_lib.flash_mla_py_build_info.restype = ctypes.c_char_p
_lib.flash_mla_py_build_info.argtypes = []


def build_info() -> dict:
    """How the op library was built: version, commit, CUDA version and architectures (empty for a
    CPU-only build), the torch it was built against, stable_abi (always true now), and what runs here.
    """
    info = {}
    for line in _lib.flash_mla_py_build_info().decode().splitlines():
        key, _, value = line.partition("=")
        info[key] = value
    info["architectures"] = [a for a in info.get("architectures", "").split(";") if a]
    info["stable_abi"] = info.get("stable_abi") == "1"
    info["cuda"] = None if info.get("cuda") in (None, "", "none") else info["cuda"]
    info["built_with_cuda"] = built_with_cuda()
    info["torch_runtime"] = torch.__version__
    info["library"] = LIBRARY_PATH
    return info


# flashmla::StatusCode -> exception type, as the C++ ops raise them.
_EXCEPTIONS = {1: ValueError, 2: NotImplementedError}


@functools.lru_cache(maxsize=256)
def _num_sm_parts_cached(device_type: int, device_index: int, rows: int, h_kv: int, s_q: int) -> int:
    parts = ctypes.c_int32(0)
    msg = ctypes.create_string_buffer(512)
    code = _num_sm_parts_c(device_type, device_index, rows, h_kv, s_q, ctypes.byref(parts), msg, len(msg))
    if code != 0:
        raise _EXCEPTIONS.get(code, RuntimeError)(f"flash_mla.get_mla_metadata: {msg.value.decode(errors='replace')}")
    return parts.value


def _num_sm_parts(device: torch.device, num_q_rows_per_head_k: int, num_heads_k: int, s_q: int) -> int:
    """Number of SM partitions (rows of tile_scheduler_metadata) the schedule uses on `device`.

    CUDA devices use their own SM count; CPU and meta devices the plan of a 132-SM H100.
    """
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return _num_sm_parts_cached(1, index, int(num_q_rows_per_head_k), int(num_heads_k), int(s_q))
    return _num_sm_parts_cached(0, 0, int(num_q_rows_per_head_k), int(num_heads_k), int(s_q))


@torch.library.register_fake("flash_mla::get_mla_metadata")
def _get_mla_metadata_fake(cache_seqlens, num_q_rows_per_head_k, num_heads_k, s_q):
    if cache_seqlens.dim() != 1:
        raise ValueError(f"flash_mla.get_mla_metadata: cache_seqlens: expected rank 1 [b], got rank {cache_seqlens.dim()}")
    parts = _num_sm_parts(cache_seqlens.device, num_q_rows_per_head_k, num_heads_k, s_q)
    metadata = cache_seqlens.new_empty((parts, 8), dtype=torch.int32)
    num_splits = cache_seqlens.new_empty((cache_seqlens.shape[0] + 1,), dtype=torch.int32)
    return metadata, num_splits


def check_one_device(op: str, ref_name: str, ref: torch.Tensor, **tensors) -> None:
    """ValueError unless every given tensor is on ref's device.

    The dispatcher picks the fake (meta) kernel as soon as ONE argument is a meta tensor, so a call that
    mixes CPU and meta tensors would otherwise return uninitialised outputs without an error.
    """
    for name, t in tensors.items():
        if t is not None and t.device != ref.device:
            raise ValueError(f"{op}: {name}.device: expected {ref.device} (same as {ref_name}), got {t.device}")


@torch.library.register_fake("flash_mla::decode")
def _decode_fake(q, k_cache, block_table, cache_seqlens, head_dim_v, tile_scheduler_metadata, num_splits,
                 softmax_scale, causal):
    check_one_device("flash_mla.decode", "q", q, k_cache=k_cache, block_table=block_table,
                     cache_seqlens=cache_seqlens, tile_scheduler_metadata=tile_scheduler_metadata,
                     num_splits=num_splits)
    torch._check(q.dim() == 4, lambda: f"flash_mla.decode: q must have 4 dimensions, got {q.dim()}")
    b, s_q, h_q, _ = q.shape
    out = q.new_empty((b, s_q, h_q, head_dim_v))
    lse = q.new_empty((b, h_q, s_q), dtype=torch.float32)
    return out, lse


@torch.library.register_fake("flash_mla::decode_fp8")
def _decode_fp8_fake(q, k_cache, block_table, cache_seqlens, head_dim_v, tile_scheduler_metadata, num_splits,
                     softmax_scale, causal, descale_q, descale_k):
    check_one_device("flash_mla.decode_fp8", "q", q, k_cache=k_cache, block_table=block_table,
                     cache_seqlens=cache_seqlens, tile_scheduler_metadata=tile_scheduler_metadata,
                     num_splits=num_splits, descale_q=descale_q, descale_k=descale_k)
    torch._check(q.dim() == 4, lambda: f"flash_mla.decode_fp8: q must have 4 dimensions, got {q.dim()}")
    b, s_q, h_q, _ = q.shape
    out_dtype = torch.bfloat16 if q.dtype == torch.float8_e4m3fn else q.dtype
    out = q.new_empty((b, s_q, h_q, head_dim_v), dtype=out_dtype)
    lse = q.new_empty((b, h_q, s_q), dtype=torch.float32)
    return out, lse
