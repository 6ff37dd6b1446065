"""What `dlc run` and `dlc schedule` show in the terminal: a live progress bar (epoch, step,
train/valid loss, rate, ETA) and the final metrics table.

Example:
    $ dlc run specs/linear.dl
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def final_table(final: dict[str, float], title: str) -> Table:
    parts = [p for p in ("train", "valid", "test") if any(k.startswith(p + "_") for k in final)]
    metrics = sorted({k.split("_", 1)[1] for k in final}, key=lambda m: (m != "loss", m))
    table = Table(title=title)
    table.add_column("metric")
    for p in parts:
        table.add_column(p, justify="right")
    for m in metrics:
        table.add_row(m, *[_fmt(final.get(f"{p}_{m}", "")) for p in parts])
    return table


def train_with_progress(args: argparse.Namespace) -> int:
    from dlc.runtime.runs.session import run_spec
    from dlc.runtime.runs.tblog import TensorBoardLogger

    con = Console(highlight=False)
    progress = Progress(
        TextColumn("[bold]epoch"),
        MofNCompleteColumn(),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=con,
        disable=args.quiet,
        transient=False,
    )
    state: dict[str, Any] = {}

    def on_start(run: Any, model: Any, start_epoch: int) -> None:
        con.print(f"run folder: {run.path}")
        if start_epoch:
            con.print(f"resuming after epoch {start_epoch}")
        state["tb"] = TensorBoardLogger(run.path / "tensorboard")
        state["steps"] = model.functions(len(model.data.parts["train"][0])).steps_per_epoch
        state["batch"] = model.spec.train.batch
        state["task"] = progress.add_task(
            "train", total=model.spec.train.epochs, completed=start_epoch, info="", rate=""
        )
        progress.start()

    def on_epoch(record: dict[str, Any]) -> None:
        state["tb"].log(record, record["epoch"])
        info = f"step {record['step']}  train {record['train_loss']:.4g}"
        if "valid_loss" in record:
            info += f"  valid {record['valid_loss']:.4g}"
        rate = state["steps"] * state["batch"] / max(record["time"], 1e-9)
        progress.update(
            state["task"], completed=record["epoch"], info=info, rate=f"{rate:,.0f} samples/s"
        )

    try:
        outcome = run_spec(
            args.spec,
            overrides=args.set,
            runs_root=args.runs,
            resume=args.resume,
            on_epoch=on_epoch,
            on_start=on_start,
            warn=lambda m: con.print(f"[yellow]warning:[/] {m}"),
        )
    finally:
        progress.stop()
        if "tb" in state:
            state["tb"].close()
    from dlc.runtime.runs.plots import plot_run

    plots = plot_run(outcome.run.path)
    if outcome.stopped_early:
        con.print(f"early stop: best epoch {outcome.best_epoch} (parameters restored)")
    con.print(final_table(outcome.final, f"{outcome.model.resolved.name}: final metrics"))
    from dlc.runtime.analysis.confusion import part_confusion, rich_table, write_csv

    for part in ("test", "valid"):
        counts = part_confusion(outcome.model, part)
        if counts is not None:
            write_csv(counts, outcome.run.path / f"confusion_{part}.csv")
            if len(counts) <= 20:
                con.print(rich_table(counts, f"{part}: per-class counts (rows: true class)"))
            break
    con.print(f"plots: {', '.join(p.name for p in plots)}")
    con.print(f"run folder: {outcome.run.path}")
    return 0


def show_schedule(args: argparse.Namespace) -> int:
    from dlc.compiler.frontend import load_spec
    from dlc.compiler.schedules import plateau_of, schedule_values

    resolved = load_spec(args.spec, overrides=args.set)
    spec = resolved.spec
    steps_per_epoch = args.steps_per_epoch
    if steps_per_epoch is None:
        from dlc.runtime.data.prepare import prepare

        n = len(prepare(resolved).parts["train"][0])
        steps_per_epoch = -(-n // min(spec.train.batch, n))
    total = steps_per_epoch * spec.train.epochs
    lrs = schedule_values(spec.schedule, total, spec.optimizer.lr)
    con = Console(highlight=False)
    table = Table(title=f"learning rate ({total} steps, {steps_per_epoch} per epoch)")
    table.add_column("step", justify="right")
    table.add_column("epoch", justify="right")
    table.add_column("lr", justify="right")
    marks = sorted({0, *range(0, total, max(1, total // 10)), total - 1})
    for t in marks:
        table.add_row(str(t), f"{t / steps_per_epoch:.2f}", f"{float(lrs[t]):.6g}")
    con.print(table)
    plateau = plateau_of(spec.schedule)
    if plateau is not None:
        con.print(
            f"plus `plateau`: the lr is multiplied by {plateau.factor} whenever the training "
            f"loss has not improved (by {plateau.rtol:g} relative) for {plateau.patience} "
            "epochs; those cuts depend on training, so they are not shown (a run logs its lr)"
        )
    if args.plot:
        import numpy as np

        from dlc.runtime.runs.plots import plot_schedule

        plot_schedule(
            np.arange(total), np.asarray(lrs), args.plot, f"{resolved.name}: learning rate"
        )
        con.print(f"plot: {args.plot}")
    return 0
