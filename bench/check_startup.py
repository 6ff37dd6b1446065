"""Startup time of `dlc check specs/sigmoids.dl` as a whole process, and proof it skips JAX.

One warm-up run fills the Lark grammar cache (and the OS file cache); then the installed `dlc`
entry point and the same `main()` run under a small wrapper are timed alternately. The wrapper
reports at exit whether `jax` was ever imported. A final `python -X importtime` run of the
wrapper says where the import time goes: the slowest modules, the packages, and which dlc module
pulls in each costly import.

Usage:
    python bench/check_startup.py               # 7 timed runs of each
    python bench/check_startup.py --runs 15 --spec specs/relu_deep.dl
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 0.5
MARK = "@@dlc-bench"
# What the console script does, plus an exit hook that says whether JAX was ever imported.
WRAPPER = f"""\
import atexit, sys, time
_t0 = time.perf_counter()
atexit.register(lambda: print("{MARK} jax=%s in_python=%.4f" % (
    any(m == "jax" or m.startswith("jax.") for m in sys.modules),
    time.perf_counter() - _t0), file=sys.stderr))
from dlc.runtime.cli.main import main
sys.argv = ["dlc", *sys.argv[1:]]
sys.exit(main())
"""
IMPORTTIME_RUNS = 5
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


@dataclass
class Node:
    """One module in a `-X importtime` tree (times in microseconds)."""

    name: str
    self_us: int
    cum_us: int
    children: list[Node] = field(default_factory=list)


def cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# what any checker of this language must import: arrays, validation, the parser, the terminal
FLOOR = "import numpy, pydantic, lark, rich.table, rich.console"
FLOOR_MARGIN_S = 0.15
# the floor plus what using Pydantic for validation loads beyond `import pydantic` (its lazy
# package init): the model machinery, and importlib.metadata, which its validator builder
# imports to look for plugins; shown beside the floor, not used for the target
FLOOR_PYDANTIC = FLOOR + "; from pydantic import BaseModel, Field; import importlib.metadata"


def run(
    cmd: list[str], env: dict[str, str] | None = None
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall time and CPU time (user + system) of one process, and its result (a non-zero exit
    stops the benchmark)."""
    c0, t0 = cpu_children(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    elapsed, cpu = time.perf_counter() - t0, cpu_children() - c0
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed, cpu, proc


def parse_importtime(stderr: str) -> list[Node]:
    """The import tree (children are printed before their parent, two spaces per level)."""
    pending: dict[int, list[Node]] = defaultdict(list)
    for line in stderr.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        depth = len(m.group(3)) // 2
        node = Node(m.group(4), int(m.group(1)), int(m.group(2)), pending.pop(depth + 1, []))
        pending[depth].append(node)
    return pending[1] if 1 in pending else pending[0]


def min_tree(trees: list[list[Node]]) -> list[Node]:
    """The first tree, with each module's times the least over all trees (same imports)."""
    best: dict[str, tuple[int, int]] = {}
    for tree in trees:
        for n, _, _ in walk(tree):
            s, c = best.get(n.name, (n.self_us, n.cum_us))
            best[n.name] = (min(s, n.self_us), min(c, n.cum_us))
    for n, _, _ in walk(trees[0]):
        n.self_us, n.cum_us = best[n.name]
    return trees[0]


def walk(
    nodes: list[Node], owner: str | None = None, parent: str | None = None
) -> list[tuple[Node, str | None, str | None]]:
    """Every node with the nearest dlc module that (transitively) imported it, and its parent."""
    out = []
    for n in nodes:
        out.append((n, owner, parent))
        out.extend(walk(n.children, n.name if n.name.startswith("dlc") else owner, n.name))
    return out


def top_package(name: str) -> str:
    return name.split(".")[0].lstrip("_") or name


def report_imports(roots: list[Node], top: int = 12) -> None:
    """Print the slowest modules, the packages' totals, and dlc -> costly import edges."""
    nodes = walk(roots)
    total = sum(n.cum_us for n in roots)
    print(
        f"\nimports: {total / 1e3:.0f} ms in all ({len(nodes)} modules) under -X importtime "
        f"(each module's least time over {IMPORTTIME_RUNS} runs)"
    )
    print("  slowest modules by own time (module body only):")
    for n, owner, _ in sorted(nodes, key=lambda t: -t[0].self_us)[:top]:
        print(f"    {n.self_us / 1e3:7.1f} ms  {n.name}  (via {owner or 'top level'})")
    per_pkg: dict[str, int] = defaultdict(int)
    for n, _, _ in nodes:
        per_pkg[top_package(n.name)] += n.self_us
    print("  by package (sum of own times):")
    for pkg, us in sorted(per_pkg.items(), key=lambda t: -t[1])[:top]:
        print(f"    {us / 1e3:7.1f} ms  {pkg}")
    print("  costly imports made by dlc modules (cumulative, first import only):")
    edges = [
        (n, parent)
        for n, _, parent in nodes
        if parent and parent.startswith("dlc") and not n.name.startswith("dlc") and n.cum_us >= 5000
    ]
    for n, parent in sorted(edges, key=lambda t: -t[0].cum_us)[:top]:
        print(f"    {n.cum_us / 1e3:7.1f} ms  {parent} imports {n.name}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="timed runs of each command (default 7)")
    ap.add_argument("--spec", default="specs/sigmoids.dl", help="spec to check")
    ap.add_argument(
        "--before",
        metavar="DIR",
        help="also time the dlc found in DIR/dlc (e.g. a `git archive` of an older commit), "
        "interleaved with the rest, through the same wrapper",
    )
    args = ap.parse_args(argv)
    before_env = None
    if args.before:
        before_env = {**os.environ, "PYTHONPATH": str(Path(args.before).resolve())}
    py = sys.executable
    dlc_bin = shutil.which("dlc", path=str(Path(py).parent)) or shutil.which("dlc")
    check = ["check", args.spec]
    wrapped = [py, "-c", WRAPPER, *check]
    entry = [dlc_bin, *check] if dlc_bin else wrapped
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}; {' '.join(['dlc', *check])}"
    )

    run(wrapped)  # warm-up: fills the Lark grammar cache and the OS file cache
    if before_env is not None:
        run(wrapped, before_env)
    times: dict[str, list[tuple[float, float]]] = {
        "entry": [],
        "wrapped": [],
        "before": [],
        "floor": [],
        "floor_pydantic": [],
        "bare": [],
    }
    in_python: list[float] = []
    jax_seen: list[bool] = []
    for _ in range(args.runs):
        wall, cpu, _ = run(entry)
        times["entry"].append((wall, cpu))
        wall, cpu, proc = run(wrapped)
        times["wrapped"].append((wall, cpu))
        marks = [ln for ln in proc.stderr.splitlines() if ln.startswith(MARK)]
        if not marks:
            sys.exit(f"the wrapper printed no {MARK} line:\n{proc.stderr[-2000:]}")
        fields = dict(kv.split("=") for kv in marks[-1].split()[1:])
        jax_seen.append(fields["jax"] == "True")
        in_python.append(float(fields["in_python"]))
        if before_env is not None:
            times["before"].append(run(wrapped, before_env)[:2])
        wall, cpu, _ = run([py, "-c", FLOOR])
        times["floor"].append((wall, cpu))
        times["floor_pydantic"].append(run([py, "-c", FLOOR_PYDANTIC])[:2])
        wall, cpu, _ = run([py, "-c", "pass"])
        times["bare"].append((wall, cpu))

    med = statistics.median
    print(f"\n{args.runs} runs each, after one warm-up run (wall time; CPU = user + system):")
    for key, label in (
        ("entry", "dlc check (console script)"),
        ("wrapped", "same main() in a -c wrapper"),
        ("before", f"before ({args.before}), wrapper"),
        ("floor", "import floor (numpy, pydantic...)"),
        ("floor_pydantic", "floor + BaseModel, metadata"),
        ("bare", "bare interpreter (-c pass)"),
    ):
        if not times[key]:
            continue
        walls, cpus = [w for w, _ in times[key]], [c for _, c in times[key]]
        print(
            f"  {label:29} median {med(walls):.3f} s, best {min(walls):.3f} s; "
            f"CPU median {med(cpus):.3f} s"
        )
    print(f"  (in the wrapper, imports + check in Python: median {med(in_python):.3f} s)")
    wall_med = med(w for w, _ in times["entry"])
    cpu_med = med(c for _, c in times["entry"])
    verdict = "meets" if wall_med < TARGET_S else "MISSES"
    print(
        f"  {verdict} the < {TARGET_S} s target (median wall time {wall_med:.3f} s; "
        f"CPU time, which another process's load hardly changes: {cpu_med:.3f} s)"
    )
    pairs = zip(times["entry"], times["floor"], strict=True)
    over = [(w - fw, c - fc) for (w, c), (fw, fc) in pairs]
    print(
        f"  dlc check above the import floor: median {med(o[0] for o in over):.3f} s wall, "
        f"{med(o[1] for o in over):.3f} s CPU (target: within {FLOOR_MARGIN_S} s)"
    )
    for key, label in (("wrapped", "wrapper"), ("before", "before, wrapper")):
        if times[key]:
            rows = zip(times[key], times["floor"], strict=True)
            o = [(w - fw, c - fc) for (w, c), (fw, fc) in rows]
            print(
                f"  {label} above the floor: median {med(x[0] for x in o):.3f} s wall, "
                f"{med(x[1] for x in o):.3f} s CPU"
            )
    if times["before"]:
        ratios = [
            (w / bw, c / bc)
            for (w, c), (bw, bc) in zip(times["wrapped"], times["before"], strict=True)
        ]
        print(
            f"  wrapper / before, per round: median {med(r[0] for r in ratios):.3f} wall, "
            f"{med(r[1] for r in ratios):.3f} CPU"
        )
    print(f"  jax imported: {'YES in some run' if any(jax_seen) else 'no (in every run)'}")

    # -X importtime measures wall time: take each module's least time over a few runs
    trees = [
        parse_importtime(run([py, "-X", "importtime", "-c", WRAPPER, *check])[2].stderr)
        for _ in range(IMPORTTIME_RUNS)
    ]
    report_imports(min_tree(trees))
    print(f"\nload average now {os.getloadavg()[0]:.2f}")
    return 1 if any(jax_seen) else 0


if __name__ == "__main__":
    sys.exit(main())
