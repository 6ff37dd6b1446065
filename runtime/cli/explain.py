"""`dlc explain FILE.dl`: the resolved spec with every default filled in, as .dl text
(highlighted with the .dl Pygments lexer when stdout is a terminal and NO_COLOR is unset).

Example:
    $ dlc explain specs/linear.dl --set train.epochs=5
"""

from __future__ import annotations

import argparse
import os
import sys

HELP = "print the resolved spec with every default filled in"
TAKES_SPEC = True


def arguments(p: argparse.ArgumentParser) -> None:
    """No options beyond the spec and `--set`."""


def main(args: argparse.Namespace) -> int:
    from dlc.compiler.explain import to_dl
    from dlc.compiler.frontend import load_spec

    text = to_dl(load_spec(args.spec, overrides=args.set).spec)
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):  # plain text into pipes and files
        from dlc.grammar.pygments_lexer import highlight_terminal

        text = highlight_terminal(text)
    sys.stdout.write(text)
    return 0
