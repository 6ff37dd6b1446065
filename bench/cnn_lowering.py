"""CNN lowering and runtime form on CPU: milliseconds per training step of dlc's compiled step.

Variants of one model differ in one choice each:
  conv     `patches` (explicit strided views concatenated, one matmul) or `xla`
           (`lax.conv_general_dilated`), set by CONV_LOWERING;
  pool     a 2×2 max-pool as reshape + max, or as `lax.reduce_window` (slow select-and-scatter
           gradient);
  form     `train { steps_per_call }`: `all` = the whole epoch in one jitted `lax.scan`,
           `1` = a host loop over one jitted step, `N` = a host loop over scans of N steps.

Each variant trains on synthetic (28, 28, 1) images, batch 128, Adam. After a warm-up epoch
(compilation, timed separately) the variants' epochs are timed in turns (A, B, C, A, B, C, ...)
so that load from other processes hits all alike; the medians of wall time and of CPU time
(all threads of the process, steadier on a shared machine) are reported.

Usage:
    python bench/cnn_lowering.py                 # every family (several minutes on 2 cores)
    python bench/cnn_lowering.py --family cnn --steps 16 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dlc.compiler.frontend import load_spec
from dlc.compiler.layers.pool import MaxPool
from dlc.compiler.lower import lower
from dlc.runtime.train.step import make_functions

BATCH = 128
SHAPE = (28, 28, 1)
FAMILIES = {
    "mlp": "flatten; dense 256; relu; dense 256; relu; dense 10",
    "mlp_tiny": "flatten; dense 32; relu; dense 10",
    "cnn": "conv2d 32 3; relu; maxpool; conv2d 64 3; relu; maxpool; flatten; dropout 0.3; "
    "dense 128; relu; dense 10",
    "cnn_small": "conv2d 16 3; relu; maxpool; conv2d 32 3; relu; maxpool; flatten; dense 10",
    "resnet": "conv2d 16 3; relu; maxpool; residual { conv2d 16 3; batchnorm; relu; "
    "conv2d 16 3; batchnorm }; relu; maxpool; global_avgpool; dense 10",
}
# (label, CONV_LOWERING, pool lowering, steps_per_call)
VARIANTS = {
    "mlp": [("scan all", "patches", "reshape", "all"), ("1 step/call", "patches", "reshape", "1")],
    "mlp_tiny": [
        ("scan all", "patches", "reshape", "all"),
        ("1 step/call", "patches", "reshape", "1"),
    ],
    "default": [
        ("patches, scan all", "patches", "reshape", "all"),
        ("patches, 1 step/call", "patches", "reshape", "1"),
        ("patches, 8 steps/call", "patches", "reshape", "8"),
        ("xla, scan all", "xla", "reshape", "all"),
        ("xla, 1 step/call", "xla", "reshape", "1"),
        ("xla, 8 steps/call", "xla", "reshape", "8"),
        ("xla, 1 step/call, reduce_window pool", "xla", "reduce_window", "1"),
    ],
}


def build(model: str, conv: str, pool: str, form: str, steps: int) -> Callable[[], Any]:
    """One epoch of `steps` steps as a callable (it compiles on first call)."""
    text = (
        f"data {{ digits flat=false }}\nmodel {{ {model} }}\nloss cross_entropy\n"
        f"optimizer adam lr=1e-3\ntrain {{ batch {BATCH}; steps_per_call {form} }}\n"
    )
    spec = load_spec(text).spec
    n = steps * BATCH
    program = lower(spec, SHAPE, total_steps=10 * steps)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.random((n, *SHAPE), dtype=np.float32))
    y = jnp.asarray(rng.integers(0, 10, n).astype(np.int32))
    os.environ["CONV_LOWERING"] = conv
    fns = make_functions(program, n, BATCH, True, spec.train.steps_per_call)
    box = {"state": fns.init(0), "epoch": 0}

    def epoch() -> Any:
        os.environ["CONV_LOWERING"] = conv  # read when a function is traced
        tiles = MaxPool.tiles
        if pool == "reduce_window":
            MaxPool.tiles = lambda self, in_shape: False  # type: ignore[method-assign]
        try:
            box["state"], stats = fns.epoch(box["state"], x, y, jnp.int32(box["epoch"]))
        finally:
            MaxPool.tiles = tiles  # type: ignore[method-assign]
        box["epoch"] += 1
        return jax.block_until_ready(stats)

    return epoch


def run(family: str, steps: int, rounds: int) -> list[tuple[str, float, float, float]]:
    """Per variant: (label, wall ms/step, CPU ms/step (all threads), first epoch s)."""
    variants = VARIANTS.get(family, VARIANTS["default"])
    epochs, compile_s = {}, {}
    for label, conv, pool, form in variants:
        epochs[label] = build(FAMILIES[family], conv, pool, form, steps)
        t = time.perf_counter()
        epochs[label]()
        compile_s[label] = time.perf_counter() - t
    wall: dict[str, list[float]] = {label: [] for label in epochs}
    cpu: dict[str, list[float]] = {label: [] for label in epochs}
    for _ in range(rounds):
        for label, epoch in epochs.items():
            t, c = time.perf_counter(), time.process_time()
            epoch()
            wall[label].append((time.perf_counter() - t) / steps * 1e3)
            cpu[label].append((time.process_time() - c) / steps * 1e3)
    return [
        (label, statistics.median(wall[label]), statistics.median(cpu[label]), compile_s[label])
        for label in epochs
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--family", choices=sorted(FAMILIES), action="append")
    p.add_argument("--steps", type=int, default=24, help="steps per timed epoch")
    p.add_argument("--rounds", type=int, default=3, help="timed epochs per variant")
    args = p.parse_args()
    print(
        f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPUs; "
        f"batch {BATCH}, {args.steps} steps per epoch, median of {args.rounds}"
    )
    for family in args.family or list(FAMILIES):
        print(f"\n{family}: {FAMILIES[family]}")
        rows = run(family, args.steps, args.rounds)
        best = min(ms for _, ms, _, _ in rows)
        for label, ms, cpu, comp in rows:
            print(
                f"  {label:38s} {ms:8.1f} ms/step ({ms / best:4.1f}x)  CPU {cpu:7.1f} ms/step"
                f"  first epoch {comp:5.1f} s"
            )


if __name__ == "__main__":
    main()
