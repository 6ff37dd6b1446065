"""`dlc experiment FILE.dl`: the folds × seeds × grid of the spec's `experiment` section as lanes
of one program, with a progress bar per program, then the lanes, the settings (mean ± std) and
the best setting.

`--sweep KEY=V1,V2,...` adds a grid axis from the command line (each value validated like
`--set KEY=V`), combined with the spec's own grid.

Example:
    $ dlc experiment specs/cv_sigmoids.dl --runs runs
    $ dlc experiment specs/cv_sigmoids.dl --sweep train.batch=16,32
    $ dlc experiment specs/cv_sigmoids.dl --track mlflow   # parent run + one child per lane
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlc.runtime.cli.shared import add_devices_option, add_runs_options, fmt, training_display

if TYPE_CHECKING:
    from rich.console import Console

    from dlc.runtime.experiment.results import ExperimentResult

HELP = (
    "train the folds x seeds x grid (or search) of the spec's `experiment` "
    "section as lanes of one program, and report"
)
TAKES_SPEC = True
SHOWN_LANES = 60  # larger experiments print only the summary (every lane is in lanes.csv)
SHOWN_TRIALS = 20  # a search prints its best trials (every trial is in trials.csv)


def arguments(p: argparse.ArgumentParser) -> None:
    add_runs_options(p)
    add_devices_option(p, "spread the lanes (and the retrained model's batches) over N devices")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout: every lane, the settings, the best, the report",
    )
    p.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="add a grid axis without editing the spec, e.g. --sweep optimizer.lr=1e-3,3e-3 "
        "(each value validated like --set; combined with the spec's own grid)",
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

    sweeps = getattr(args, "sweep", None) or []
    track = getattr(args, "track", None) == "mlflow"
    if track:  # a missing extra or a bad URI is an error before training
        from dlc.runtime.runs.tracking import Tracker

        Tracker(args.track_uri)
    with bar:
        if not sweeps:
            result = run_experiment(
                args.spec,
                overrides=args.set,
                runs_root=args.runs,
                say=note,
                on_epoch=on_epoch,
                devices=getattr(args, "devices", None),
            )
        else:
            text = swept_text(args.spec, sweeps, args.set)
            result = _run_text(args, text, note, on_epoch)
    if track:
        from dlc.runtime.experiment.curves import track_experiment

        track_experiment(result, args.track_uri)
    if getattr(args, "json", False):
        print(json.dumps(json_document(result), default=_plain))
        return 0
    print_report(out, result)
    return 0


def _top_level_split(text: str) -> list[str]:
    """`1e-3,"a,b",[1, 2]` -> ["1e-3", '"a,b"', "[1, 2]"]: commas inside quotes or brackets stay."""
    parts, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    return [*parts, cur.strip()]


def sweep_axes(spec: str, sweeps: list[str], overrides: list[str]) -> list[tuple[str, list[str]]]:
    """`--sweep KEY=V1,V2` options -> [(KEY, [V1, V2])], every value checked like `--set KEY=V`
    on the spec (with the other overrides); raises DlcError."""
    from dataclasses import replace

    from dlc.compiler.errors import DlcError
    from dlc.compiler.frontend import load_spec

    base = load_spec(spec, overrides=overrides)
    taken = {g.key for g in (base.spec.experiment.grid if base.spec.experiment else ())}
    axes: list[tuple[str, list[str]]] = []
    for item in sweeps:
        key, eq, rest = item.partition("=")
        key, values = key.strip(), _top_level_split(rest)
        where = f"--sweep {item}"
        if not eq or not key or not all(values):
            raise DlcError.single(
                f"`--sweep {item}` is not KEY=V1,V2,...",
                where=where,
                hint="e.g. --sweep optimizer.lr=1e-3,3e-3,1e-2",
            )
        bad = (
            "`train.seed` is not a grid axis"
            if key == "train.seed"
            else "an experiment cannot vary itself"
            if key.split(".")[0] == "experiment"
            else f"`{key}` has a grid already"
            if key in taken
            else None
        )
        if bad:
            hint = (
                "list seeds with `experiment { seeds [0, 1, 2] }`"
                if key == "train.seed"
                else "sweep another setting, or drop the spec's grid line for it"
                if key in taken
                else None
            )
            raise DlcError.single(bad, where=where, hint=hint)
        for v in values:  # the same validation as `--set KEY=V`
            try:
                load_spec(spec, overrides=[*overrides, f"{key}={v}"], check_grid_paths=False)
            except DlcError as err:
                said = f"this value comes from `--sweep {item}` (as `--set {key}={v}`)"
                mine = f"--set[{len(overrides)}]"  # the swept value's own text: name the option
                diags = []
                for d in err.diagnostics:
                    if d.hint and d.hint.startswith("this value comes from"):
                        d = replace(d, hint=said)
                    if d.span is not None and d.span.file == mine:
                        d = replace(d, span=None, where=f"--sweep {item}")
                    diags.append(d)
                raise DlcError(diags, err.sources) from None
        taken.add(key)
        axes.append((key, values))
    return axes


def swept_text(spec: str, sweeps: list[str], overrides: list[str]) -> str:
    """The spec's text with one `grid` statement per `--sweep` put into its `experiment`
    section (made when it has none), on existing lines so that line numbers stay."""
    from dlc.compiler.errors import DlcError
    from dlc.compiler.frontend import load_spec

    axes = sweep_axes(spec, sweeps, overrides)
    base = load_spec(spec)
    grids = "; ".join(f'grid "{k}" [{", ".join(vs)}]' for k, vs in axes)
    span = base.spans.get("experiment")
    text = base.text
    if span is None:
        return (
            text + ("" if text.endswith("\n") or not text else "\n") + f"experiment {{ {grids} }}\n"
        )
    if span.file != base.file:
        raise DlcError.single(
            f"--sweep needs the `experiment` section in {base.file}, not in {span.file}",
            where="--sweep",
            hint="add `grid` lines to the section where it is written",
        )
    start = sum(len(line) + 1 for line in text.split("\n")[: span.line - 1]) + span.column - 1
    brace = text.index("{", start)
    return text[: brace + 1] + f" {grids};" + text[brace + 1 :]


def _run_text(args: argparse.Namespace, text: str, note: Any, on_epoch: Any) -> ExperimentResult:
    """Run the swept spec from a file of the same name in a temporary folder (the run's name
    stays; data paths resolve beside the real spec); errors name the real spec."""
    import tempfile
    from dataclasses import replace

    from dlc.compiler.errors import DlcError
    from dlc.runtime.experiment.runner import run_experiment

    real = str(args.spec)
    with tempfile.TemporaryDirectory(prefix="dlc-sweep-") as folder:
        path = Path(folder) / Path(real).name
        path.write_text(text, encoding="utf-8")
        try:
            return run_experiment(
                path,
                overrides=args.set,
                runs_root=args.runs,
                say=note,
                on_epoch=on_epoch,
                base_dir=Path(real).parent,
                devices=getattr(args, "devices", None),
            )
        except DlcError as err:
            fake = str(path)

            def moved(span: Any) -> Any:
                return replace(span, file=real) if span is not None and span.file == fake else span

            diags = [
                replace(d, span=moved(d.span), notes=tuple((m, moved(s)) for m, s in d.notes))
                for d in err.diagnostics
            ]
            sources = {(real if k == fake else k): v for k, v in err.sources.items()}
            raise DlcError(diags, sources) from None


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
        "programs_run": result.program_count,
        "programs": result.programs,
        "trials": result.trials or None,  # a search: state, value, settings, intermediate values
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
    if result.trials:
        _print_trials(con, result)
        _print_outcome(con, result)
        return
    # the monitored value on each lane's training rows and on the test part (never selects)
    base = result.monitor.removeprefix("valid_")
    first = result.summary[0] if result.summary else {}
    others = [f"{p}_{base}" for p in ("train", "test") if f"{p}_{base}_mean" in first]
    table = Table(title=f"settings: mean ± std over {_over(result)}")
    for col in ["", *heads, "lanes", *metrics, *(o.replace("_", " ", 1) for o in others)]:
        table.add_column(col, justify="right")
    for row in result.summary:
        cells = [f"{row[f'{m}_mean']:.4g}±{row[f'{m}_std']:.2g}" for m in [*names, *others]]
        table.add_row(
            "★" if row["best"] else "",
            *[fmt(row[k]) for k in keys],
            str(row["lanes"]) + (f" ({row['diverged']} diverged)" if row["diverged"] else ""),
            *cells,
            style="bold" if row["best"] else None,
        )
    con.print(table)
    _print_outcome(con, result)


def _print_trials(con: Console, result: ExperimentResult) -> None:
    """A search's trials, best first (the first `SHOWN_TRIALS`; all in trials.csv)."""
    from rich.table import Table

    from dlc.runtime.experiment.search_report import trial_rows

    rows = trial_rows(result)
    keys = list(result.trials[0]["params"]) if result.trials else []
    short = [k.rsplit(".", 1)[-1] for k in keys]
    heads = short if len(set(short)) == len(short) else keys
    shown = f", the best {SHOWN_TRIALS} of {len(rows)}" if len(rows) > SHOWN_TRIALS else ""
    table = Table(title=f"trials ranked by {result.monitor} (mean over {_over(result)}{shown})")
    for col in ["rank", "trial", *heads, "epochs", result.monitor, ""]:  # round: trials.csv
        table.add_column(col, justify="right")
    for row in rows[:SHOWN_TRIALS]:
        best = result.best is not None and row["trial"] == result.best.index
        table.add_row(
            str(row["rank"]),
            str(row["trial"]),
            *[fmt(row[k]) for k in keys],
            str(row["epochs"]),
            fmt(row[result.monitor]),
            "★" if best else "" if row["state"] == "complete" else row["state"],
            style="bold" if best else None,
        )
    con.print(table)


def _print_outcome(con: Console, result: ExperimentResult) -> None:
    n = result.program_count
    lanes = len(result.records)
    con.print(
        f"{n} program{'s' if n != 1 else ''} ran ({lanes} lanes; settings that change shapes "
        "compile separately, the lanes of each program train vmapped)"
    )
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
