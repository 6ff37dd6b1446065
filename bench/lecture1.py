"""Lecture-1 specs: `specs/sigmoids.dl` (sum of 8 sigmoids, batch 32, validation every epoch,
early stopping) through `fit`, against a hand-written JAX + Optax loop doing the same per epoch:
one jitted epoch (`lax.scan` over a permutation), one jitted validation pass, early stopping
and the best parameters kept on the host. Both sides use dlc's prepared arrays; patience is
raised so that both run every epoch. Warm (compiled) runs, interleaved rounds, wall and CPU.

Usage:
    python bench/lecture1.py                 # 150 epochs, 3 rounds of 5 fits each
    python bench/lecture1.py --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import optax

from dlc.runtime.train.model import CompiledModel

SPEC = Path(__file__).resolve().parent.parent / "specs" / "sigmoids.dl"


def cpu_time() -> float:
    t = os.times()
    return t.user + t.system


def make_dlc() -> tuple[Callable[[], Any], CompiledModel]:
    m = CompiledModel.from_source(SPEC, overrides=["train.early_stop.patience=100000"])
    return (lambda: m.fit().history[-1]["valid_loss"]), m


def make_hand(m: CompiledModel) -> Callable[[], Any]:
    (x, y), (xv, yv) = (tuple(jnp.asarray(a) for a in m.data.parts[k]) for k in ("train", "valid"))
    t = m.spec.train
    n, batch, features = x.shape[0], t.batch, x.shape[1]
    nb = -(-n // batch)
    sched = optax.warmup_cosine_decay_schedule(0.0, 0.01, 100, t.epochs * nb)
    tx = optax.adam(sched)
    glorot = jax.nn.initializers.glorot_uniform()

    @jax.jit
    def init(key: Any) -> Any:
        k1, k2 = jax.random.split(key)
        p = {
            "w1": glorot(k1, (features, 8)),
            "b1": jnp.zeros(8),
            "w2": glorot(k2, (8, 1)),
            "b2": jnp.zeros(1),
        }
        return p, tx.init(p)

    def loss(p: Any, xb: Any, yb: Any) -> Any:
        out = jax.nn.sigmoid(xb @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        return jnp.mean((out - yb.reshape(out.shape)) ** 2)

    def epoch(p: Any, o: Any, key: Any) -> Any:
        idx = jax.random.permutation(key, nb * batch) % n  # last batch wraps, as full batches

        def step(c: Any, ib: Any) -> Any:
            p, o = c
            v, g = jax.value_and_grad(loss)(p, x[ib], y[ib])
            u, o = tx.update(g, o, p)
            return (optax.apply_updates(p, u), o), v

        (p, o), ls = jax.lax.scan(step, (p, o), idx.reshape(nb, batch))
        return p, o, ls.mean()

    epoch_j = jax.jit(epoch, donate_argnums=(0, 1))
    eval_j = jax.jit(lambda p: loss(p, xv, yv))

    def go() -> Any:
        p, o = init(jax.random.PRNGKey(t.seed))
        best, best_p = float("inf"), p
        for e in range(t.epochs):
            p, o, _ = epoch_j(p, o, jax.random.PRNGKey(e))
            v = float(eval_j(p))
            if v < best:
                best, best_p = v, jax.tree.map(jnp.copy, p)
        return best, best_p

    return go


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fits", type=int, default=5, help="fits per timing (CPU time: 10 ms ticks)")
    a = ap.parse_args(argv)
    print(f"lecture 1: specs/sigmoids.dl, all epochs; load {os.getloadavg()}")
    dlc_go, m = make_dlc()
    sides = {"dlc": dlc_go, "hand JAX": make_hand(m)}
    for go in sides.values():
        go()  # compile
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
    for r in range(a.rounds):
        for name in list(sides) if r % 2 == 0 else list(sides)[::-1]:
            w0, c0 = time.perf_counter(), cpu_time()
            for _ in range(a.fits):
                sides[name]()
            times[name].append((time.perf_counter() - w0, cpu_time() - c0))
    ref = times["hand JAX"]
    print(f"{'side':10} {'wall s':>8} {'cpu s':>8} {'wall ratio':>10} {'cpu ratio':>9}")
    for name, ts in times.items():
        rw = statistics.median(u[0] / h[0] for u, h in zip(ts, ref, strict=True))
        rc = statistics.median(u[1] / h[1] for u, h in zip(ts, ref, strict=True))
        wall, cpu = statistics.median(u[0] for u in ts), statistics.median(u[1] for u in ts)
        print(f"{name:10} {wall:8.3f} {cpu:8.3f} {rw:10.2f} {rc:9.2f}")
    print(f"load: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
