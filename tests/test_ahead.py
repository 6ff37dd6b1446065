"""Compile ahead (`runtime/train/ahead.py`): a cold `dlc run` compiles its first-epoch program
in a thread while the initializer compiles. The run must train exactly as without it."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

import dlc
from dlc.runtime.train.ahead import compile_ahead

SPEC = (
    "data { digits; split valid=0.2 test=0.2 }\nmodel { dense 16; relu; dense 10 }\n"
    "loss cross_entropy\noptimizer adam lr=0.01\ntrain { batch 4; epochs 2; seed 4 }\n"
)


def test_a_no_op_without_the_persistent_cache() -> None:
    m = dlc.compile(SPEC)
    fns = m.functions(len(m.data.parts["train"][0]))
    before = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", None)
    try:
        assert compile_ahead(m, fns, 4).__name__ == "_nothing"
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_the_run_trains_the_same_after_compiling_ahead(tmp_path: Path) -> None:
    want = dlc.compile(SPEC)
    want.fit()
    m = dlc.compile(SPEC)
    fns = m.functions(len(m.data.parts["train"][0]))
    assert fns.epochs is None  # 270 steps an epoch: one epoch per call, compiled ahead
    before = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", str(tmp_path))
    try:
        wait = compile_ahead(m, fns, 4)
        assert wait.__name__ == "wait"
        state = fns.init(4)
        wait()
        m.fit(state=state)
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
    for layer, params in want.params.items():
        for name, value in params.items():
            np.testing.assert_array_equal(m.params[layer][name], value)
    assert m.evaluate() == want.evaluate()
