"""Data larger than memory (issue 16, item 4): a dataset 4x the memory budget trains by
streaming from disk, with peak resident memory under the budget plus a stated overhead, and
its throughput against the same data held in memory.

The dataset: `--budget` MB x 4 of float32 features (`--features` per row: 784, MNIST's shape,
for `--format npy`; 64, a table's width, for `csv` and `parquet`), in an `.npy` file, a CSV
(`%.7g` text) or a Parquet file (float32 columns, `--row-group` rows per row group), with
labels from a random linear teacher; the model is W1's MLP (features-256-256-10, ReLU, Adam,
batch 128). Three child processes each train it for `--epochs` epochs and report their peak
resident memory (`getrusage` `ru_maxrss`: the largest RSS the process ever had) and the
samples/s of the median epoch after the first (which compiles); the memory and stream runs
alternate for `--rounds` rounds (peak: the largest, samples/s: the median):

- `stream`: `train { memory_mb BUDGET }`, so the 4x larger file is streamed in chunks of steps;
- `memory`: the same data with a budget it fits in (read whole, the epoch on the device);
- `floor`: the same spec on 1024 rows (in memory for `npy`; streamed for the tables, with
  the budget scaled down alike, so that pyarrow's reader is loaded as when streaming):
  Python, JAX, XLA's compiled programs, the run's bookkeeping. This is the overhead that is
  not data: the claim is peak(stream) <= peak(floor) + budget.

Usage:
    python bench/stream_memory.py                 # budget 64 MB: a 256 MB dataset (~2-4 min)
    python bench/stream_memory.py --budget 32 --epochs 2
    python bench/stream_memory.py --format csv --budget 16
    python bench/stream_memory.py --format parquet --budget 16 --row-group 4096
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

CLASSES, BATCH = 10, 128

SOURCES = {
    "npy": 'npy x="{x}" y="{y}" classes=10',
    "csv": 'csv "{x}" target=y classes=true',
    "parquet": 'parquet "{x}" target=y classes=true',
}

SPEC = """\
data {{
  {source}
  split valid=0.02 test=0
}}
model {{
  dense 256
  relu
  dense 256
  relu
  dense 10
}}
loss cross_entropy
optimizer adam lr=1e-3
train {{ batch {batch}; epochs {epochs}; memory_mb {mb}; checkpoint_every 1000 }}
"""


def _blocks(rows: int, features: int) -> Any:
    """(features, labels) of `rows` rows, 8192 at a time, from one seeded teacher."""
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(features, CLASSES)).astype(np.float32)
    for start in range(0, rows, 8192):
        block = rng.normal(size=(min(8192, rows - start), features)).astype(np.float32)
        yield block, (block @ teacher).argmax(axis=1).astype(np.int32)


def make_data(
    folder: Path, rows: int, name: str, fmt: str, features: int, row_group: int
) -> tuple[Path, Path]:
    """The dataset as `fmt`: (x file, y file) for `npy`, (the table, the table) otherwise."""
    if fmt == "npy":
        px, py = folder / f"{name}_x.npy", folder / f"{name}_y.npy"
        x = np.lib.format.open_memmap(px, mode="w+", dtype=np.float32, shape=(rows, features))
        y = np.empty(rows, np.int32)
        start = 0
        for block, labels in _blocks(rows, features):
            x[start : start + len(block)], y[start : start + len(block)] = block, labels
            start += len(block)
        x.flush()
        del x
        np.save(py, y)
        return px, py
    names = [f"x{j}" for j in range(features)]
    if fmt == "csv":
        path = folder / f"{name}.csv"
        with open(path, "w") as f:
            f.write(",".join([*names, "y"]) + "\n")
            for block, labels in _blocks(rows, features):
                table = np.column_stack([block, labels])
                np.savetxt(f, table, fmt=["%.7g"] * features + ["%d"], delimiter=",")
        return path, path
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / f"{name}.parquet"
    schema = pa.schema([*(pa.field(n, pa.float32()) for n in names), pa.field("y", pa.int32())])
    with pq.ParquetWriter(path, schema) as writer:
        for block, labels in _blocks(rows, features):
            cols = [*(pa.array(block[:, j]) for j in range(features)), pa.array(labels)]
            writer.write_table(pa.table(cols, schema=schema), row_group_size=row_group)
    return path, path


def child(spec: Path) -> None:
    """Train the spec and print one JSON line: peak RSS, samples/s after the first epoch."""
    import dlc

    m = dlc.compile(spec)
    n = len(m.data.parts["train"][0])
    t0 = time.perf_counter()
    result = m.fit()
    total = time.perf_counter() - t0
    times = sorted(h["time"] for h in result.history[1:]) or [total]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(
        json.dumps(
            {
                "streamed": m.data.streamed,
                "rows": n,
                "peak_mb": peak / 2**20,
                "samples_per_s": n / times[len(times) // 2],
                "fit_s": total,
                "train_loss": result.history[-1]["train_loss"],
                "valid_accuracy": result.history[-1].get("valid_accuracy"),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=float, default=64.0, help="memory budget in MB")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2, help="memory/stream runs, alternating")
    ap.add_argument("--format", choices=sorted(SOURCES), default="npy", help="the data file")
    ap.add_argument("--features", type=int, help="per row (default: 784 npy, 64 tables)")
    ap.add_argument("--row-group", type=int, default=4096, help="Parquet rows per row group")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    budget, fmt = args.budget, args.format
    features = args.features or (784 if fmt == "npy" else 64)
    rows = int(4 * budget * 2**20 // (features * 4))
    with tempfile.TemporaryDirectory(prefix="dlc-stream-") as tmp:
        folder = Path(tmp)
        big = make_data(folder, rows, "big", fmt, features, args.row_group)
        size = big[0].stat().st_size / 2**20
        small_group = max(8, args.row_group * 1024 // rows)  # scaled as the floor's budget
        small = make_data(folder, 1024, "small", fmt, features, small_group)
        # tables: the floor streams its 1,024 rows too (pyarrow's reader and kernels loaded)
        floor_mb = 100000.0 if fmt == "npy" else budget * 1024 / rows
        runs = [("floor", small, floor_mb)]
        for _ in range(args.rounds):  # alternating, so that other load hits both alike
            runs += [("memory", big, 100000.0), ("stream", big, budget)]
        out: dict[str, list[dict]] = {}
        for name, (px, py), mb in runs:
            spec = folder / f"{name}.dl"
            source = SOURCES[fmt].format(x=px, y=py)
            spec.write_text(SPEC.format(source=source, batch=BATCH, epochs=args.epochs, mb=mb))
            env = {**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(spec)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if proc.returncode:
                sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
            out.setdefault(name, []).append(json.loads(proc.stdout.strip().splitlines()[-1]))
    res = {
        name: {
            "streamed": rs[0]["streamed"],
            "peak_mb": max(r["peak_mb"] for r in rs),
            "samples_per_s": statistics.median(r["samples_per_s"] for r in rs),
            "fit_s": statistics.median(r["fit_s"] for r in rs),
            "all": [round(r["samples_per_s"]) for r in rs],
        }
        for name, rs in out.items()
    }
    data_mb = rows * features * 4 / 2**20
    load = os.getloadavg()[0]
    print(
        f"dataset: {rows} rows x {features} float32 = {data_mb:.0f} MB as a {fmt} file "
        f"({size:.0f} MB on disk); budget {budget:g} MB"
    )
    print(
        f"MLP {features}-256-256-10, batch {BATCH}, {args.epochs} epochs, {args.rounds} rounds; "
        f"load average {load:.1f}"
    )
    print(f"{'run':8} {'streamed':>8} {'peak RSS MB':>12} {'samples/s':>10} {'fit s':>7}  rounds")
    for name, r in res.items():
        print(
            f"{name:8} {r['streamed']!s:>8} {r['peak_mb']:12.0f} {r['samples_per_s']:10.0f} "
            f"{r['fit_s']:7.1f}  {r['all']}"
        )
    out = res
    over = out["stream"]["peak_mb"] - out["floor"]["peak_mb"]
    print(
        f"streaming peak - floor peak = {over:.0f} MB (budget {budget:g} MB, "
        f"{over / budget:.2f}x of it); in-memory peak - floor = "
        f"{out['memory']['peak_mb'] - out['floor']['peak_mb']:.0f} MB"
    )
    ratio = out["stream"]["samples_per_s"] / out["memory"]["samples_per_s"]
    print(f"throughput streaming / in memory: {ratio:.2f}")
    print(
        "within budget + overhead:",
        out["stream"]["peak_mb"] <= out["floor"]["peak_mb"] + budget,
    )


if __name__ == "__main__":
    main()
