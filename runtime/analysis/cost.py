"""The cost of a spec's compiled programs, from XLA's own analyses and without training:
FLOPs of one training step (forward, backward and optimizer update on a full batch) and of a
prediction, per step and per example, and the memory the compiled step needs (`dlc check
--cost`). Nothing runs: the step is traced on abstract arrays, lowered and compiled only.
XLA counts what it compiles: the body of a loop once (a recurrent layer's scan over time), and on
a GPU not the library calls (cuDNN convolutions: seen on an H200, a small CNN's count was 1/20 of
the CPU's), so there the FLOPs are a lower bound; memory is the backend's own.

Example:
    >>> from dlc.runtime.train.model import CompiledModel
    >>> c = step_cost(CompiledModel.from_source("specs/linear.dl"))
    >>> c.batch, c.train_flops_per_example > 0, c.peak_bytes > 0
    (32, True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from dlc.runtime.train.engine import Hyper, train_step
from dlc.runtime.train.model import CompiledModel
from dlc.runtime.train.step import init_state


@dataclass(frozen=True)
class Cost:
    """XLA's numbers for one training step on `batch` rows and one prediction of `batch` rows."""

    batch: int
    train_flops: float  # one step
    predict_flops: float  # one forward pass over `batch` rows
    bytes_accessed: float  # one step's memory traffic (XLA's estimate)
    argument_bytes: int  # the step's inputs: parameters, optimizer state, batch
    output_bytes: int
    alias_bytes: int  # outputs that reuse input buffers (the state, donated or not)
    temp_bytes: int  # XLA's scratch: activations kept for the backward pass, gradients
    backend: str

    @property
    def train_flops_per_example(self) -> float:
        return self.train_flops / self.batch

    @property
    def predict_flops_per_example(self) -> float:
        return self.predict_flops / self.batch

    @property
    def peak_bytes(self) -> int:
        """Live memory of the step at its peak: inputs, outputs not aliased to them, scratch."""
        return self.argument_bytes + self.output_bytes - self.alias_bytes + self.temp_bytes


def _flops(compiled: Any) -> tuple[float, float]:
    """(flops, bytes accessed) of a compiled program (`cost_analysis` is a dict, or a list of
    one dict per computation in older JAX)."""
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list | tuple):
        analysis = analysis[0] if analysis else {}
    analysis = analysis or {}
    return float(analysis.get("flops", 0.0)), float(analysis.get("bytes accessed", 0.0))


def step_cost(model: CompiledModel) -> Cost:
    """Compile (not run) the training step and prediction of `model` on one batch of its
    training rows, and read XLA's cost and memory analyses."""
    x, y = model.data.parts["train"]
    n = len(x)
    batch = min(model.spec.train.batch, n)
    program = model.program(n)
    tx = program.optimizer()
    state = jax.eval_shape(lambda: init_state(program, 0))
    xs = jax.ShapeDtypeStruct((batch, *x.shape[1:]), jnp.asarray(x[:1]).dtype)
    ys = jax.ShapeDtypeStruct((batch, *y.shape[1:]), jnp.asarray(y[:1]).dtype)
    ws = jax.ShapeDtypeStruct((batch,), jnp.float32)

    def step(s: Any, xb: jax.Array, yb: jax.Array, wb: jax.Array) -> Any:
        return train_step(program, tx, xb, yb, Hyper(), s, (None, wb))

    compiled = jax.jit(step).lower(state, xs, ys, ws).compile()
    train_flops, traffic = _flops(compiled)
    mem = compiled.memory_analysis()

    def forward(s: Any, xb: jax.Array) -> Any:
        return program.apply(s.params, s.model_state, xb, train=False)[0]

    predict_flops, _ = _flops(jax.jit(forward).lower(state, xs).compile())
    return Cost(
        batch=batch,
        train_flops=train_flops,
        predict_flops=predict_flops,
        bytes_accessed=traffic,
        argument_bytes=int(getattr(mem, "argument_size_in_bytes", 0)),
        output_bytes=int(getattr(mem, "output_size_in_bytes", 0)),
        alias_bytes=int(getattr(mem, "alias_size_in_bytes", 0)),
        temp_bytes=int(getattr(mem, "temp_size_in_bytes", 0)),
        backend=jax.default_backend(),
    )


GPU_NOTE = (
    "  note: XLA leaves out the FLOPs of library calls on this backend (cuDNN convolutions, for "
    "one); JAX_PLATFORMS=cpu dlc check --cost counts every operation"
)


def _si(v: float, unit: str) -> str:
    """`v` with an SI prefix: 1.3e7 FLOP -> '13.0 MFLOP'."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= factor:
            return f"{v / factor:.3g} {prefix}{unit}"
    return f"{v:.3g} {unit}"


def describe(c: Cost) -> list[str]:
    """The lines `dlc check --cost` prints.

    Example:
        >>> describe(Cost(32, 2e6, 4e5, 1e6, 4000, 4000, 0, 1000, "cpu"))[1]
        '  training step: 2 MFLOP per step, 62.5 kFLOP per example'
    """
    return [
        f"cost (XLA's analyses on {c.backend}, compiled for batches of {c.batch}; nothing run):",
        f"  training step: {_si(c.train_flops, 'FLOP')} per step, "
        f"{_si(c.train_flops_per_example, 'FLOP')} per example",
        f"  prediction: {_si(c.predict_flops_per_example, 'FLOP')} per example",
        f"  step memory: peak {_si(c.peak_bytes, 'B')} (inputs {_si(c.argument_bytes, 'B')}, "
        f"outputs {_si(c.output_bytes - c.alias_bytes, 'B')}, scratch {_si(c.temp_bytes, 'B')})",
        f"  memory traffic: {_si(c.bytes_accessed, 'B')} per step",
        *([GPU_NOTE] if c.backend != "cpu" else []),
    ]
