"""The last-resort handler: an unexpected exception becomes a short "internal error" message
and its traceback goes to a file, never to the screen.

Example:
    >>> try:
    ...     raise ZeroDivisionError("x")
    ... except ZeroDivisionError as exc:
    ...     path = save_traceback(exc)
    >>> path.name.startswith("crash-")
    True
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dlc.compiler.files import cache_root

EXIT_INTERNAL = 70  # EX_SOFTWARE


def _crash_folders() -> list[Path]:
    import tempfile

    return [cache_root() / "crashes", Path(tempfile.gettempdir()) / "dlc-crashes"]


def save_traceback(exc: BaseException, argv: list[str] | None = None) -> Path | None:
    """Write `exc`'s traceback (and the command line) to a new file; its path, or None when
    no folder is writable."""
    import secrets  # imported here: only a crash needs them (start-up time of every command)
    import time
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    head = f"dlc {' '.join(argv if argv is not None else sys.argv[1:])}\n\n"
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}.txt"
    for folder in _crash_folders():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            with open(path, "x", encoding="utf-8") as f:
                f.write(head + text)
            return path
        except OSError:
            continue
    return None


def report_internal_error(exc: BaseException, argv: list[str] | None = None) -> int:
    """Print the short message for an unexpected `exc` to stderr; the exit code."""
    path = save_traceback(exc, argv)
    kind = type(exc).__name__
    where = f"the traceback is in {path}" if path else "the traceback could not be saved"
    if isinstance(exc, MemoryError):
        print(f"dlc: error: out of memory ({where})", file=sys.stderr)
        print("  hint: use a smaller model, batch or data set", file=sys.stderr)
        return EXIT_INTERNAL
    print(f"dlc: internal error ({kind}), please report it; {where}", file=sys.stderr)
    return EXIT_INTERNAL
