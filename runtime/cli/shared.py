"""What the commands share: the console, number formatting, and the progress display and
options of the commands that train (`run`, `experiment`).

Example:
    >>> fmt(0.123456), fmt(True), fmt(3)
    ('0.1235', 'yes', '3')
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

RUNS_ROOT = "runs"
PROGRESS_EVERY = 2.0
"""Seconds between plain progress lines when the output is not a terminal (the first and the
last epoch always print); the environment variable DLC_PROGRESS_EVERY overrides it (0: every
epoch)."""


def add_run_inputs(p: argparse.ArgumentParser) -> None:
    """`--plugin` and `--spec` of the commands that take a run folder instead of a spec
    (`export`, `serve`).

    Example: `add_run_inputs(parser)`.
    """
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE.py",
        help="load the layers, losses or metrics the run's spec uses from a Python file first",
    )
    p.add_argument(
        "--spec",
        dest="spec_file",
        help="the spec file, when the run's own spec.dl cannot find the data",
    )


def esc(text: object) -> str:
    """`text` with rich markup escaped: a path such as `a[/b]` prints as written."""
    from rich.markup import escape

    return escape(str(text))


def int_range(lo: int, hi: int | None = None) -> Any:
    """An argparse `type`: an integer from `lo` to `hi` (None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"`{text}` is not an integer") from None
        if v < lo or (hi is not None and v > hi):
            top = f"to {hi:,}" if hi is not None else "or more"
            raise argparse.ArgumentTypeError(f"{v} is out of range: give {lo} {top}")
        return v

    return parse


def positive_float(text: str) -> float:
    """An argparse `type`: a finite number above zero."""
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}` is not a number") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a finite number above 0")
    return v


def check_output_file(path: str, flag: str) -> None:
    """A DlcError unless `path` can be a new or replaced file: its folder exists (nothing is
    created) and it is not itself a folder."""
    from pathlib import Path

    from dlc.compiler.errors import DlcError

    p = Path(path)
    try:
        is_dir, parent_ok = p.is_dir(), p.parent.is_dir()
    except OSError as exc:  # e.g. a name too long for the file system
        raise DlcError.single(
            f"{flag}: cannot use this path ({exc.strerror or type(exc).__name__})",
            where="dlc",
            hint="name a shorter path",
        ) from None
    if is_dir:
        raise DlcError.single(f"{flag} {path} is a folder", where="dlc", hint="name a file")
    if p.exists() and not p.is_file():  # a device or a pipe: never replaced by a file
        raise DlcError.single(
            f"{flag} {path} is not a regular file (a device or a pipe?)",
            where="dlc",
            hint="name a new or regular file",
        )
    if not parent_ok:
        raise DlcError.single(
            f"{flag} {path}: the folder {p.parent} does not exist",
            where="dlc",
            hint="create the folder first, or name a file in an existing one",
        )


def console(stderr: bool = False) -> Console:
    """A rich Console without syntax highlighting (numbers stay plain); with `NO_COLOR` set
    (https://no-color.org) or when not writing to a terminal, no ANSI escape at all."""
    from rich.console import Console

    plain = bool(os.environ.get("NO_COLOR"))
    return Console(stderr=stderr, highlight=False, color_system=None if plain else "auto")


def interactive() -> bool:
    """True when both stdout and stderr are terminals: only then a live progress bar."""
    return all(_isatty(f) for f in (sys.stdout, sys.stderr))


def _isatty(f: Any) -> bool:
    try:
        return bool(f.isatty())
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def progress_lines(err: Console, quiet: bool) -> Callable[[str, bool], bool]:
    """`say(text, last)`: one plain line on stderr (no markup), at most every
    `PROGRESS_EVERY` seconds but always the first and the `last`; nothing with `quiet` or when
    a live bar shows the progress instead. It returns whether it printed."""
    if quiet or interactive():
        return lambda text, last: False
    try:
        every = float(os.environ.get("DLC_PROGRESS_EVERY", PROGRESS_EVERY))
    except ValueError:
        every = PROGRESS_EVERY
    shown = [-float("inf")]

    def say(text: str, last: bool) -> bool:
        now = time.monotonic()
        if last or now - shown[0] >= every:
            shown[0] = now
            err.print(text, markup=False, soft_wrap=True)
            return True
        return False

    return say


def warner(err: Console, quiet: bool) -> Callable[[str], None]:
    """`warn(message)`: `warning: message` on stderr (nothing with `quiet`)."""

    def warn(message: str) -> None:
        if not quiet:
            err.print(f"[yellow]warning:[/] {esc(message)}", soft_wrap=True)

    return warn


def fmt(v: Any) -> str:
    """A table cell: floats to 4 significant digits, True as `yes`, False as blank."""
    if isinstance(v, bool):
        return "yes" if v else ""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def training_display(
    quiet: bool, head: str, *columns: Any, **kwargs: Any
) -> tuple[Console, Console, Progress]:
    """For the commands that train: JAX's compilation cache on, then the consoles for the
    result (stdout) and for progress and warnings (stderr), and a rich Progress on stderr of
    `head` (markup), done/total, a bar, the task's `info` field and `columns` — shown only when
    both outputs are terminals and not `quiet` (else see `progress_lines`)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from dlc.runtime.train.jaxsetup import enable_compilation_cache

    enable_compilation_cache()
    out, err = console(), console(stderr=True)
    bar = Progress(
        TextColumn(head),
        MofNCompleteColumn(),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        *columns,
        console=err,
        disable=quiet or not interactive(),
        redirect_stdout=False,
        **kwargs,
    )
    return out, err, bar


def add_runs_options(p: argparse.ArgumentParser) -> None:
    """`--runs DIR` and `--quiet`, for the commands that train."""
    p.add_argument(
        "--runs", default=RUNS_ROOT, help=f"folder for run folders (default: {RUNS_ROOT})"
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="print only errors and the final result (no progress, no warnings)",
    )
    p.add_argument(
        "--track",
        choices=["mlflow"],
        default=None,
        help="also log to MLflow: the spec as params, per-epoch metrics, results and plots "
        "(the `dlc[track]` extra; default store: mlruns/ in the current folder)",
    )
    p.add_argument(
        "--track-uri",
        default=None,
        metavar="URI",
        help="the MLflow tracking URI for --track (default: $MLFLOW_TRACKING_URI, else "
        "sqlite:///mlruns/mlflow.db)",
    )


def device_count(text: str) -> int | str:
    """`--devices`: a positive number or `all`."""
    if text == "all" or (text.isdigit() and int(text) > 0):
        return text if text == "all" else int(text)
    raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of devices or `all`")


def add_devices_option(p: argparse.ArgumentParser, what: str) -> None:
    """`--devices N|all` (`what` it does); default None: the spec's `train.devices`."""
    p.add_argument(
        "--devices",
        type=device_count,
        default=None,
        metavar="N|all",
        help=f"{what}; default: the spec's train.devices",
    )
