"""Two versions of the lanes code side by side in one process: `train_lanes` of this tree
against `train_lanes` of another dlc tree's `runtime/experiment/lanes.py` and `lane_setup.py`
(the rest of dlc is this tree's), on `vmap_lanes.py`'s case. Prints the largest difference of
their final parameters and metrics, then interleaved timings (wall and process CPU time) with
medians: a before/after comparison that shares the process, the data and the load.

Usage:
    git archive <commit> | tar -x -C /tmp/before/dlc
    python bench/lanes_before_after.py /tmp/before/dlc --case digits --repeats 6
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vmap_lanes  # the cases and their preparation


def load_lanes(tree: Path) -> ModuleType:
    """`tree`'s lanes module, importing `tree`'s lane_setup (both under private names)."""
    modules = {}
    for name in ("lane_setup", "lanes"):
        text = (tree / "runtime" / "experiment" / f"{name}.py").read_text()
        text = text.replace("dlc.runtime.experiment.lane_setup", "_before_lane_setup")
        spec = importlib.util.spec_from_loader(f"_before_{name}", loader=None)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        exec(compile(text, str(tree / f"{name}.py"), "exec"), module.__dict__)
        modules[name] = module
    return modules["lanes"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path, help="the other dlc tree (its package folder)")
    ap.add_argument("--case", default="fashion", choices=list(vmap_lanes.CASES))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    from dlc.runtime.experiment import lanes as after

    sides = {"before": load_lanes(args.before), "after": after}
    case = vmap_lanes.prepare_case(args.case)

    def run(side: str) -> Any:
        return sides[side].train_lanes(case.program, case.lanes, case.pool.x, case.pool.y)

    out = {k: run(k) for k in sides}  # also the untimed warm-up of each side
    a, b = out["before"], out["after"]
    params = max(
        float(np.max(np.abs(np.asarray(u) - np.asarray(v))))
        for u, v in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True)
    )
    metrics = {k: float(np.max(np.abs(a.metrics[k] - b.metrics[k]))) for k in b.metrics}
    print(f"{args.case}: max |after - before|: parameters {params:.1e}, metrics {metrics}")
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
    for i in range(args.repeats):
        for side in ("before", "after") if i % 2 == 0 else ("after", "before"):
            w, c = time.perf_counter(), time.process_time()
            run(side)
            times[side].append((time.perf_counter() - w, time.process_time() - c))
            print(
                f"  {side}: {times[side][-1][0]:.2f} s wall, {times[side][-1][1]:.2f} s CPU; "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    for side, v in times.items():
        wall, cpu = (statistics.median(t[j] for t in v) for j in (0, 1))
        print(f"{side}: median {wall:.2f} s wall, {cpu:.2f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
