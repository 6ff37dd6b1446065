"""`dlc schedule FILE.dl`: the learning rate per step as a table (and `--plot PNG`); without
`--plot` and with `--steps-per-epoch` it imports no JAX.

Example:
    $ dlc schedule specs/sigmoids.dl --plot lr.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dlc.runtime.cli.shared import check_output_file, console, esc, int_range

HELP = "print (and plot) the learning rate per step"
TAKES_SPEC = True


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plot", metavar="PNG", help="also draw it to this PNG file")
    p.add_argument(
        "--steps-per-epoch",
        type=int_range(1),
        default=None,
        help="steps per epoch (default: from the spec's data)",
    )


def main(args: argparse.Namespace) -> int:
    from rich.table import Table

    from dlc.compiler.frontend import load_spec
    from dlc.compiler.schedules import plateau_of, schedule_values

    resolved = load_spec(Path(args.spec), overrides=args.set)
    if args.plot:
        check_output_file(args.plot, "--plot")
    spec = resolved.spec
    steps_per_epoch = args.steps_per_epoch
    if steps_per_epoch is None:
        from dlc.runtime.data.prepare import prepare
        from dlc.runtime.train.batches import steps_per_epoch as epoch_steps

        n = len(prepare(resolved).parts["train"][0])
        steps_per_epoch = epoch_steps(n, spec.train.batch)
    total = steps_per_epoch * spec.train.epochs
    lrs = schedule_values(spec.schedule, total, spec.optimizer.lr)
    con = console()
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
        con.print(f"plot: {esc(args.plot)}")
    return 0
