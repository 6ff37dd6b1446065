"""`dlc lsp`: the language server for editors, speaking LSP over stdin/stdout
(diagnostics, completion, hover, formatting; see grammar/editors/README.md). Needs the optional
`lsp` extra: `pip install 'dlc[lsp]'`.

Example:
    $ dlc lsp
"""

from __future__ import annotations

import argparse
import importlib.util

HELP = "run the .dl language server on stdio (for editors; needs pip install 'dlc[lsp]')"
TAKES_SPEC = False


def arguments(p: argparse.ArgumentParser) -> None:
    # editors' LSP clients often pass --stdio; stdio is the only transport
    p.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")


def main(args: argparse.Namespace) -> int:
    from dlc.compiler.errors import DlcError

    if importlib.util.find_spec("pygls") is None:
        raise DlcError.single(
            "the language server needs pygls, which is not installed",
            where="dlc lsp",
            hint="pip install 'dlc[lsp]' (or: pip install 'pygls>=2.1,<3')",
        )
    from dlc.runtime.lsp.server import serve

    serve()
    return 0
