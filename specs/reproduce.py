"""Regenerate the result tables of specs/README.md from real runs (issue 15).

    python specs/reproduce.py                      # every table, full size (`make reproduce`)
    python specs/reproduce.py --only lecture1      # one table (repeat --only for more)
    python specs/reproduce.py --quick --readme /tmp/README.md   # 1 seed, 1 epoch, 64 rows
    python specs/reproduce.py --render             # redraw the tables from the recorded values

Each table sits in specs/README.md between `<!-- reproduce:NAME -->` and
`<!-- /reproduce:NAME -->`; only the text between a pair of markers is rewritten, from the
manifest in specs/reproduce_manifest.py, with a line saying the date, the machine and the
command. The measured values are kept in reproduce_results.json beside the README (`--render`
redraws the tables from them after a change of format or notes). Everything outside the markers
(the hand-written tables that describe the specs) is left alone. `--quick` checks that every
table builds (CI runs it on a copy of the README, see tests/test_reproduce.py); its numbers mean
nothing and it says so in each table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SPECS = Path(__file__).resolve().parent
MARKER = re.compile(r"<!-- reproduce:([\w-]+) -->\n(.*?)<!-- /reproduce:\1 -->", re.S)
QUICK_ROWS = 64


@dataclass
class Trained:
    """One trained model of a row (one seed), with its evaluations cached per part."""

    row: Row
    model: Any
    result: Any
    seconds: float
    quick: bool
    _evals: dict[str, dict[str, float]] = field(default_factory=dict)

    def metric(self, part: str, key: str) -> float:
        if part not in self._evals:
            if self.quick:  # a few rows of the part: the table's shape, not its numbers
                x, y = (a[:QUICK_ROWS] for a in self.model.data.parts[part])
                got = self.model.evaluate(x=x, y=y)
                self._evals[part] = {k.replace("eval_", f"{part}_", 1): v for k, v in got.items()}
            else:
                self._evals[part] = self.model.evaluate(part)
        return float(self._evals[part].get(f"{part}_{key}", math.nan))


Measure = Callable[[Trained], float]
Notes = Callable[[dict["Row", list[list[float]]]], str]


def metric(part: str, key: str) -> Measure:
    """The spec's loss or a reported metric on a part: metric("test", "accuracy")."""
    return lambda t: t.metric(part, key)


@dataclass(frozen=True)
class Column:
    header: str
    measure: Measure
    digits: int = 3  # significant digits


@dataclass(frozen=True)
class Row:
    spec: str  # relative to specs/
    label: str = ""  # the first cell (default: a link to the spec)
    overrides: tuple[str, ...] = ()
    plugin: str | None = None  # a `--plugin` file relative to specs/

    def cell(self) -> str:
        if self.label:
            return self.label
        extra = "".join(f" `--set {o}`" for o in self.overrides)
        return f"[{Path(self.spec).name}]({self.spec}){extra}"


@dataclass(frozen=True)
class Table:
    name: str
    rows: tuple[Row, ...]
    columns: tuple[Column, ...]
    seeds: tuple[int, ...] = (0,)
    first: str = "spec"
    notes: Notes | None = None


def train(row: Row, seed: int, quick: bool) -> Trained:
    import dlc
    from dlc.compiler.plugins import load_plugin

    if row.plugin:
        load_plugin(SPECS / row.plugin)
    overrides = [*row.overrides, f"train.seed={seed}"]
    if quick:
        overrides.append("train.epochs=1")
    start = time.perf_counter()
    model = dlc.compile(SPECS / row.spec, overrides=overrides)
    if quick:
        result = model.fit(*(a[:QUICK_ROWS] for a in model.data.parts["train"]))
    else:
        result = model.fit()
    return Trained(row, model, result, time.perf_counter() - start, quick)


def fmt(values: Sequence[float], digits: int) -> str:
    """`digits` significant digits of the mean (whole numbers with separators past them), the
    standard deviation to the same decimal place: 7.00 ± 0.04, 356,131 ± 6,015, 1.03e-05."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "—"
    if len(values) == 1 and values[0].is_integer() and abs(values[0]) < 1e15:  # a count
        return f"{int(values[0]):,}"
    mean = statistics.fmean(values)
    magnitude = math.floor(math.log10(abs(mean))) if mean else 0
    decimals = max(0, digits - 1 - magnitude)
    if 0 < abs(mean) < 1e-3:  # tiny (gradient norms): scientific
        text, sd = f"{mean:.{digits - 1}e}", "{:.1e}"
    else:
        text, sd = f"{mean:,.{decimals}f}", f"{{:,.{decimals}f}}"
    if len(values) == 1:
        return text
    return f"{text} ± {sd.format(statistics.stdev(values))}"


def measure(table: Table, quick: bool, log: Callable[[str], None]) -> dict[Row, list[list[float]]]:
    """Per row, per column: the values over the table's seeds."""
    seeds = table.seeds[:1] if quick else table.seeds
    values: dict[Row, list[list[float]]] = {}
    for row in table.rows:
        cols: list[list[float]] = [[] for _ in table.columns]
        for seed in seeds:
            trained = train(row, seed, quick)
            for i, col in enumerate(table.columns):
                cols[i].append(col.measure(trained))
            log(f"  {row.spec} {' '.join(row.overrides)} seed {seed}: {trained.seconds:.1f} s")
        values[row] = cols
    return values


def machine() -> str:
    import jax

    cpu = platform.processor() or platform.machine()
    return (
        f"{platform.system()} {cpu}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the start; JAX {jax.__version__} on "
        f"{jax.devices()[0].platform}"
    )


def render(table: Table, values: dict[Row, list[list[float]]], stamp: str) -> str:
    head = [table.first, *(c.header for c in table.columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row, cols in values.items():
        cells = [fmt(v, c.digits) for v, c in zip(cols, table.columns, strict=True)]
        lines.append("| " + " | ".join([row.cell(), *cells]) + " |")
    text = "\n".join(lines) + "\n\n"
    if table.notes is not None:
        text += table.notes(values) + "\n\n"
    return text + stamp + "\n"


def stamp_line(table: Table, quick: bool, seconds: float, started: str, where: str) -> str:
    if quick:
        return (
            f"*Quick mode (`--quick`: 1 epoch on {QUICK_ROWS} rows, seed {table.seeds[0]}): "
            "these numbers only show that the table builds.*"
        )
    seeds = table.seeds
    over = (
        f"seed {seeds[0]}"
        if len(seeds) == 1
        else f"mean ± sample standard deviation over seeds {seeds[0]}–{seeds[-1]}"
    )
    return (
        f"*Generated by `python specs/reproduce.py --only {table.name}` (`make reproduce` "
        f"regenerates every table) on {started}, {where}: {over}, "
        f"{seconds / 60:.1f} min. Not typed by hand.*"
    )


def rewrite(text: str, tables: dict[str, str]) -> str:
    """Replace the body of each named marker pair; every name must have its markers."""
    found = {m.group(1) for m in MARKER.finditer(text)}
    missing = sorted(set(tables) - found)
    if missing:
        raise SystemExit(f"specs/README.md has no markers for: {', '.join(missing)}")

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        body = tables.get(name, m.group(2))
        return f"<!-- reproduce:{name} -->\n{body}<!-- /reproduce:{name} -->"

    return MARKER.sub(sub, text)


def record(path: Path, name: str, values: dict[Row, list[list[float]]], stamp: str) -> None:
    """Keep the measured values beside the README, so that `--render` can redraw a table."""
    data = json.loads(path.read_text()) if path.exists() else {}
    rows = [
        {"spec": r.spec, "overrides": list(r.overrides), "values": v} for r, v in values.items()
    ]
    data[name] = {"stamp": stamp, "rows": rows}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def recorded(path: Path, table: Table) -> tuple[dict[Row, list[list[float]]], str]:
    """The values `record` kept for a table, checked against the manifest's rows and columns."""
    entry = json.loads(path.read_text()).get(table.name) if path.exists() else None
    rows = [(r["spec"], tuple(r["overrides"])) for r in entry["rows"]] if entry else None
    if rows != [(r.spec, r.overrides) for r in table.rows] or any(
        len(r["values"]) != len(table.columns) for r in entry["rows"]
    ):
        raise SystemExit(
            f"{path.name} has no values for table {table.name} as the manifest now has it: "
            f"run python specs/reproduce.py --only {table.name}"
        )
    return {row: r["values"] for row, r in zip(table.rows, entry["rows"], strict=True)}, entry[
        "stamp"
    ]


def main(argv: Sequence[str] | None = None) -> int:
    sys.path.insert(0, str(SPECS))
    from reproduce_manifest import TABLES

    known = {t.name: t for t in TABLES}
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", action="append", choices=sorted(known), help="a table to regenerate")
    ap.add_argument("--quick", action="store_true", help="1 seed, 1 epoch on 64 rows (CI)")
    ap.add_argument("--readme", type=Path, default=SPECS / "README.md", help="the file to rewrite")
    ap.add_argument(
        "--render", action="store_true", help="redraw from the recorded values, without training"
    )
    args = ap.parse_args(argv)
    names = args.only or list(known)
    results = args.readme.with_name("reproduce_results.json")
    rewrite(args.readme.read_text(), dict.fromkeys(names, ""))  # every marker is there: fail early
    if args.render:
        drawn = {n: render(known[n], *recorded(results, known[n])) for n in names}
        args.readme.write_text(rewrite(args.readme.read_text(), drawn))
        return 0
    os.environ.setdefault("DLC_PROGRESS_EVERY", "0")
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    where = machine()
    for name in names:
        table = known[name]
        print(f"{name}:", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        values = measure(table, args.quick, lambda s: print(s, file=sys.stderr, flush=True))
        stamp = stamp_line(table, args.quick, time.perf_counter() - t0, started, where)
        drawn = render(table, values, stamp)
        print(drawn)
        record(results, name, values, stamp)
        text = args.readme.read_text()  # after each table, so that an interruption keeps work
        args.readme.write_text(rewrite(text, {name: drawn}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
