"""`dlc analyze FILE.dl [--run RUN_DIR] [--at trained|init|origin]`: classify a critical point
(gradient, Hessian) and draw the error surface; prints the table and names the files written.

Example:
    $ dlc analyze specs/saddle.dl --at origin --surface coords 0 1
"""

from __future__ import annotations

import argparse
import os

from dlc.compiler.errors import DlcError
from dlc.runtime.analysis.options import POINTS, AnalyzeOptions, SurfaceOptions
from dlc.runtime.cli.shared import add_devices_option, console, esc, int_range, positive_float

HELP = "classify a critical point (gradient, Hessian) and plot the surface"
TAKES_SPEC = True
_DEFAULT = AnalyzeOptions()
MAX_GRID = 501  # --n: a surface of n x n losses


def arguments(p: argparse.ArgumentParser) -> None:
    d, s = _DEFAULT, _DEFAULT.surface
    p.add_argument("--run", help="the run folder (default: no trained parameters)")
    p.add_argument(
        "--at",
        choices=POINTS,
        default=None,
        help="where: the run's parameters (default with --run), the initial ones "
        "(default without), or all zeros",
    )
    p.add_argument(
        "--surface",
        nargs="+",
        metavar="KIND",
        default=None,
        help="`random` (filter-normalized directions, default) or `coords I J`",
    )
    p.add_argument(
        "--span",
        type=positive_float,
        default=s.span,
        help=f"surface half-width (default {s.span:g})",
    )
    p.add_argument(
        "--n",
        type=int_range(2, MAX_GRID),
        default=s.n,
        help=f"surface grid points per axis, 2 to {MAX_GRID} (default {s.n})",
    )
    p.add_argument(
        "--exact-limit",
        type=int_range(0),
        default=d.exact_limit,
        help=f"largest parameter count for the full Hessian; Lanczos above ({d.exact_limit})",
    )
    p.add_argument(
        "--tol",
        type=positive_float,
        default=d.tol,
        help=f"gradient norm below which the point is critical (default {d.tol:g})",
    )
    p.add_argument("--out", help="output folder (default: RUN/analysis)")
    add_devices_option(p, "split the loss evaluations' rows over N devices (or all)")


def surface_options(words: list[str] | None, span: float, n: int) -> SurfaceOptions:
    """`--surface random` or `--surface coords I J` as SurfaceOptions; a DlcError otherwise.

    Example: `surface_options(["coords", "0", "1"], 1.0, 31).coords == (0, 1)`.
    """
    surf = words or ["random"]
    if (
        surf[0] not in ("random", "coords")
        or (surf[0] == "coords") != (len(surf) == 3)
        or (surf[0] == "random" and len(surf) != 1)
    ):
        raise DlcError.single(
            f"bad --surface {' '.join(surf)}",
            where="dlc",
            hint="--surface random, or --surface coords I J",
        )
    try:
        coords = (int(surf[1]), int(surf[2])) if surf[0] == "coords" else (0, 1)
    except ValueError:
        raise DlcError.single(
            f"bad --surface {' '.join(surf)}: I and J are integers",
            where="dlc",
            hint="e.g. --surface coords 0 1",
        ) from None
    return SurfaceOptions(surf[0], coords, span, n)


def main(args: argparse.Namespace) -> int:
    from rich.table import Table

    from dlc.runtime.analysis.analyze import analyze_spec
    from dlc.runtime.analysis.report import rows, verdict_words

    if args.out and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise DlcError.single(
            f"--out {args.out} is a file, not a folder", where="dlc", hint="name a folder"
        )
    if args.out:
        try:
            os.makedirs(args.out, exist_ok=True)
        except OSError as exc:
            raise DlcError.single(
                f"--out: cannot create the folder ({exc.strerror or type(exc).__name__})",
                where="dlc",
                hint="name another folder",
            ) from None
    options = AnalyzeOptions(
        at=args.at,
        surface=surface_options(args.surface, args.span, args.n),
        exact_limit=args.exact_limit,
        tol=args.tol,
        out_dir=args.out,
        devices=args.devices,
    )
    result = analyze_spec(args.spec, args.run, overrides=args.set, options=options)
    con = console()
    table = Table(title=f"{esc(args.spec)}: critical point")
    table.add_column("quantity")
    table.add_column("value")
    for k, v in rows(result):
        table.add_row(k, v)
    con.print(table)
    con.print(verdict_words(result["hessian"]))
    if result["note"]:
        con.print(f"note: {esc(result['note'])}")
    plots = ", ".join(result["plots"].values())
    con.print(esc(f"wrote {plots}, report.json, report.md to {result['out']}"))
    return 0
