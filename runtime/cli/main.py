"""The `dlc` command line. `check`, `explain` and `schedule --print` never import JAX.

dlc check FILE.dl            validate and print the layer table
dlc run FILE.dl              train into a run folder (--resume [RUN] continues a killed run)
dlc experiment FILE.dl       folds x seeds x grid of the `experiment` section, vmapped
dlc explain FILE.dl          the resolved spec with every default, as .dl text
dlc schedule FILE.dl         the learning rate per step (and --plot PNG)
dlc plot RUN_DIR             redraw a run's PNG plots
dlc predict FILE.dl --run RUN_DIR --input X.csv --output pred.csv
dlc analyze FILE.dl [--run RUN_DIR] [--at trained|init|origin]   critical point + surfaces
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from dlc.compiler.errors import DlcError, suggest


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        hint = None
        if "invalid choice" in message and "'" in message:
            word = message.split("'")[1]
            hint = suggest(word, COMMANDS)
        raise DlcError.single(
            f"bad command line: {message}", where="dlc", hint=hint or "see `dlc --help`"
        )


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _shape(s: tuple[int, ...]) -> str:
    return str(tuple(s))


def cmd_check(args: argparse.Namespace) -> int:
    from rich.table import Table

    from dlc.compiler.frontend import load_spec
    from dlc.compiler.layers.embedding import bind_vocab
    from dlc.compiler.shapes import infer, inner_rows
    from dlc.runtime.data.prepare import prepare

    resolved = load_spec(args.spec, overrides=args.set)
    data = prepare(resolved)
    resolved = bind_vocab(resolved, data.vocab_size)
    infos = infer(resolved, data.input_shape, data.target_shape, data.num_classes)
    table = Table(title=f"{resolved.file}: model")
    for col, just in (
        ("#", "right"),
        ("layer", "left"),
        ("output shape", "left"),
        ("params", "right"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    table.add_row("", "input", _shape(data.input_shape), "")
    for i in infos:
        table.add_row(str(i.index), i.name, _shape(i.out_shape), f"{i.params:,}")
        for key, sub in inner_rows(resolved.spec.model.layers[i.index], i.in_shape, f"{i.index}."):
            indent = "  " * key.count(".")  # the layers inside a `residual { ... }`
            table.add_row(key, indent + sub.name, _shape(sub.out_shape), f"{sub.params:,}")
    total = sum(i.params for i in infos)
    table.add_section()
    table.add_row("", "total", "", f"{total:,}")
    con = _console()
    con.print(table)
    sizes = ", ".join(f"{k} {v}" for k, v in data.summary().items())
    con.print(
        f"data: {sizes} rows; loss {resolved.spec.loss.dl_name}; "
        f"optimizer {resolved.spec.optimizer.dl_name}; ok"
    )
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from dlc.compiler.explain import to_dl
    from dlc.compiler.frontend import load_spec

    sys.stdout.write(to_dl(load_spec(args.spec, overrides=args.set).spec))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from dlc.runtime.cli.run import train_with_progress
    from dlc.runtime.train.jaxsetup import enable_compilation_cache

    enable_compilation_cache()

    return train_with_progress(args)


def cmd_schedule(args: argparse.Namespace) -> int:
    from dlc.runtime.cli.run import show_schedule

    return show_schedule(args)


def cmd_plot(args: argparse.Namespace) -> int:
    from dlc.runtime.runs.plots import plot_run

    for p in plot_run(args.run):
        print(p)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from dlc.runtime.predict.table import predict_csv

    n = predict_csv(args.spec, args.run, args.input, args.output, overrides=args.set)
    print(f"wrote {n} predictions to {args.output}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from dlc.runtime.analysis.analyze import analyze_command

    return analyze_command(args)


COMMANDS = {
    "check": cmd_check,
    "run": cmd_run,
    "explain": cmd_explain,
    "schedule": cmd_schedule,
    "plot": cmd_plot,
    "predict": cmd_predict,
    "analyze": cmd_analyze,
}


def cmd_experiment(args: argparse.Namespace) -> int:
    from dlc.runtime.experiment.report import run_cli
    from dlc.runtime.train.jaxsetup import enable_compilation_cache

    enable_compilation_cache()
    return run_cli(args)


COMMANDS["experiment"] = cmd_experiment


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dlc", description="Train deep-learning models described in .dl files.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def spec_cmd(name: str, help_: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_)
        c.add_argument("spec", help="the .dl file")
        c.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a setting, e.g. --set train.epochs=5",
        )
        return c

    spec_cmd("check", "validate a spec and print its layer table (no training)")
    spec_cmd("explain", "print the resolved spec with every default filled in")
    r = spec_cmd("run", "train a spec")
    r.add_argument("--runs", default="runs", help="folder for run folders (default: runs)")
    r.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="RUN_DIR",
        help="continue the latest (or the named) run of this spec from its checkpoint",
    )
    r.add_argument("--quiet", action="store_true", help="no live progress display")
    x = spec_cmd(
        "experiment",
        "train the folds x seeds x grid of the spec's `experiment` "
        "section as lanes of one program, and report",
    )
    x.add_argument("--runs", default="runs", help="folder for run folders (default: runs)")
    x.add_argument("--quiet", action="store_true", help="no live progress display")
    s = spec_cmd("schedule", "print (and plot) the learning rate per step")
    s.add_argument("--plot", metavar="PNG", help="also draw it to this PNG file")
    s.add_argument(
        "--steps-per-epoch",
        type=int,
        default=None,
        help="steps per epoch (default: from the spec's data)",
    )
    pl = sub.add_parser("plot", help="redraw the PNG plots of a run folder")
    pl.add_argument("run", help="the run folder")
    pr = spec_cmd("predict", "predict with a trained run")
    pr.add_argument("--run", required=True, help="the run folder")
    pr.add_argument("--input", required=True, help="a CSV with the feature columns")
    pr.add_argument("--output", required=True, help="where to write the predictions CSV")
    an = spec_cmd("analyze", "classify a critical point (gradient, Hessian) and plot the surface")
    an.add_argument("--run", help="the run folder (default: no trained parameters)")
    an.add_argument(
        "--at",
        choices=("trained", "init", "origin"),
        default=None,
        help="where: the run's parameters (default with --run), the initial ones "
        "(default without), or all zeros",
    )
    an.add_argument(
        "--surface",
        nargs="+",
        metavar="KIND",
        default=None,
        help="`random` (filter-normalized directions, default) or `coords I J`",
    )
    an.add_argument("--span", type=float, default=1.0, help="surface half-width (default 1)")
    an.add_argument("--n", type=int, default=31, help="surface grid points per axis (default 31)")
    an.add_argument(
        "--exact-limit",
        type=int,
        default=2000,
        help="largest parameter count for the full Hessian; Lanczos above (2000)",
    )
    an.add_argument(
        "--tol",
        type=float,
        default=1e-3,
        help="gradient norm below which the point is critical (default 1e-3)",
    )
    an.add_argument("--out", help="output folder (default: RUN/analysis)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except DlcError as err:
        print(err.render(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "dlc: interrupted; `dlc run --resume` continues from the last checkpoint",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
