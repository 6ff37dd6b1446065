"""A maintainer's tool, not a `dlc` command: regenerate the registry tables in grammar/README.md
(`compiler/docs.py` builds them; `tests/test_docs.py` fails when they are stale).

Example:
    $ python -m dlc.runtime.cli.registry_docs --write grammar/README.md
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dlc.compiler.docs import splice


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dlc.runtime.cli.registry_docs")
    p.add_argument("--write", type=Path, required=True, help="the Markdown file to update")
    path = p.parse_args(argv).write
    path.write_text(splice(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
