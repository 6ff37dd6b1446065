"""Lanes against one run after another: K = 5 cross-validation folds as one vmapped XLA program
(`dlc.runtime.experiment.lanes.train_lanes`, what `dlc experiment` runs) against the same 5
folds trained one after another through dlc's normal path (`CompiledModel.fit` on each
fold's rows: one compile each, as 5 `dlc run` commands would get).
JAX's persistent compilation cache is not enabled here.

Cases: the lecture-1 sum of 8 sigmoids on Seattle weather (batch 32), the digits MLP 64-64-10
(batch 32), and a compute-bound Fashion-MNIST MLP 784-256-10 (batch 128). Both sides include
compilation, initialization, training and the final validation metrics; data loading is done
once, outside the timings. Runs are interleaved (lanes, one-by-one, one-by-one, lanes, ...) after
an untimed warm-up of each, and medians are reported, with the process's CPU time (all threads),
which other processes on a shared machine disturb less than wall-clock time, and the CPU time
spent inside XLA's compiler (JAX's private `backend_compile_and_load`, wrapped), from which it
prints the CPU speed-up the lanes would reach if they compiled nothing. The lanes' final
parameters and validation metric are compared with the one-by-one runs' (max |difference|; the
vmapped matmuls sum in another order, and Adam can amplify such rounding over many steps).

Usage:
    python bench/vmap_lanes.py                       # 3 timed runs of each side per case
    python bench/vmap_lanes.py --cases sigmoids digits --repeats 5
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FOLDS = 5
EXPERIMENT = f"experiment {{ folds {FOLDS} }}\n"
CASES = {
    # name: (spec text or file, overrides)
    "sigmoids": (ROOT / "specs" / "cv_sigmoids.dl", ["train.epochs=60"]),
    "digits": (
        "data { digits; divide 16; split valid=0.15 test=0.15 }\n"
        "model { dense 64; relu; dense 10 }\nloss cross_entropy\noptimizer adam lr=0.003\n"
        "train { batch 32; epochs 30; early_stop patience=5 }\n" + EXPERIMENT,
        [],
    ),
    "fashion": (
        "data { fashion_mnist; divide 255; split valid=0.1 }\n"
        "model { flatten; dense 256; relu; dense 10 }\nloss cross_entropy\n"
        "optimizer adam lr=0.001\ntrain { batch 128; epochs 2 }\n" + EXPERIMENT,
        [],
    ),
}


@dataclasses.dataclass
class Case:
    """One model's 5 folds, ready to train both ways."""

    name: str
    resolved: Any
    pool: Any
    lanes: list[Any]
    program: Any


def prepare_case(name: str) -> Case:
    from dlc.compiler.frontend import load_spec
    from dlc.runtime.experiment.folds import lane_splits, load_pool
    from dlc.runtime.experiment.lane_setup import LaneSpec
    from dlc.runtime.train.model import CompiledModel

    source, overrides = CASES[name]
    if isinstance(source, Path):  # keep the spec's data and model; only 5 folds, no grid
        text = source.read_text()
        source = text[: text.index("experiment {")] + EXPERIMENT
    resolved = load_spec(source, overrides=overrides, base_dir=ROOT / "specs")
    pool = load_pool(resolved)
    spec = resolved.spec
    splits = lane_splits(pool, FOLDS, spec.train.seed, spec.loss.task != "regression")
    lanes = [
        LaneSpec(spec, spec.train.seed, tr, va, pool.stats(tr, spec.data.normalize))
        for tr, va in splits
    ]
    program = CompiledModel(resolved, pool.prepared).program(max(len(tr) for tr, _ in splits))
    return Case(name, resolved, pool, lanes, program)


def run_lanes(case: Case) -> Any:
    from dlc.runtime.experiment.lanes import train_lanes

    return train_lanes(case.program, case.lanes, case.pool.x, case.pool.y)


def run_one_by_one(case: Case) -> list[tuple[Any, dict[str, float]]]:
    from dlc.runtime.train.model import CompiledModel

    out = []
    for lane in case.lanes:
        parts, stats = case.pool.arrays(
            lane.train_rows, lane.valid_rows, case.resolved.spec.data.normalize
        )
        model = CompiledModel(
            case.resolved, dataclasses.replace(case.pool.prepared, parts=parts, stats=stats)
        )
        model.fit(*parts["train"], valid=parts["valid"])
        out.append((model.params, model.evaluate("valid")))
    return out


class CompileClock:
    """Process CPU seconds spent inside XLA's backend compiler (JAX's private
    `compiler.backend_compile_and_load`, wrapped), and the number of programs compiled."""

    def __init__(self) -> None:
        from jax._src import compiler

        self.cpu, self.count = 0.0, 0
        original = compiler.backend_compile_and_load

        def counted(*args: Any, **kwargs: Any) -> Any:
            c = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.cpu += time.process_time() - c
                self.count += 1

        compiler.backend_compile_and_load = counted


CLOCK: CompileClock | None = None


def timed(fn: Callable[[], Any]) -> tuple[float, float, float, int, Any]:
    """(wall seconds, process CPU seconds, of which XLA compile, programs compiled, result)."""
    global CLOCK
    CLOCK = CLOCK or CompileClock()
    w, c, k, n = time.perf_counter(), time.process_time(), CLOCK.cpu, CLOCK.count
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, CLOCK.cpu - k, CLOCK.count - n, out


def memory_report(case: Case) -> str:
    """Our per-lane estimate for K lanes against XLA's own count for the compiled epoch."""
    import jax.numpy as jnp

    from dlc.runtime.experiment.lane_setup import build_consts, estimate_bytes, init_lanes
    from dlc.runtime.experiment.lanes import make_lane_functions

    batch = case.resolved.spec.train.batch
    host = build_consts(case.program, case.lanes, batch)
    fns = make_lane_functions(case.program, host, batch, jnp.asarray(case.pool.y))
    state = init_lanes(case.program, case.lanes)
    consts = jax.tree.map(jnp.asarray, host)
    order = fns.orders(state.train.key, jnp.int32(0))
    compiled = fns.epoch.lower(state, order, consts, case.pool.x, case.pool.y).compile()
    m = compiled.memory_analysis()
    xla = (
        (
            m.argument_size_in_bytes
            + m.output_size_in_bytes
            - m.alias_size_in_bytes
            + m.temp_size_in_bytes
        )
        if m is not None
        else 0
    )
    n_train = max(len(ln.train_rows) for ln in case.lanes)
    n_valid = max(len(ln.valid_rows) for ln in case.lanes)
    ours = FOLDS * estimate_bytes(case.program, batch, n_train, n_valid)
    ours += case.pool.x.nbytes + case.pool.y.nbytes
    mb = 2**20
    return f"memory for {FOLDS} lanes: estimate {ours / mb:.1f} MB, XLA epoch {xla / mb:.1f} MB"


def bench(name: str, repeats: int) -> dict[str, Any]:
    case = prepare_case(name)
    lanes = run_lanes(case)  # warm-up: fills the caches of the small eager ops on both sides
    single = run_one_by_one(case)
    diff = max(
        float(np.max(np.abs(np.asarray(a)[k] - np.asarray(b))))
        for k, (p, _) in enumerate(single)
        for a, b in zip(jax.tree.leaves(lanes.params), jax.tree.leaves(p), strict=True)
    )
    metric = "valid_accuracy" if "valid_accuracy" in lanes.metrics else "valid_loss"
    gap = max(abs(float(lanes.metrics[metric][k]) - m[metric]) for k, (_, m) in enumerate(single))
    rows: dict[str, list[tuple[float, float, float]]] = {"lanes": [], "one_by_one": []}
    for i in range(repeats):
        order = ("lanes", "one_by_one") if i % 2 == 0 else ("one_by_one", "lanes")
        for side in order:
            fn = (lambda: run_lanes(case)) if side == "lanes" else (lambda: run_one_by_one(case))
            wall, cpu, comp, count, _ = timed(fn)
            rows[side].append((wall, cpu, comp))
            print(
                f"  {name} {side}: {wall:.2f} s wall, {cpu:.2f} s CPU, of which XLA compile "
                f"{comp:.2f} s CPU ({count} programs); load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    med = {k: tuple(statistics.median(r[j] for r in v) for j in range(3)) for k, v in rows.items()}
    return {
        "name": name,
        "diff": diff,
        "gap": f"{gap:.1e} ({metric})",
        "memory": memory_report(case),
        **med,
        "epochs": case.resolved.spec.train.epochs,
        "steps": -(-max(len(ln.train_rows) for ln in case.lanes) // case.resolved.spec.train.batch),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    results = [bench(name, args.repeats) for name in args.cases]
    print(
        f"\nmedians of {args.repeats} interleaved runs, {FOLDS} folds each "
        f"(load average now {os.getloadavg()[0]:.1f})"
    )
    print(
        "| case | epochs x steps | 5 lanes, one program | 5 runs one by one | speed-up "
        "(wall) | speed-up (CPU) | max param diff | max metric diff |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        (lw, lc, _), (sw, sc, _) = r["lanes"], r["one_by_one"]
        print(
            f"| {r['name']} | {r['epochs']} x {r['steps']} | {lw:.2f} s ({lc:.2f} s CPU) | "
            f"{sw:.2f} s ({sc:.2f} s CPU) | {sw / lw:.1f}x | {sc / lc:.1f}x | "
            f"{r['diff']:.1e} | {r['gap']} |"
        )
    print("\nXLA compile (median CPU s) and the CPU speed-up if the lanes compiled nothing:")
    for r in results:
        (_, lc, lk), (_, sc, sk) = r["lanes"], r["one_by_one"]
        print(
            f"{r['name']}: lanes {lk:.2f} of {lc:.2f}, one by one {sk:.2f} of {sc:.2f}; "
            f"bound {sc / max(lc - lk, 1e-9):.1f}x"
        )
    for r in results:
        print(f"{r['name']}: {r['memory']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
