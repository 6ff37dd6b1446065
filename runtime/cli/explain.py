"""`dlc explain FILE.dl`: the resolved spec with every default filled in, as .dl text.

Example:
    $ dlc explain specs/linear.dl --set train.epochs=5
"""

from __future__ import annotations

import argparse
import sys

HELP = "print the resolved spec with every default filled in"
TAKES_SPEC = True


def arguments(p: argparse.ArgumentParser) -> None:
    """No options beyond the spec and `--set`."""


def main(args: argparse.Namespace) -> int:
    from dlc.compiler.explain import to_dl
    from dlc.compiler.frontend import load_spec

    sys.stdout.write(to_dl(load_spec(args.spec, overrides=args.set).spec))
    return 0
