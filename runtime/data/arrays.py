"""The `npz` and `npy` sources' loaders: arrays from a NumPy `.npz` file, or two `.npy` files,
read as untrusted input (regular files of bounded size, `allow_pickle=False`), ranks, shapes
and values checked with errors that name the file and the array.

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
from typing import TYPE_CHECKING, Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.runtime.data.raw import RawData
from dlc.runtime.data.reading import check_confined, check_regular, read_data_bytes
from dlc.runtime.data.stream import NpyFile

if TYPE_CHECKING:
    from dlc.compiler.sources import Npy, Npz


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


def read_npy(path: Path) -> np.ndarray:
    """The one array of a `.npy` file (object arrays refused)."""
    raw = read_data_bytes(path)
    if raw[:6] != b"\x93NUMPY":
        what = "an .npz archive" if raw[:2] == b"PK" else "no .npy header"
        raise _fail(
            str(path),
            f"not a readable .npy file ({what})",
            "save the array with np.save(path, array), or use the `npz` source",
        )
    try:
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise _fail(
                str(path),
                "the file holds an object array, which needs pickle (refused: it can run code)",
                "save numbers, e.g. np.save(path, x.astype(np.float32))",
            ) from None
        raise _fail(str(path), f"not a readable .npy file: {exc}") from None
    except (OSError, EOFError) as exc:
        raise _fail(str(path), f"not a readable .npy file: {exc or type(exc).__name__}") from None


def _array(arrays: dict[str, np.ndarray], key: str, what: str, where: str) -> np.ndarray:
    if key not in arrays:
        raise _fail(
            where,
            f"no array `{key}` for {what} in the file",
            f"its arrays: {', '.join(sorted(arrays)) or 'none'}; write {what}=NAME",
        )
    return _checked(arrays[key], key, what, where)


def _checked(a: np.ndarray, key: str, what: str, where: str) -> np.ndarray:
    """`a` if it holds finite numbers with a rank that fits `what` (x or y)."""
    if a.dtype.kind not in "biuf":
        raise _fail(where, f"array `{key}` has dtype {a.dtype}, not numbers", "save numbers")
    if a.ndim == 0:
        raise _fail(where, f"array `{key}` is a single number, not one row per example")
    if what == "x" and a.ndim == 1:
        raise _fail(
            where,
            f"array `{key}` has shape {a.shape}: one number per row, not rows of features",
            "x needs a rank of 2 or more, (rows, features...): save x.reshape(-1, 1) "
            "for one feature per row",
        )
    if what == "y" and a.ndim > 2:
        raise _fail(
            where,
            f"array `{key}` has shape {a.shape}: targets have rank 1 (rows,) or 2 (rows, outputs)",
            "save one target (or one row of targets) per example",
        )
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = int(np.argwhere(~np.isfinite(a))[0][0])
        raise _fail(
            where,
            f"array `{key}` holds non-finite values (NaN or infinity), first in row {bad}",
            "fill or drop those rows before saving",
        )
    return a


def _spec_path(path: str, base_dir: str | Path) -> Path:
    p = Path(path)
    return check_confined(p if p.is_absolute() else Path(base_dir) / p)


def load_npz(source: Npz, base_dir: str | Path) -> RawData:
    path = _spec_path(source.path, base_dir)
    where = str(path)
    arrays = read_npz(path)
    x = _array(arrays, source.x, "x", where)
    y = _array(arrays, source.y, "y", where)
    return _raw(x, y, source.classes, (source.x, where), (source.y, where))


def load_npy(source: Npy, base_dir: str | Path) -> RawData:
    px, py = _spec_path(source.x, base_dir), _spec_path(source.y, base_dir)
    x = _checked(read_npy(px), px.name, "x", str(px))
    y = _checked(read_npy(py), py.name, "y", str(py))
    return _raw(x, y, source.classes, (px.name, str(px)), (py.name, str(py)))


def load_npy_rows(source: Npy, base_dir: str | Path) -> RawData | None:
    """The `npy` source with `x` left on disk as a `stream.NpyFile` (rows read on demand:
    streamed, or only those one of several processes holds); None when `x` is no plain
    `.npy` file (then `load_npy` reads it whole, or says what is wrong). The checks are
    `load_npy`'s but the finiteness of `x`, which whoever reads the rows checks."""
    px, py = _spec_path(source.x, base_dir), _spec_path(source.y, base_dir)
    try:
        x = NpyFile(check_regular(px))
    except DlcError:
        return None
    y = _checked(read_npy(py), py.name, "y", str(py))
    _checked(np.zeros((0, *x.shape[1:]), x.dtype), px.name, "x", str(px))  # rank and dtype
    return _raw(x, y, source.classes, (px.name, str(px)), (py.name, str(py)))


def load_npy_streamed(
    source: Npy, base_dir: str | Path, budget: int, check: bool = True
) -> RawData | None:
    """`load_npy_rows` when the data takes more than `budget` bytes as float32 (with
    `check`, the finiteness of `x` checked in one pass over chunks; several processes check
    their own rows, `held.check_streamed_finite`); None when it fits (told by the files'
    headers) or when the files are no plain `.npy` files."""
    px, py = _spec_path(source.x, base_dir), _spec_path(source.y, base_dir)
    try:
        x, y = NpyFile(check_regular(px)), NpyFile(check_regular(py))
    except DlcError:
        return None
    need = x.size * 4 + len(y) * 4 * max(1, int(np.prod(y.shape[1:], dtype=np.int64)))
    if need <= budget:
        return None
    raw = load_npy_rows(source, base_dir)
    if raw is not None and check:
        raw.parts["all"][0].check_finite()
    return raw


def _float(x: np.ndarray | NpyFile) -> Any:
    return x if isinstance(x, NpyFile) else x.astype(np.float32)


def _raw(
    x: np.ndarray | NpyFile,
    y: np.ndarray,
    classes: bool | int,
    xname: tuple[str, str],
    yname: tuple[str, str],
) -> RawData:
    """RawData of checked arrays; (name, file) of each for errors."""
    (kx, _), (ky, where) = xname, yname
    if len(x) != len(y):
        raise _fail(
            where,
            f"`{kx}` has {len(x)} rows but `{ky}` has {len(y)}",
            "x and y need one row per example each",
        )
    if classes is False:
        yf = y.astype(np.float32)
        return RawData({"all": (_float(x), yf[:, None] if yf.ndim == 1 else yf)})
    if y.ndim != 1:
        raise _fail(where, f"class labels `{ky}` have shape {y.shape}, expected (rows,)")
    if y.dtype.kind == "f" and not (y == np.round(y)).all():
        raise _fail(
            where,
            f"class labels `{ky}` are not whole numbers",
            "drop classes= for regression targets",
        )
    labels = y.astype(np.int64)
    top = int(labels.max(initial=0)) + 1
    k = top if classes is True else int(classes)
    bad = np.flatnonzero((labels < 0) | (labels >= k))
    if bad.size:
        raise _fail(
            where,
            f"class label {labels[bad[0]]} in row {bad[0]} of `{ky}` is outside 0..{k - 1}",
            f"labels are 0..K-1 for classes={k}",
        )
    return RawData({"all": (_float(x), labels.astype(np.int32))}, k)
