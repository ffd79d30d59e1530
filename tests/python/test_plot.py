"""bench/plot.py turns the committed H200 results into the three PNGs (skipped without matplotlib)."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("matplotlib")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))
RESULTS = os.path.join(ROOT, "bench", "results", "NVIDIA-H200-2026-12-01.json")
FAMILIES = os.path.join(ROOT, "bench", "results", "NVIDIA-H200-2026-12-01-families.json")


def test_plot_writes_pngs(tmp_path):
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "plot.py"), RESULTS, "--families", FAMILIES,
                    "--out", str(tmp_path)], check=True, capture_output=True, text=True, timeout=300)
    for kind in ("ratios", "roofline", "families"):
        path = tmp_path / f"NVIDIA-H200-2026-12-01-{kind}.png"
        assert path.is_file(), path
        size = path.stat().st_size
        assert 10_000 < size < 200_000, (path, size)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
