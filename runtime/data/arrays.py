"""The `npz` source's loader: arrays from a NumPy `.npz` file read as untrusted input
(a regular file of bounded size, `allow_pickle=False`), shapes and values checked with
errors that name the file and the array.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npz")
    >>> np.savez(path, x=np.ones((4, 3)), y=np.array([0, 1, 1, 0]))
    >>> from dlc.compiler.sources import Npz
    >>> raw = load_npz(Npz(path=path, classes=True), ".")
    >>> raw.parts["all"][0].shape, raw.num_classes
    ((4, 3), 2)
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.sources import Npz
from dlc.runtime.data.raw import RawData
from dlc.runtime.data.reading import check_confined, read_data_bytes


def _fail(where: str, message: str, hint: str | None = None) -> DlcError:
    return DlcError.single(message, where=where, hint=hint)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of a `.npz` file (object arrays refused)."""
    raw = read_data_bytes(path)
    if raw[:2] != b"PK":  # an .npz file is a zip archive of .npy files
        what = "a single .npy array" if raw[:6] == b"\x93NUMPY" else "not a zip archive"
        raise _fail(
            str(path),
            f"not a readable .npz file ({what})",
            "save the arrays with np.savez(path, x=..., y=...)",
        )
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise _fail(
                str(path),
                "the file holds object arrays, which need pickle (refused: it can run code)",
                "save numeric arrays, e.g. np.savez(path, x=x.astype(np.float32), y=y)",
            ) from None
        raise _fail(str(path), f"not a readable .npz file: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _fail(str(path), f"not a readable .npz file: {exc or type(exc).__name__}") from None


def _array(arrays: dict[str, np.ndarray], key: str, what: str, where: str) -> np.ndarray:
    if key not in arrays:
        raise _fail(
            where,
            f"no array `{key}` for {what} in the file",
            f"its arrays: {', '.join(sorted(arrays)) or 'none'}; write {what}=NAME",
        )
    a = arrays[key]
    if a.dtype.kind not in "biuf":
        raise _fail(where, f"array `{key}` has dtype {a.dtype}, not numbers", "save numbers")
    if a.ndim == 0:
        raise _fail(where, f"array `{key}` is a single number, not one row per example")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = int(np.argwhere(~np.isfinite(a))[0][0])
        raise _fail(
            where,
            f"array `{key}` holds non-finite values (NaN or infinity), first in row {bad}",
            "fill or drop those rows before saving",
        )
    return a


def load_npz(source: Npz, base_dir: str | Path) -> RawData:
    p = Path(source.path)
    path = check_confined(p if p.is_absolute() else Path(base_dir) / p)
    where = str(path)
    arrays = read_npz(path)
    x = _array(arrays, source.x, "x", where)
    y = _array(arrays, source.y, "y", where)
    if len(x) != len(y):
        raise _fail(
            where,
            f"`{source.x}` has {len(x)} rows but `{source.y}` has {len(y)}",
            "x and y need one row per example each",
        )
    if source.classes is False:
        yf = y.astype(np.float32)
        return RawData({"all": (x.astype(np.float32), yf[:, None] if yf.ndim == 1 else yf)})
    if y.ndim != 1:
        raise _fail(where, f"class labels `{source.y}` have shape {y.shape}, expected (rows,)")
    if y.dtype.kind == "f" and not (y == np.round(y)).all():
        raise _fail(
            where,
            f"class labels `{source.y}` are not whole numbers",
            "drop classes= for regression targets",
        )
    labels = y.astype(np.int64)
    top = int(labels.max(initial=0)) + 1
    k = top if source.classes is True else int(source.classes)
    bad = np.flatnonzero((labels < 0) | (labels >= k))
    if bad.size:
        raise _fail(
            where,
            f"class label {labels[bad[0]]} in row {bad[0]} of `{source.y}` is outside 0..{k - 1}",
            f"labels are 0..K-1 for classes={k}",
        )
    return RawData({"all": (x.astype(np.float32), labels.astype(np.int32))}, k)
