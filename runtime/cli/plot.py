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
    from dlc.runtime.runs.plots import plot_run

    for p in plot_run(args.run):
        print(p)
    return 0
