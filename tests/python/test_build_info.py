"""flash_mla.__version__ and flash_mla.build_info(): what the op library says about its build."""

import re

import torch

import flash_mla


def test_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+([.+-].*)?", flash_mla.__version__), flash_mla.__version__
    assert flash_mla.build_info()["version"] == flash_mla.__version__


def test_build_info_keys():
    info = flash_mla.build_info()
    for key in ("version", "commit", "cuda", "architectures", "torch", "stable_abi", "built_with_cuda",
                "torch_runtime", "library"):
        assert key in info, (key, info)
    assert isinstance(info["stable_abi"], bool)
    assert isinstance(info["architectures"], list)
    assert info["commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?", info["commit"]), info["commit"]
    assert info["torch_runtime"] == torch.__version__
    assert re.match(r"\d+\.\d+", info["torch"]), info["torch"]


def test_build_info_cuda_consistent():
    info = flash_mla.build_info()
    if info["built_with_cuda"]:
        assert info["cuda"] and re.match(r"\d+\.\d+", info["cuda"]), info
        assert "sm_90a" in info["architectures"], info
    else:
        assert info["architectures"] == [] or info["cuda"] is not None, info


def test_stable_abi_build_imports_under_a_newer_torch():
    # An ATen (non-stable) build only loads into the torch it was built against; a stable-ABI build
    # loads into that one or any newer one.
    info = flash_mla.build_info()
    built = tuple(int(x) for x in info["torch"].split("+")[0].split(".")[:2])
    running = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
    if info["stable_abi"]:
        assert running >= (2, 10) and running >= built or running == built
    else:
        assert running == built, info


def test_cpu_fallback_runs_without_a_gpu():
    # The CPU backend is always there (the fallback on machines without a Hopper GPU).
    seqlens = torch.tensor([5], dtype=torch.int32)
    md, ns = flash_mla.get_mla_metadata(seqlens, 16, 1)
    assert md.dtype == torch.int32 and ns.shape == (2,)
