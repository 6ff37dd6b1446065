"""`dlc plot RUN_DIR`: redraw a run folder's PNG plots from its metrics.jsonl.

Example:
    $ dlc plot runs/linear-20261122-193000
"""

from __future__ import annotations

import argparse

HELP = "redraw the PNG plots of a run folder"
TAKES_SPEC = False


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run folder")


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dlc.compiler.errors import DlcError
    from dlc.runtime.runs.plots import plot_run

    if not Path(args.run).is_dir():
        raise DlcError.single(
            f"{args.run} is not a run folder",
            where="dlc",
            hint="pass the folder that `dlc run` printed, e.g. runs/NAME-STAMP",
        )
    for p in plot_run(args.run):
        print(p)
    return 0
