"""W3, the course's own kind of model: full-batch training of a sum of sigmoids, dlc's `fit`
against a hand-written JAX + Optax scan (and PyTorch eager when installed), side by side.

The model: y = b + sum_i c_i sigmoid(b_i + x w_i), 100 sigmoids of 56 features, MSE, Adam
(lr 0.01), 2000 synthetic rows, one batch holding all of them, 5000 steps (= 5000 epochs).

* **dlc**: the spec compiled with `dlc.compile` (its CSV only gives the shape), then
  `m.fit(x, y)` timed whole (warm: a first `fit` compiled everything), as a user calls it.
* **hand JAX**: the best plain form: all steps in one jitted `lax.scan`, data on the device,
  params and optimizer state donated, `optax.adam(0.01)`.
* **PyTorch** (if importable): the same model, eager, Glorot-uniform weights, zero biases,
  `torch.optim.Adam(lr=0.01)`, pinned by bench/torch_side.py (`OMP_WAIT_POLICY=PASSIVE`,
  `$BENCH_THREADS` or 2 threads); `--no-torch` skips it.

Rounds alternate the order of the sides; the ratio printed is the median of per-round ratios,
wall time and CPU time (all threads of this process) side by side: to hand JAX in the table, and
of dlc and hand JAX to PyTorch below it.

Usage:
    python bench/w3_fullbatch.py              # 5000 steps, 3 rounds
    python bench/w3_fullbatch.py --quick      # 1000 steps, 2 rounds
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from torch_side import load_torch

import dlc

ROWS, FEATURES, UNITS, LR = 2000, 56, 100, 0.01

SPEC = """\
data {{
  csv "{csv}" target=y
  split valid=0 test=0
}}
model {{
  dense {units}
  sigmoid
  dense 1
}}
loss mse
optimizer adam lr={lr}
train {{ batch {rows}; epochs {epochs}; seed 0 }}
"""


def synthetic(n: int = ROWS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal features; a smooth nonlinear target (learnable, not exactly)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, FEATURES)).astype(np.float32)
    w = rng.standard_normal((FEATURES, 8)).astype(np.float32) / np.sqrt(FEATURES)
    y = np.tanh(x @ w).sum(axis=1, keepdims=True).astype(np.float32)
    return x, y


def write_shape_csv(folder: Path) -> Path:
    x, y = synthetic(20, seed=1)
    header = ",".join([*(f"f{i}" for i in range(FEATURES)), "y"])
    rows = [",".join(f"{v:.4f}" for v in (*r, t[0])) for r, t in zip(x, y, strict=True)]
    path = folder / "w3_shape.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def cpu_time() -> float:
    t = os.times()
    return t.user + t.system


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), cpu_time()
    fn()
    return time.perf_counter() - w0, cpu_time() - c0


# -- hand-written JAX ---------------------------------------------------------------------------
def make_hand(steps: int) -> Callable[[], Any]:
    x, y = (jnp.asarray(a) for a in synthetic())
    tx = optax.adam(LR)
    glorot = jax.nn.initializers.glorot_uniform()

    def init(key: Any) -> Any:
        k1, k2 = jax.random.split(key)
        return {
            "w1": glorot(k1, (FEATURES, UNITS), jnp.float32),
            "b1": jnp.zeros(UNITS),
            "w2": glorot(k2, (UNITS, 1), jnp.float32),
            "b2": jnp.zeros(1),
        }

    def loss(p: Any) -> Any:
        h = jax.nn.sigmoid(x @ p["w1"] + p["b1"])
        return jnp.mean((h @ p["w2"] + p["b2"] - y) ** 2)

    def run(params: Any, opt: Any) -> Any:
        def step(c: Any, _: Any) -> Any:
            p, o = c
            v, g = jax.value_and_grad(loss)(p)
            u, o = tx.update(g, o, p)
            return (optax.apply_updates(p, u), o), v

        (params, opt), losses = jax.lax.scan(step, (params, opt), None, length=steps)
        return params, losses[-1]

    run_j = jax.jit(run, donate_argnums=(0, 1))

    def go() -> Any:
        p = init(jax.random.PRNGKey(0))
        return float(run_j(p, tx.init(p))[1])

    return go


# -- dlc -----------------------------------------------------------------------------------------
def make_dlc(steps: int, folder: Path) -> Callable[[], Any]:
    csv = write_shape_csv(folder)
    text = SPEC.format(csv=csv, units=UNITS, lr=LR, rows=ROWS, epochs=steps)
    spec = folder / "w3.dl"
    spec.write_text(text)
    m = dlc.compile(spec)
    x, y = synthetic()

    def go() -> Any:
        return m.fit(x, y).history[-1]["train_loss"]

    return go


# -- PyTorch eager -------------------------------------------------------------------------------
def make_torch(steps: int, skip: bool) -> Callable[[], Any] | None:
    torch = load_torch(skip)
    if torch is None:
        return None
    x, y = (torch.from_numpy(a) for a in synthetic())

    def go() -> Any:
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Linear(FEATURES, UNITS), torch.nn.Sigmoid(), torch.nn.Linear(UNITS, 1)
        )
        for layer in (net[0], net[2]):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
        opt = torch.optim.Adam(net.parameters(), lr=LR)
        for _ in range(steps):
            opt.zero_grad()
            loss = torch.mean((net(x) - y) ** 2)
            loss.backward()
            opt.step()
        return float(loss.detach())

    return go


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1000 steps, 2 rounds")
    ap.add_argument("--no-torch", action="store_true")
    a = ap.parse_args(argv)
    steps, rounds = (1000, 2) if a.quick else (a.steps, a.rounds)
    print(f"W3: {UNITS} sigmoids, {FEATURES} features, {ROWS} rows, full batch, {steps} steps")
    print(f"load: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        sides: dict[str, Callable[[], Any]] = {
            "dlc": make_dlc(steps, Path(tmp)),
            "hand JAX": make_hand(steps),
        }
        torch_go = make_torch(steps, a.no_torch)
        if torch_go is not None:
            sides["PyTorch"] = torch_go
        for name, go in sides.items():  # warm-up: compile
            if name != "PyTorch":
                print(f"  warm-up {name}: final loss {go():.5f}")
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
        for r in range(rounds):
            order = list(sides) if r % 2 == 0 else list(reversed(sides))
            for name in order:
                times[name].append(timed(sides[name]))
    ref = times["hand JAX"]
    print(f"{'side':10} {'wall s':>8} {'cpu s':>8} {'ms/step':>8} {'wall ratio':>10}", "cpu ratio")
    for name, ts in times.items():
        wall = statistics.median(t[0] for t in ts)
        cpu = statistics.median(t[1] for t in ts)
        rw = statistics.median(t[0] / h[0] for t, h in zip(ts, ref, strict=True))
        rc = statistics.median(t[1] / h[1] for t, h in zip(ts, ref, strict=True))
        print(f"{name:10} {wall:8.3f} {cpu:8.3f} {1000 * wall / steps:8.3f} {rw:10.2f} {rc:9.2f}")
    if "PyTorch" in times:
        pt = times["PyTorch"]
        for name in ("dlc", "hand JAX"):
            ts = times[name]
            rw = statistics.median(t[0] / p[0] for t, p in zip(ts, pt, strict=True))
            rc = statistics.median(t[1] / p[1] for t, p in zip(ts, pt, strict=True))
            print(f"{name} / PyTorch eager: {rw:.2f} wall, {rc:.2f} CPU (below 1 = faster)")
    print(f"load: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
