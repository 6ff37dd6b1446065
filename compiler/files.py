"""Files dlc keeps: the one cache folder, the one atomic write and reading a file that must be
there; shared by the compiler (Lark's grammar cache) and the runtime (datasets, JAX's
compilation cache, run folders, checkpoints).

Example:
    >>> cache_root() / "jax"          # $DLC_CACHE/jax, else ~/.cache/dlc/jax  # doctest: +ELLIPSIS
    PosixPath('.../jax')
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TEMP_INFIX = ".tmp-"
"""Temp files are `.{name}.tmp-{pid}-{hex}` beside their target (a sweep can tell dead ones)."""


def cache_root() -> Path:
    """The dlc cache folder: $DLC_CACHE, else $XDG_CACHE_HOME/dlc, else ~/.cache/dlc."""
    if os.environ.get("DLC_CACHE"):
        return Path(os.environ["DLC_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "dlc"
    return Path.home() / ".cache" / "dlc"


@contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file that becomes `path` only when the block ends without an error: readers
    see the old file or the new one, never half of one (temp file, fsync, `os.replace`, fsync
    of the folder). On an error the temp file is removed and `path` is untouched.

    Example:
        >>> with atomic_writer("/tmp/dlc-doc.bin") as f:
        ...     _ = f.write(b"data")
    """
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}{TEMP_INFIX}{os.getpid()}-{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def read_required(path: str | os.PathLike[str], hint: str) -> bytes:
    """The bytes of `path`; a DlcError "PATH is missing" with `hint` when there is no such file.

    Example: `read_required("runs/a/params.safetensors", hint="was the run finished?")`.
    """
    from dlc.compiler.errors import DlcError

    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DlcError.single(f"{path} is missing", where=str(path), hint=hint) from None


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` with `atomic_writer`.

    Example: `atomic_write_bytes("run/metrics.json", b"{}")`.
    """
    with atomic_writer(path) as f:
        f.write(data)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
