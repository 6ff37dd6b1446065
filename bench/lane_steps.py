"""Per-step cost of lanes against one run: the lanes' compiled epoch (`make_lane_functions`,
K = 5 folds of `vmap_lanes.py`'s case) per lane and step, against one run's compiled epoch
(`make_functions`, as `CompiledModel.fit` runs it) per step, on the same number of training
rows (each fold cut to its first `--rows`), compilation excluded. Epochs alternate (lanes,
single, single, lanes, ...); medians of wall-clock and process CPU time (all threads).

If the lanes' step per lane costs what one run's step costs, K lanes can at best save the
compilations and the work outside XLA that the one-by-one runs repeat (`vmap_lanes.py` prints
how much that is).

Usage:
    python bench/lane_steps.py                    # fashion, 12800 rows per lane, 5 epochs each
    python bench/lane_steps.py --case digits --rows 1000 --repeats 9
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
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vmap_lanes  # the cases and their preparation


def lanes_epoch(case: vmap_lanes.Case, lanes: list[Any]) -> tuple[Callable[[], None], int]:
    """A call of the lanes' compiled epoch, and the lane-steps it runs."""
    from dlc.runtime.experiment.lane_setup import build_consts, init_lanes
    from dlc.runtime.experiment.lanes import make_lane_functions

    batch = case.resolved.spec.train.batch
    host = build_consts(case.program, lanes, batch)
    consts = jax.tree.map(jnp.asarray, host)
    x, y = jnp.asarray(case.pool.x), jnp.asarray(case.pool.y)
    fns = make_lane_functions(case.program, host, batch, y)
    box = [init_lanes(case.program, lanes)]
    order = fns.orders(box[0].train.key, jnp.int32(0))
    compiled = fns.epoch.lower(box[0], order, consts, x, y).compile()

    def run() -> None:
        box[0], stats = compiled(box[0], order, consts, x, y)
        jax.block_until_ready(stats)

    return run, fns.steps_per_epoch * len(lanes)


def single_epoch(case: vmap_lanes.Case, lane: Any) -> tuple[Callable[[], None], int]:
    """A call of one run's compiled epoch on `lane`'s rows, and the steps it runs."""
    from dlc.runtime.train.step import make_functions, to_device

    parts, _ = case.pool.arrays(lane.train_rows, None, case.resolved.spec.data.normalize)
    x, y = to_device(*parts["train"])
    fns = make_functions(case.program, len(x), case.resolved.spec.train.batch)
    box = [fns.init(lane.seed)]
    compiled = fns.epoch.lower(box[0], x, y, jnp.int32(0)).compile()

    def run() -> None:
        box[0], stats = compiled(box[0], x, y, jnp.int32(0))
        jax.block_until_ready(stats)

    return run, fns.steps_per_epoch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="fashion", choices=list(vmap_lanes.CASES))
    ap.add_argument("--rows", type=int, default=12800, help="training rows per lane")
    ap.add_argument("--repeats", type=int, default=5, help="epochs timed per side")
    args = ap.parse_args(argv)
    print(f"jax {jax.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    case = vmap_lanes.prepare_case(args.case)
    lanes = [dataclasses.replace(ln, train_rows=ln.train_rows[: args.rows]) for ln in case.lanes]
    sides = {"lanes (per lane)": lanes_epoch(case, lanes), "one run": single_epoch(case, lanes[0])}
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
    for i in range(args.repeats):
        for name in list(sides) if i % 2 == 0 else list(sides)[::-1]:
            run, steps = sides[name]
            w, c = time.perf_counter(), time.process_time()
            run()
            ms = 1e3 / steps
            times[name].append(((time.perf_counter() - w) * ms, (time.process_time() - c) * ms))
    print(
        f"{args.case}: {len(lanes)} lanes, {args.rows} rows each, batch "
        f"{case.resolved.spec.train.batch}, medians of {args.repeats} epochs "
        f"(load average now {os.getloadavg()[0]:.1f})"
    )
    for name, v in times.items():
        wall, cpu = (statistics.median(t[j] for t in v) for j in (0, 1))
        print(f"  {name}: {wall:.3f} ms wall, {cpu:.3f} ms CPU per step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
