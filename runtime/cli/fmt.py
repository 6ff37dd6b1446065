"""`dlc fmt FILE.dl ...`: print specs in their canonical layout, comments kept
(`compiler/format.py`); `--write` rewrites the files, `--check` lists those that would change and
exits 1 (for CI). Never imports JAX.

Example:
    $ dlc fmt --check specs/*.dl
"""

from __future__ import annotations

import argparse
import sys

HELP = "format .dl files canonically, keeping comments (--check for CI, --write in place)"
TAKES_SPEC = False


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE.dl", help="the .dl files")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--check",
        action="store_true",
        help="print the files that are not formatted and exit 1 if any; change nothing",
    )
    mode.add_argument("--write", action="store_true", help="rewrite the files in place")


def main(args: argparse.Namespace) -> int:
    from dlc.compiler.errors import DlcError
    from dlc.compiler.files import atomic_write_bytes
    from dlc.compiler.format import format_text
    from dlc.compiler.parser import read_spec_file

    changed: list[str] = []
    errors: list[DlcError] = []
    for name in args.files:
        try:
            text = read_spec_file(name)
            new = format_text(text, name)
        except DlcError as err:
            errors.append(err)  # the other files are still formatted
            continue
        if new != text:
            changed.append(name)
        if args.write:
            if new != text:
                atomic_write_bytes(name, new.encode("utf-8"))
        elif args.check:
            if new != text:
                print(f"would reformat {name}")
        else:
            sys.stdout.write(new)
    if errors:
        sources = {k: v for e in errors for k, v in e.sources.items()}
        raise DlcError([d for e in errors for d in e.diagnostics], sources)
    if args.write:
        for name in changed:
            print(f"reformatted {name}")
    if args.check:
        n = len(args.files) - len(changed)
        print(f"{len(changed)} file(s) would be reformatted, {n} already formatted")
        return 1 if changed else 0
    return 0
