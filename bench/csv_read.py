"""Reading a big numeric CSV: dlc's `read_csv` against `pyarrow.csv.read_csv` (issue 12).

Writes a 200,000 x 11 CSV of random numbers (`%.6g`, as a user's export looks) to a temporary
folder, then times, in rounds that alternate the readers (so that load from other processes
hits all of them alike):

* `pyarrow`: `pyarrow.csv.read_csv` on the file (the reference);
* `dlc`: `dlc.runtime.data.datasets.read_csv`, which takes its fast path (pyarrow when
  installed) and returns float64 columns after checking every cell;
* `dlc-no-pyarrow`: the same with pyarrow hidden, so the fast path is NumPy's `loadtxt`
  after a vectorized check (what a user without the `parquet` extra gets);
* `general`: dlc's general reader (Python's `csv` module, a cell at a time; the reader every
  CSV used before, and still the one for files with text columns, gaps or errors).

Wall-clock and process CPU time (all threads) are both printed, median over the rounds, with
each reader's ratio to pyarrow. The target: dlc <= 2x pyarrow.

Usage:
    python bench/csv_read.py             # 5 rounds (about 1 minute on 2 loaded cores)
    python bench/csv_read.py --rounds 3 --skip-general
    python bench/csv_read.py --mixed      # a date and a word column among the numbers
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

import numpy as np

ROWS, COLS = 200_000, 11


def write_csv(path: Path, mixed: bool = False) -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(ROWS, COLS)) * 100
    header = ",".join(f"x{j}" for j in range(COLS - 1)) + ",y"
    np.savetxt(path, a, delimiter=",", header=header, comments="", fmt="%.6g")
    if mixed:  # the first column a date, the second a word: a typical export
        words = ["rain", "sun", "fog", "snow", "drizzle"]
        lines = path.read_text().split("\n")
        out = ["date,weather," + lines[0].split(",", 2)[2]]
        for i, line in enumerate(lines[1:-1]):
            rest = line.split(",", 2)[2]
            out.append(f"2012-{1 + i % 12:02d}-{1 + i % 28:02d},{words[i % 5]},{rest}")
        path.write_text("\n".join(out) + "\n")


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--skip-general", action="store_true", help="skip the slow general reader")
    ap.add_argument("--mixed", action="store_true", help="a date and a word column, 9 numbers")
    args = ap.parse_args()
    import pyarrow.csv as pacsv

    from dlc.runtime.data import datasets

    def no_pyarrow() -> object:
        saved = {k: sys.modules.get(k) for k in ("pyarrow", "pyarrow.csv")}
        sys.modules["pyarrow"] = None  # type: ignore[assignment]  # `import pyarrow` fails
        sys.modules["pyarrow.csv"] = None  # type: ignore[assignment]
        try:
            return datasets.read_csv(path)
        finally:
            sys.modules.update(saved)  # type: ignore[arg-type]

    def general() -> object:
        fast = datasets._numeric_csv
        datasets._numeric_csv = lambda path, delimiter: None  # type: ignore[assignment]
        try:
            return datasets.read_csv(path)
        finally:
            datasets._numeric_csv = fast  # type: ignore[assignment]

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        write_csv(path, args.mixed)
        readers: dict[str, Callable[[], object]] = {
            "pyarrow": lambda: pacsv.read_csv(path),
            "dlc": lambda: datasets.read_csv(path),
            "dlc-no-pyarrow": no_pyarrow,
        }
        if not args.skip_general:
            readers["general"] = general
        header, cols = datasets.read_csv(path)
        ref = pacsv.read_csv(path)
        same = all(
            np.array_equal(cols[n], ref.column(n).to_numpy().astype(cols[n].dtype)) for n in header
        )
        same_np = all(
            np.array_equal(a, b)
            for a, b in zip(cols.values(), no_pyarrow()[1].values(), strict=True)  # type: ignore[index]
        )
        for fn in readers.values():  # warm-up: imports, page cache
            fn()
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in readers}
        for r in range(args.rounds):
            names = list(readers) if r % 2 == 0 else list(reversed(readers))
            for name in names:
                times[name].append(timed(readers[name]))
        size = path.stat().st_size
    load = os.getloadavg()[0]
    kind = "date, word and 9 numbers" if args.mixed else "numeric"
    print(f"{ROWS:,} x {COLS} {kind} CSV, {size / 1e6:.1f} MB; {args.rounds} rounds")
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"dlc's columns equal pyarrow's: {same}; with loadtxt: {same_np}")
    base_w = statistics.median(w for w, _ in times["pyarrow"])
    base_c = statistics.median(c for _, c in times["pyarrow"])
    print(f"{'reader':16} {'wall s':>8} {'x pyarrow':>10} {'CPU s':>8} {'x pyarrow':>10}")
    for name, ts in times.items():
        w = statistics.median(t[0] for t in ts)
        c = statistics.median(t[1] for t in ts)
        print(f"{name:16} {w:8.3f} {w / base_w:10.2f} {c:8.3f} {c / base_c:10.2f}")


if __name__ == "__main__":
    main()
