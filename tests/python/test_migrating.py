"""Executes the runnable snippets of docs/migrating.md on the CPU backend.

A ```python block whose first line is the comment ``# runnable (cpu)`` is run as it stands, in a fresh
namespace; the snippets build their own small CPU tensors and assert what the text says. Other blocks
(shell, C++, GPU-only) are illustrations and are not run.
"""

import os
import re

import pytest

DOC = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "docs", "migrating.md")
MARK = "# runnable (cpu)"
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def _blocks():
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    out = []
    for m in _FENCE.finditer(text):
        body = m.group(1)
        if body.lstrip().startswith(MARK):
            line = text.count("\n", 0, m.start(1)) + 1
            out.append((line, body))
    return out


BLOCKS = _blocks()


def test_doc_has_runnable_blocks():
    # dense, sparse V32, sparse MODEL1, prefill, quant, merge, distributed, errors, scale, sizes, fp8
    assert len(BLOCKS) >= 11, [line for line, _ in BLOCKS]


@pytest.mark.parametrize("line,body", BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_snippet(line, body):
    code = compile(body, f"{os.path.relpath(DOC)}:{line}", "exec")
    exec(code, {"__name__": f"migrating_snippet_{line}"})
