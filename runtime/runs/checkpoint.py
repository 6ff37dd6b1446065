"""Crash-safe checkpoints: JAX pytrees in safetensors files, written atomically, no pickle.

A run keeps `RUN/checkpoints/ckpt-{step:09d}.safetensors`; each file holds the tensors (keyed
by `jax.tree_util.keystr` paths) and, in the safetensors str->str header metadata, the epoch,
step, spec hash, dlc version, a SHA-256 of the tensor bytes and a JSON `extra` dict (e.g. the
early-stopping state), so data and metadata land in one atomic `os.replace`.

Example:
    >>> ckpt = save_checkpoint(run, state=state, epoch=3, step=300,
    ...                        spec_hash=spec_hash(text), extra={"best": 0.1})  # doctest: +SKIP
    >>> load_latest(run, like=state, spec_hash=spec_hash(text)).epoch          # doctest: +SKIP
    3
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.files import TEMP_INFIX, atomic_write_bytes
from dlc.runtime.runs.pytree import from_arrays, to_arrays

FORMAT = "dlc-pytree/1"
CKPT_DIR = "checkpoints"
_CKPT_RE = re.compile(r"^ckpt-(\d{9,})\.safetensors$")
_TMP_RE = re.compile(rf"^\..+{re.escape(TEMP_INFIX)}(\d+)-[0-9a-f]+$")
_REQUIRED = ("format", "sha256", "epoch", "step", "spec_hash", "extra", "dlc_version")


class _Corrupt(Exception):
    """A file that cannot be trusted: unreadable, truncated, or failing its checksum."""


@dataclass
class LoadedCheckpoint:
    """The newest verified checkpoint, plus the newer ones skipped as corrupt and why."""

    state: Any
    epoch: int
    step: int
    extra: dict[str, Any]
    path: Path
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def spec_hash(text: str) -> str:
    """SHA-256 hex of a spec's canonical text. Example: `spec_hash("a")[:8] == "ca978112"`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = arrays[key]
        h.update(f"{key}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _encode(tree: Any, metadata: dict[str, str]) -> bytes:
    from safetensors.numpy import save

    arrays, views = to_arrays(tree)
    meta = {**metadata, "format": FORMAT, "sha256": _digest(arrays), "views": json.dumps(views)}
    return save(arrays, metadata=meta)


def _decode(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Parse and verify a file's bytes; raise `_Corrupt` with a reason if it can't be trusted."""
    from safetensors.numpy import load

    try:
        arrays = load(data)
        n = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + n]).get("__metadata__") or {}
    except Exception as e:  # the format's own checks: truncation, bad header, bad offsets
        raise _Corrupt(f"unreadable safetensors data ({type(e).__name__}: {e})") from None
    if meta.get("format") != FORMAT:
        raise _Corrupt(f"not a dlc pytree file (format {meta.get('format')!r})")
    if _digest(arrays) != meta.get("sha256"):
        raise _Corrupt("SHA-256 of the tensor bytes does not match the recorded one")
    return arrays, meta


def save_pytree(path: str | os.PathLike[str], tree: Any) -> None:
    """Atomically store a pytree of arrays and scalars.

    Example: `save_pytree("params.safetensors", params)`.
    """
    atomic_write_bytes(path, _encode(tree, {}))


def load_pytree(path: str | os.PathLike[str], like: Any) -> Any:
    """Load a file from `save_pytree` into the structure of `like`, checking keys, shapes, dtypes.

    Example: `params = load_pytree("p.safetensors", like=init_params)`.
    """
    try:
        data = Path(path).read_bytes()
        arrays, meta = _decode(data)
    except (OSError, _Corrupt) as e:
        raise DlcError.single(f"cannot load `{path}`: {e}", where=str(path)) from None
    return from_arrays(arrays, json.loads(meta.get("views", "{}")), like, str(path))


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Checkpoint files of a run, newest (highest step) first.

    Example: `list_checkpoints("runs/a")[0].name == "ckpt-000000300.safetensors"`.
    """
    folder = Path(run_dir) / CKPT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CKPT_RE.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def _sweep_stale_temps(folder: Path) -> None:
    """Remove temp files left by writers that were killed mid-write (their pid is gone)."""
    for p in folder.iterdir():
        m = _TMP_RE.match(p.name)
        if m is None or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            p.unlink(missing_ok=True)
        except OSError:
            pass


def save_checkpoint(
    run_dir: str | os.PathLike[str],
    *,
    state: Any,
    epoch: int,
    step: int,
    spec_hash: str,
    extra: dict[str, Any],
    keep: int = 3,
) -> Path:
    """Durably write `RUN/checkpoints/ckpt-{step:09d}.safetensors`, then prune to the newest `keep`.

    Example: `save_checkpoint("runs/a", state=s, epoch=1, step=100, spec_hash=h, extra={})`.
    """
    from dlc import __version__

    path = Path(run_dir) / CKPT_DIR / f"ckpt-{step:09d}.safetensors"
    meta = {
        "epoch": str(int(epoch)),
        "step": str(int(step)),
        "spec_hash": spec_hash,
        "extra": json.dumps(extra, sort_keys=True),
        "dlc_version": __version__,
    }
    atomic_write_bytes(path, _encode(state, meta))
    for old in list_checkpoints(run_dir)[max(keep, 1) :]:
        old.unlink(missing_ok=True)
    _sweep_stale_temps(path.parent)
    return path


def _read_checkpoint(path: Path, like: Any, want_hash: str) -> LoadedCheckpoint:
    try:
        arrays, meta = _decode(path.read_bytes())
    except OSError as e:
        raise _Corrupt(f"cannot read file ({e.strerror or e})") from None
    absent = [k for k in _REQUIRED if k not in meta]
    if absent:
        raise _Corrupt(f"checkpoint metadata lacks {', '.join(absent)}")
    try:
        epoch, step, extra = int(meta["epoch"]), int(meta["step"]), json.loads(meta["extra"])
        views = json.loads(meta.get("views", "{}"))
    except ValueError as e:
        raise _Corrupt(f"bad checkpoint metadata ({e})") from None
    m = _CKPT_RE.match(path.name)
    if m is not None and int(m.group(1)) != step:
        raise _Corrupt(f"file name says step {int(m.group(1))} but metadata says step {step}")
    if meta["spec_hash"] != want_hash:
        raise DlcError.single(
            "the spec changed since this run started: checkpoint was written for spec "
            f"{meta['spec_hash'][:12]}, the current spec is {want_hash[:12]}",
            hint="start a new run (a fresh run folder), or resume with the same spec "
            "the run was started with",
            where=str(path),
        )
    state = from_arrays(arrays, views, like, str(path))
    return LoadedCheckpoint(state, epoch, step, extra, path)


def load_latest(
    run_dir: str | os.PathLike[str], *, like: Any, spec_hash: str
) -> LoadedCheckpoint | None:
    """Load the newest checkpoint that verifies; corrupt newer ones are skipped and recorded.

    Returns None when the run has no checkpoints. Example:
        >>> ck = load_latest("runs/a", like=fresh_state, spec_hash=h)   # doctest: +SKIP
        >>> ck.step, ck.skipped                                          # doctest: +SKIP
        (300, [])
    """
    paths = list_checkpoints(run_dir)
    if not paths:
        return None
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        try:
            loaded = _read_checkpoint(path, like, spec_hash)
        except _Corrupt as e:
            skipped.append((path, str(e)))
            continue
        loaded.skipped = skipped
        return loaded
    reasons = "; ".join(f"{p.name}: {r}" for p, r in skipped)
    raise DlcError.single(
        f"every checkpoint of this run is corrupt ({reasons})",
        hint="delete the run's checkpoints folder to start over, or start a new run",
        where=str(Path(run_dir) / CKPT_DIR),
    )
