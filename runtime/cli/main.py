"""The `dlc` command line: the parser and the one command table. Each command is a module of
this folder with `HELP`, `TAKES_SPEC` (a .dl file and `--set` come first), `arguments(parser)`
and `main(args) -> exit code`. `check`, `explain` and `schedule --steps-per-epoch` never import
JAX.

dlc check FILE.dl            validate and print the layer table
dlc run FILE.dl              train into a run folder (--resume [RUN] continues a killed run)
dlc experiment FILE.dl       folds x seeds x grid of the `experiment` section, vmapped
dlc explain FILE.dl          the resolved spec with every default, as .dl text
dlc schedule FILE.dl         the learning rate per step (and --plot PNG)
dlc plot RUN_DIR             redraw a run's PNG plots
dlc predict FILE.dl --run RUN_DIR --input X.csv --output pred.csv [--proba] [--name COL]
dlc evaluate FILE.dl --run RUN_DIR --input LABELLED [--json]
dlc export RUN_DIR --format stablehlo|onnx [--output DIR]
dlc serve RUN_DIR [--port 8000]   GET /health, POST /predict on a loopback address
dlc analyze FILE.dl [--run RUN_DIR] [--at trained|init|origin]   critical point + surfaces

Example:
    >>> main(["explain", "specs/linear.dl"])     # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import errno
import gc
import os
import sys
from collections.abc import Sequence
from typing import Any

from dlc.compiler.errors import DlcError, suggest
from dlc.runtime.cli import (
    analyze,
    check,
    evaluate,
    experiment,
    explain,
    export,
    fmt,
    lsp,
    plot,
    predict,
    run,
    schedule,
    serve,
)
from dlc.runtime.cli.crash import report_internal_error

COMMANDS = {
    "check": check,
    "explain": explain,
    "run": run,
    "experiment": experiment,
    "schedule": schedule,
    "plot": plot,
    "predict": predict,
    "evaluate": evaluate,
    "export": export,
    "serve": serve,
    "analyze": analyze,
    "fmt": fmt,
    "lsp": lsp,
}
"""name -> the command's module, in `dlc --help` order."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        hint = None
        if "invalid choice" in message and "'" in message:
            word = message.split("'")[1]
            hint = suggest(word, COMMANDS)
        raise DlcError.single(
            f"bad command line: {message}", where="dlc", hint=hint or "see `dlc --help`"
        )


EXIT_OK, EXIT_TRAINING_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 70, 130
"""The exit codes (README, "Exit codes"): 0 ok, 1 training failed (the loss became NaN or
infinite), 2 bad input (any located dlc error, an OS error naming its path), 70 internal error,
130 interrupted."""

_OS_HINTS = {
    errno.EACCES: "check the path's permissions, or name a folder you can write to",
    errno.EPERM: "check the path's permissions, or name a folder you can write to",
    errno.EROFS: "the file system is read-only: name a writable folder (e.g. `--runs DIR`)",
    errno.ENOSPC: "the disk is full: free some space or name a folder on another disk",
    errno.ENOENT: "check that the path exists",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "name a file, not a folder",
    errno.ENAMETOOLONG: "name a shorter path",
}


def os_error(exc: OSError) -> DlcError:
    """A DlcError for an operating-system error, naming the path(s) and the reason."""
    reason = exc.strerror or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    where = paths[0] if paths else "dlc"
    message = f"{reason}" + (f" ({' -> '.join(paths)})" if len(paths) > 1 else "")
    return DlcError.single(
        f"cannot {_verb(exc)}: {message}",
        where=where,
        hint=_OS_HINTS.get(exc.errno or 0, "check the path and its permissions"),
    )


def _verb(exc: OSError) -> str:
    if exc.errno in (errno.EROFS, errno.ENOSPC):
        return "write"
    return "use this path"


def _training_failed(err: DlcError) -> bool:
    """True for a run stopped by the NaN guard (the error was raised from `Diverged`)."""
    cause = err.__cause__ or err.__context__
    return type(cause).__name__ == "Diverged"


def example(command: object) -> str | None:
    """The `$ dlc ...` lines of a command module's docstring ("Example:"), as a help epilog."""
    doc = getattr(command, "__doc__", None) or ""
    if "Example:" not in doc:
        return None
    lines = doc.split("Example:", 1)[1].strip("\n").splitlines()
    shown = [ln.strip() for ln in lines if ln.strip()]
    if not shown or not shown[0].startswith("$ "):
        return None
    return "example:\n" + "\n".join("  " + ln for ln in shown)


def _complete(parser: argparse.ArgumentParser) -> None:
    """Answer a shell's completion request with argcomplete (`pip install argcomplete`; it
    exits the process), or do nothing when it is not installed."""
    try:
        import argcomplete  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def _version() -> str:
    """dlc's version: the installed distribution's, else the package's own."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dlc")
    except PackageNotFoundError:
        from dlc import __version__

        return __version__


class _VersionAction(argparse.Action):
    """`--version`: looks the version up only when asked (importlib.metadata costs ~25 ms of
    every start-up otherwise)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show dlc's version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        print(f"dlc {_version()}")  # on stdout, as argparse's own "version" action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dlc", description="Train deep-learning models described in .dl files.")
    p.add_argument("--version", action=_VersionAction)
    p.add_argument(
        "--data-root",
        metavar="DIR",
        help="read data files only inside DIR (and dlc's cache): for specs you did not write",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, command in COMMANDS.items():
        c = sub.add_parser(
            name,
            help=command.HELP,
            description=command.HELP[0].upper() + command.HELP[1:] + ".",
            epilog=example(command),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if command.TAKES_SPEC:
            c.add_argument("spec", help="the .dl file")
            c.add_argument(
                "--set",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help="override a setting, e.g. --set train.epochs=5",
            )
            c.add_argument(
                "--plugin",
                action="append",
                default=[],
                metavar="FILE.py",
                help="load your own layers, losses or metrics from a Python file first",
            )
        command.arguments(c)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    # Pydantic reads every installed package's metadata for its plugins when it builds the
    # first validator (~11 ms of each start-up); dlc's spec models use none. The user's value
    # wins (`PYDANTIC_DISABLE_PLUGINS=` with no value turns plugins back on).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    code = _main(argv)
    if code and _joined_others():
        # one of several processes (`dlc run --coordinator ...`) that failed: end now rather
        # than wait in JAX's shutdown barrier for the others, which wait for this one
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _joined_others() -> bool:
    """True after `jax.distributed.initialize` (never imports JAX itself)."""
    if "jax" not in sys.modules:
        return False
    import jax

    return bool(jax.distributed.is_initialized())


def _short(command: Any, args: argparse.Namespace, process: bool) -> int:
    """Run a short command (one with `SHORT = True`: it reads and prints, and writes no file)
    with CPython's cyclic garbage collector off: it would walk the objects that the imports
    create over and over. When this is the process's own command line (`process`), the objects
    are then frozen, so the interpreter's teardown frees them without walking them again.
    Together ~20 ms of a `dlc check` (bench/check_startup.py)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return int(command.main(args))
    finally:
        if process:
            gc.freeze()
        if enabled:
            gc.enable()


def _main(argv: Sequence[str] | None) -> int:
    try:
        parser = build_parser()
        if "_ARGCOMPLETE" in os.environ:  # shell completion (README): only when asked
            _complete(parser)
        args = parser.parse_args(argv)
        if args.data_root is not None:
            if not os.path.isdir(args.data_root):
                raise DlcError.single(
                    f"--data-root {args.data_root} is not a folder", where="dlc", hint="name one"
                )
            os.environ["DLC_DATA_ROOT"] = args.data_root
        if getattr(args, "plugin", None):  # run only when named on the command line
            from dlc.compiler.plugins import load_plugin

            for path in args.plugin:
                load_plugin(path)
        command = COMMANDS[args.command]
        if getattr(command, "SHORT", False):
            return _short(command, args, process=argv is None)
        return command.main(args)
    except DlcError as err:
        print(err.render(), file=sys.stderr)
        return 1 if _training_failed(err) else 2
    except KeyboardInterrupt:
        print(
            "dlc: interrupted; `dlc run --resume` continues from the last checkpoint",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # permission denied, a read-only folder, a full disk: name the path
        print(os_error(exc).render(), file=sys.stderr)
        return 2
    except SystemExit:
        raise
    except Exception as exc:  # the last resort: never a traceback on the screen
        return report_internal_error(exc, list(argv) if argv is not None else None)


if __name__ == "__main__":
    sys.exit(main())
