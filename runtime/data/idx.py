"""IDX files (the MNIST format) and the MNIST / Fashion-MNIST loaders; numpy only.

Example:
    >>> data = fashion_mnist()                      # doctest: +SKIP
    >>> x, y = data["train"]; x.shape, x.dtype, y.dtype  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'), dtype('int32'))
"""

from __future__ import annotations

import hashlib
import math
import os
import zlib
from pathlib import Path

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.files import atomic_writer, cache_root  # one cache folder ($DLC_CACHE)
from dlc.runtime.data.reading import read_data_bytes

# IDX type byte -> big-endian numpy dtype ("THE IDX FILE FORMAT", yann.lecun.com/exdb/mnist).
IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_BASE_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
# SHA-256 of the published .gz files, in `sha256sum` format (the same bytes on every mirror;
# TensorFlow Datasets pins the same digests). Tests patch this table.
_MNIST_SHA256SUMS = """
440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609  train-images-idx3-ubyte.gz
3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c  train-labels-idx1-ubyte.gz
8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6  t10k-images-idx3-ubyte.gz
f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6  t10k-labels-idx1-ubyte.gz
"""
MNIST_SHA256: dict[str, str] = {
    name: digest
    for digest, name in (line.split() for line in _MNIST_SHA256SUMS.split("\n") if line)
}
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
FASHION_HINT = "install it with `apt-get install -y dataset-fashion-mnist` (Debian/Ubuntu), or set "
FASHION_HINT += "$DLC_FASHION_MNIST to a folder holding the four IDX files"


def _fail(path: str | os.PathLike[str], message: str, hint: str) -> DlcError:
    return DlcError.single(message, hint=hint, where=str(path))


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, plain or gzip-compressed, into an array in native byte order.

    Example:
        >>> read_idx("t10k-labels-idx1-ubyte.gz").shape   # doctest: +SKIP
        (10000,)
    """
    hint = "the file is truncated or is not an IDX file; download it again"
    try:
        # gzip magic; an IDX file always starts with two zero bytes
        raw = read_data_bytes(path, gunzip=True)
    except FileNotFoundError:
        raise _fail(path, "no such file", "check the path") from None
    except (OSError, EOFError, zlib.error) as e:
        raise _fail(path, f"cannot read the file: {e}", hint) from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise _fail(
            path,
            f"not an IDX file: magic bytes are {raw[:4].hex() or 'missing'}, "
            "expected 0000 followed by a type byte and a dimension count",
            hint,
        )
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        raise _fail(path, f"unknown IDX type byte 0x{code:02x} (known: {known})", hint)
    if ndim == 0:
        raise _fail(path, "the IDX header declares 0 dimensions", hint)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise _fail(
            path,
            f"the header declares {ndim} dimensions but the file has only "
            f"{len(raw)} bytes, fewer than the {header} bytes the header needs",
            hint,
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[code])
    expected = math.prod(shape) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        what = "pixel data" if dtype.itemsize == 1 and ndim == 3 else "data"
        raise _fail(
            path,
            f"expected {expected} bytes of {what} for shape {shape} "
            f"({dtype.newbyteorder('=').name}), found {found}",
            hint,
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


NUM_CLASSES = 10  # MNIST-format data: labels 0..9


def load_idx_folder(folder: str | os.PathLike[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Load the four standard MNIST-named IDX files (each optionally .gz) from a folder.

    Returns {"train": (x uint8 [N, H, W], y int32 [N]), "test": (...)}.

    Example:
        >>> x, y = load_idx_folder("/usr/share/datasets/fashion-mnist")["test"]  # doctest: +SKIP
        >>> x.shape, y[:3]  # doctest: +SKIP
        ((10000, 28, 28), array([9, 2, 1], dtype=int32))
    """
    folder = Path(folder)
    stems = [s for pair in SPLIT_FILES.values() for s in pair]
    found = {s: _find(folder, s) for s in stems}
    missing = [s for s, p in found.items() if p is None]
    if missing:
        looked = ", ".join(f"{s}[.gz]" for s in missing)
        raise _fail(
            folder,
            f"missing IDX files: looked for {looked}",
            f"put the four MNIST-format files ({', '.join(stems)}, each optionally "
            f".gz) in {folder}",
        )
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, (images_stem, labels_stem) in SPLIT_FILES.items():
        ipath, lpath = found[images_stem], found[labels_stem]
        assert ipath is not None and lpath is not None
        x, y = read_idx(ipath), read_idx(lpath)
        if x.ndim != 3 or x.dtype != np.uint8:
            raise _fail(
                ipath,
                f"expected uint8 images of shape [N, rows, cols], found "
                f"{x.dtype} of shape {x.shape}",
                "is this an images file?",
            )
        if y.ndim != 1:
            raise _fail(
                lpath,
                f"expected a 1-D label vector, found shape {y.shape}",
                "is this a labels file?",
            )
        if len(x) != len(y):
            raise _fail(
                lpath,
                f"{len(y)} labels but {ipath.name} holds {len(x)} images",
                "the images and labels files come from different releases or one is "
                "truncated; replace both",
            )
        bad = np.flatnonzero((y < 0) | (y >= NUM_CLASSES))
        if len(bad):
            raise _fail(
                lpath,
                f"label {int(y[bad[0]])} of item {int(bad[0])} is not one of the "
                f"{NUM_CLASSES} classes 0..{NUM_CLASSES - 1}",
                "IDX data holds 10 classes (MNIST format); check or replace the labels file",
            )
        out[split] = (x, y.astype(np.int32))
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, dest: Path, expected: str, hint: str) -> None:
    """Fetch url into dest atomically (`atomic_writer`) if its SHA-256 matches."""
    import http.client  # only for downloads: keeps `dlc check` start-up short
    import urllib.request

    try:
        with atomic_writer(dest) as out, urllib.request.urlopen(url, timeout=60) as src:
            digest = hashlib.sha256()
            for chunk in iter(lambda: src.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
            if digest.hexdigest() != expected:  # raising here leaves `dest` untouched
                raise _fail(
                    url,
                    f"checksum mismatch: SHA-256 {digest.hexdigest()}, expected {expected}",
                    hint,
                )
    except (OSError, ValueError, http.client.HTTPException) as e:
        raise _fail(url, f"download failed: {e}", hint) from None


def mnist(
    cache_dir: str | os.PathLike[str] | None = None, *, base_url: str | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The real MNIST: download the four .gz files once into `<cache>/mnist`, then load them.

    `cache_dir` is the cache root (default: `cache_root()`). Each file is verified against its
    published SHA-256 (`MNIST_SHA256`), both after download and every time it is read from the
    cache; a cached file that fails the check is downloaded again. Downloads are atomic.

    Example:
        >>> x, y = mnist()["train"]                     # doctest: +SKIP
        >>> x.shape, y.shape  # doctest: +SKIP
        ((60000, 28, 28), (60000,))
    """
    folder = (Path(cache_dir) if cache_dir is not None else cache_root()) / "mnist"
    base = base_url or MNIST_BASE_URL
    base = base if base.endswith("/") else base + "/"
    hint = (
        f"download {', '.join(MNIST_SHA256)} by hand (e.g. from {MNIST_BASE_URL}) and place "
        f"them in {folder}, or pass base_url= a reachable mirror"
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _fail(
            folder, f"cannot create the cache folder: {e}", "set $DLC_CACHE to a writable folder"
        ) from None
    for name, expected in MNIST_SHA256.items():
        dest = folder / name
        try:
            cached = dest.is_file() and _sha256(dest) == expected
        except OSError:
            cached = False
        if not cached:
            _download(base + name, dest, expected, hint)
    return load_idx_folder(folder)


def fashion_mnist(
    folder: str | os.PathLike[str] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fashion-MNIST from local IDX files (Debian: `apt-get install dataset-fashion-mnist`).

    Looks in `folder`, then $DLC_FASHION_MNIST, then /usr/share/datasets/fashion-mnist, and
    loads the first of these that holds any of the four files (a partial set is an error).

    Example:
        >>> x, y = fashion_mnist()["train"]             # doctest: +SKIP
        >>> x.shape, int(y.max())  # doctest: +SKIP
        ((60000, 28, 28), 9)
    """
    candidates = [folder, os.environ.get("DLC_FASHION_MNIST"), DEBIAN_FASHION_MNIST]
    looked = [Path(c) for c in candidates if c]
    stems = [s for pair in SPLIT_FILES.values() for s in pair]
    for place in looked:
        if any(_find(place, s) is not None for s in stems):
            return load_idx_folder(place)
    where = ", ".join(str(p) for p in looked)
    raise _fail(looked[-1], f"Fashion-MNIST not found: looked in {where}", FASHION_HINT)
