"""pytest configuration of the flash_mla Python tests.

The package under test is the installed `flash_mla` (pip install --no-build-isolation .). For a development
build that is not installed, put python/ on PYTHONPATH and point FLASH_MLA_OPS_LIBRARY at the built
_flash_mla_ops.so.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # mla_reference


@pytest.fixture(autouse=True)
def _seed():
    import torch

    torch.manual_seed(0)
