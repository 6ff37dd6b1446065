"""The initializer's program is compiled at LLVM optimization level 1 on the CPU (a faster cold
start, `step.INIT_OPTIONS`): it must give the same bits as XLA's default level for every
initializer, or runs would no longer reproduce."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import jax
import numpy as np
import pytest

import dlc
from dlc.compiler.layers.params import INITIALIZERS
from dlc.runtime.train.step import INIT_OPTIONS, init_options, init_state

SPECS = Path(__file__).resolve().parent.parent / "specs"

# one dense layer per dense initializer (zeros and ones give the same bits at any level), an
# embedding table (normal / sqrt(dim)) and a convolution
DENSE_INITS = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform"]
DENSE_INITS += ["lecun_normal", "normal", "zeros"]


def _spec() -> str:
    dense = "; ".join(f"dense 8 init={name}; tanh" for name in DENSE_INITS)
    return (
        "data { digits }\n"
        f"model {{ reshape [8, 8, 1]; conv2d 4 3; relu; flatten; {dense}; dense 10 }}\n"
        "loss cross_entropy\noptimizer adam lr=0.01\ntrain { epochs 1; seed 3 }\n"
    )


def _bits(state: object) -> list[bytes]:
    return [np.asarray(a).tobytes() for a in jax.tree.leaves(state)]


@pytest.mark.slow  # three compiles of an eleven-layer initializer
def test_the_initializer_gives_the_same_bits_at_the_faster_level() -> None:
    assert set(DENSE_INITS) <= set(INITIALIZERS)
    assert init_options() == INIT_OPTIONS  # the tests run on the CPU
    m = dlc.compile(_spec())
    program = m.program(len(m.data.parts["train"][0]))
    f = partial(init_state, program)
    default = jax.jit(f).lower(3).compile()(3)
    faster = jax.jit(f, compiler_options=INIT_OPTIONS).lower(3).compile()(3)
    assert _bits(faster) == _bits(default)
    # and `fit` starts from that state
    fns = m.functions(len(m.data.parts["train"][0]))
    assert _bits(fns.init(3)) == _bits(default)


@pytest.mark.slow
def test_embeddings_initialize_the_same_at_the_faster_level() -> None:
    m = dlc.compile(SPECS / "bce_sentiment.dl")  # embedding 32 (normal / sqrt(dim))
    program = m.program(len(m.data.parts["train"][0]))
    f = partial(init_state, program)
    default = jax.jit(f).lower(0).compile()(0)
    faster = jax.jit(f, compiler_options=INIT_OPTIONS).lower(0).compile()(0)
    assert _bits(faster) == _bits(default)
