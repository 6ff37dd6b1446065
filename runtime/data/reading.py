"""Reading data files as untrusted input: only regular files, at most a bounded number of
bytes, text decoded as UTF-8 with the line of a bad byte named.

The bound is `DLC_MAX_DATA_BYTES` (default 4 GiB); gzip-compressed files are bounded after
decompression too.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> _ = open(path, "w").write("one\\ntwo\\n")
    >>> read_text_file(path).split("\\n")[:2]
    ['one', 'two']
"""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from pathlib import Path

from dlc.compiler.errors import DlcError

DEFAULT_MAX_BYTES = 4 << 30


def max_data_bytes() -> int:
    """The largest data file dlc reads: $DLC_MAX_DATA_BYTES, else 4 GiB."""
    text = os.environ.get("DLC_MAX_DATA_BYTES", "")
    try:
        return int(text) if text else DEFAULT_MAX_BYTES
    except ValueError:
        raise DlcError.single(
            f"DLC_MAX_DATA_BYTES={text!r} is not a whole number of bytes",
            where="DLC_MAX_DATA_BYTES",
            hint="e.g. DLC_MAX_DATA_BYTES=10000000000",
        ) from None


def _too_big(path: Path, size: int, limit: int) -> DlcError:
    return DlcError.single(
        f"the data file is {size:,} bytes, more than the limit of {limit:,}",
        where=str(path),
        hint="set DLC_MAX_DATA_BYTES to a larger number of bytes to allow it",
    )


def check_confined(path: str | os.PathLike[str]) -> Path:
    """`path`, unless `$DLC_DATA_ROOT` (`dlc --data-root DIR`) is set and `path`, with its
    links resolved, lies outside that folder and outside dlc's cache folder: then a DlcError.

    Example: with DLC_DATA_ROOT=/data, `check_confined("/etc/passwd")` raises.
    """
    root = os.environ.get("DLC_DATA_ROOT")
    p = Path(path)
    if not root:
        return p
    from dlc.compiler.files import cache_root

    real = p.resolve()
    allowed = [Path(root).resolve(), cache_root().resolve()]
    if not any(real == a or a in real.parents for a in allowed):
        raise DlcError.single(
            f"data path {p} is outside the data root {root}",
            where=str(p),
            hint="with --data-root (DLC_DATA_ROOT) specs may read only files inside that folder",
        )
    return p


def check_regular(path: str | os.PathLike[str]) -> Path:
    """`path` if it is an existing regular file (not a folder, pipe or device) inside the data
    root (see `check_confined`); else a DlcError naming what it is."""
    p = check_confined(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise DlcError.single(
            "no such file",
            where=str(p),
            hint="paths are relative to the spec's folder",
        ) from None
    except OSError as exc:
        raise DlcError.single(
            f"cannot read the file: {exc.strerror or type(exc).__name__}", where=str(p)
        ) from None
    if stat.S_ISDIR(mode):
        raise DlcError.single(
            "cannot read the file: it is a folder", where=str(p), hint="name the file inside it"
        )
    if not stat.S_ISREG(mode):
        raise DlcError.single(
            "cannot read the file: it is not a regular file (a pipe or a device?)",
            where=str(p),
            hint="copy the data into a file",
        )
    return p


def read_data_bytes(path: str | os.PathLike[str], *, gunzip: bool = False) -> bytes:
    """A regular file's bytes, at most `max_data_bytes()` (after decompression with
    `gunzip` when the file starts with gzip's magic bytes)."""
    p = check_regular(path)
    limit = max_data_bytes()
    try:
        size = p.stat().st_size
        if size > limit:
            raise _too_big(p, size, limit)
        with open(p, "rb") as f:
            raw = f.read(limit + 1)
        if len(raw) > limit:
            raise _too_big(p, len(raw), limit)
        if gunzip and raw[:2] == b"\x1f\x8b":
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out = d.decompress(raw, limit + 1)
            if len(out) > limit:
                raise _too_big(p, len(out), limit)
            if not d.eof:
                raise EOFError("the gzip stream is truncated")
            raw = out
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise DlcError.single(f"cannot read the file: {reason}", where=str(p)) from None
    return raw


def read_text_file(path: str | os.PathLike[str], *, what: str = "text") -> str:
    """A regular file's text as UTF-8 (a leading BOM dropped; `\\r\\n` becomes `\\n`); a bad
    byte is a DlcError naming its line."""
    raw = read_data_bytes(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DlcError.single(
            f"the {what} file is not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded",
            where=f"{path}:{line}",
            hint="save the file as UTF-8",
        ) from None
    return text.replace("\r\n", "\n")


def check_allocation(nbytes: int, what: str, hint: str) -> None:
    """A DlcError when a data set of `nbytes` would pass `max_data_bytes()`, before any
    allocation.

    Example: `check_allocation(10**12, "the fizzbuzz data", "use a smaller range")` raises.
    """
    limit = max_data_bytes()
    if nbytes > limit:
        raise DlcError.single(
            f"{what} would take {nbytes:,} bytes, more than the limit of {limit:,}",
            where="data",
            hint=f"{hint}, or set DLC_MAX_DATA_BYTES to allow it",
        )
