"""`dlc experiment FILE.dl`: the folds × seeds × grid of the spec's `experiment` section as lanes
of one program, with a progress bar per program, then the lanes, the settings (mean ± std) and
the best setting.

Example:
    $ dlc experiment specs/cv_sigmoids.dl --runs runs
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from dlc.runtime.cli.shared import add_runs_options, fmt, training_display

if TYPE_CHECKING:
    from rich.console import Console

    from dlc.runtime.experiment.results import ExperimentResult

HELP = (
    "train the folds x seeds x grid of the spec's `experiment` "
    "section as lanes of one program, and report"
)
TAKES_SPEC = True
SHOWN_LANES = 60  # larger experiments print only the summary (every lane is in lanes.csv)


def arguments(p: argparse.ArgumentParser) -> None:
    add_runs_options(p)
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout: every lane, the settings, the best, the report",
    )


def main(args: argparse.Namespace) -> int:
    from rich.progress import TimeElapsedColumn

    from dlc.runtime.cli.shared import esc, progress_lines
    from dlc.runtime.experiment.runner import run_experiment

    out, err, bar = training_display(args.quiet, "[bold]{task.description}", TimeElapsedColumn())
    say = progress_lines(err, args.quiet)
    tasks: dict[str, Any] = {}

    def on_epoch(name: str, epoch: int, epochs: int, active: int) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=epochs, info="")
        bar.update(tasks[name], completed=epoch, info=f"{active} lanes training")
        say(f"{name}: epoch {epoch}/{epochs}  {active} lanes training", epoch == epochs)

    def note(message: str) -> None:
        if not args.quiet:
            err.print(esc(message), soft_wrap=True)

    with bar:
        result = run_experiment(
            args.spec, overrides=args.set, runs_root=args.runs, say=note, on_epoch=on_epoch
        )
    if getattr(args, "json", False):
        print(json.dumps(json_document(result), default=_plain))
        return 0
    print_report(out, result)
    return 0


def _plain(v: Any) -> Any:
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def json_document(result: ExperimentResult) -> dict[str, Any]:
    """`dlc experiment --json`: the lanes, the settings (mean ± std), the best, the retrained
    model and the report folder."""
    from dlc.runtime.experiment.report import lane_rows

    return {
        "monitor": result.monitor,
        "lanes": lane_rows(result),
        "settings": result.summary,
        "best": None if result.best is None else result.best.label,
        "retrain": result.retrain,
        "programs": result.programs,
        "report": None if result.path is None else str(result.path),
    }


def print_report(con: Console, result: ExperimentResult) -> None:
    """The lanes table (up to `SHOWN_LANES` lanes), the settings table and the best setting of
    an `ExperimentResult`."""
    from rich.table import Table

    from dlc.runtime.experiment.report import lane_rows

    names = list(dict.fromkeys([result.monitor, "valid_loss"]))  # the rest: in the CSV files
    keys = list(result.settings[0].values) if result.settings else []
    short = [k.rsplit(".", 1)[-1] for k in keys]
    heads = short if len(set(short)) == len(short) else keys
    metrics = [m.removeprefix("valid_") for m in names]
    if len(result.records) <= SHOWN_LANES:
        table = Table(title="lanes (validation metrics)")
        for col in ["#", *heads, "seed", "fold", "epochs", "best", *metrics]:
            table.add_column(col, justify="right")
        for row in lane_rows(result):
            flag = (
                " (diverged)" if row["diverged"] else " (stopped)" if row["stopped_early"] else ""
            )
            table.add_row(
                str(row["lane"]),
                *[fmt(row[k]) for k in keys],
                str(row["seed"]),
                str(row["fold"]),
                f"{row['epochs']}{flag}",
                str(row["best_epoch"]),
                *[fmt(row[m]) for m in names],
            )
        con.print(table)
    else:
        con.print(f"{len(result.records)} lanes: see lanes.csv")
    table = Table(title=f"settings: validation mean ± std over {_over(result)}")
    for col in ["", *heads, "lanes", *metrics]:
        table.add_column(col, justify="right")
    for row in result.summary:
        cells = [f"{row[f'{m}_mean']:.4g}±{row[f'{m}_std']:.2g}" for m in names]
        table.add_row(
            "★" if row["best"] else "",
            *[fmt(row[k]) for k in keys],
            str(row["lanes"]) + (f" ({row['diverged']} diverged)" if row["diverged"] else ""),
            *cells,
            style="bold" if row["best"] else None,
        )
    con.print(table)
    _print_outcome(con, result)


def _print_outcome(con: Console, result: ExperimentResult) -> None:
    if result.best is not None:
        con.print(f"best by {result.monitor}: {result.best.label}")
    if result.retrain:
        metrics = ", ".join(
            f"{k} {fmt(v)}" for k, v in result.retrain.items() if k.startswith("test_")
        )
        con.print(
            f"retrained on train + valid for {result.retrain['epochs']} epochs: "
            f"{metrics or 'no test part'}"
        )
        if "run" in result.retrain:  # a normal run folder: predict, evaluate, export, serve
            con.print(f"retrained model: {result.retrain['run']}")
    for p in result.programs:
        con.print(
            f"program {p['program']} chunk {p['chunk']}: {p['lanes']} lanes in "
            f"{p['seconds']:.2f} s (about {p['mb_estimate']:.1f} MB)"
        )
    if result.path is not None:
        con.print(f"report: {result.path}")


def _over(result: ExperimentResult) -> str:
    folds = {r.fold for r in result.records} - {None}
    seeds = {r.seed for r in result.records}
    parts = ([f"{len(folds)} folds"] if folds else []) + (
        [f"{len(seeds)} seeds"] if len(seeds) > 1 else []
    )
    return " × ".join(parts) or "1 lane"
