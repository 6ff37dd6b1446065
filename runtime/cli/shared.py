"""What the commands share: the console, number formatting, the progress bar of `run` and
`experiment`, and the options they have in common.

Example:
    >>> fmt(0.123456), fmt(True), fmt(3)
    ('0.1235', 'yes', '3')
"""

from __future__ import annotations

import argparse
from typing import Any

RUNS_ROOT = "runs"


def console(stderr: bool = False) -> Any:
    """A rich Console without syntax highlighting (numbers stay plain)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def fmt(v: Any) -> str:
    """A table cell: floats to 4 significant digits, True as `yes`, False as blank."""
    if isinstance(v, bool):
        return "yes" if v else ""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def progress(con: Any, quiet: bool, head: str, *columns: Any, **kwargs: Any) -> Any:
    """A rich Progress: `head` (markup), done/total and a bar, then `columns`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn(head),
        MofNCompleteColumn(),
        BarColumn(),
        *columns,
        console=con,
        disable=quiet,
        **kwargs,
    )


def add_runs_options(p: argparse.ArgumentParser) -> None:
    """`--runs DIR` and `--quiet`, for the commands that train."""
    p.add_argument(
        "--runs", default=RUNS_ROOT, help=f"folder for run folders (default: {RUNS_ROOT})"
    )
    p.add_argument("--quiet", action="store_true", help="no live progress display")
