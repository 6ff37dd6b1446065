"""A run folder: the resolved spec, per-epoch metrics (JSON lines + TensorBoard), checkpoints,
final parameters, normalization statistics and plots; and resuming a killed run from it.

    runs/linear-20261122-193000/
      spec.dl  source.dl  spec.json  metrics.jsonl  params.safetensors  stats.safetensors
      model_state.safetensors (batchnorm statistics, when the model has any)
      checkpoints/ckpt-000000120.safetensors  tensorboard/  plots/loss.png ...

Example:
    >>> run = RunDir.create("runs", "linear")   # doctest: +SKIP
"""

from __future__ import annotations

import glob
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.explain import canonical_json, to_dl
from dlc.compiler.files import atomic_write_bytes, read_required
from dlc.compiler.frontend import ResolvedSpec
from dlc.runtime.runs.checkpoint import list_checkpoints, load_latest, save_checkpoint
from dlc.runtime.runs.pytree import flatten_params, unflatten_params

__all__ = ["RunDir", "flatten_params", "unflatten_params"]

RUN_NAME = re.compile(r"\d{8}-\d{6}(-\d+)?")  # the stamp after `name-` in a run folder's name


@dataclass
class RunDir:
    path: Path
    _lock: Any = field(default=None, init=False, repr=False, compare=False)  # see `lock`

    @classmethod
    def create(cls, root: str | Path, name: str) -> RunDir:
        """A new, empty run folder `root/name-STAMP[-n]`; atomic: two processes starting at
        once get two folders (`mkdir` without `exist_ok` decides)."""
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise DlcError.single(
                f"--runs {root} is a file, not a folder",
                where=str(root),
                hint="name a folder for the run folders (default: runs)",
            )
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DlcError.single(
                f"cannot create the runs folder {root}: {exc.strerror or exc}",
                where=str(root),
                hint="choose another --runs folder",
            ) from None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(1, 10_000):
            path = root / (f"{name}-{stamp}" if n == 1 else f"{name}-{stamp}-{n}")
            try:
                path.mkdir()
                return cls(path)
            except FileExistsError:
                continue
            except OSError as exc:
                raise DlcError.single(
                    f"cannot create the run folder {path}: {exc.strerror or exc}",
                    where=str(root),
                    hint="choose another --runs folder",
                ) from None
        raise DlcError.single(f"too many run folders named {name}-{stamp}", where=str(root))

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        p = Path(path)
        if not (p / "spec.json").is_file():
            raise DlcError.single(
                f"`{p}` is not a dlc run folder (no spec.json)",
                where=str(p),
                hint="pass the folder that `dlc run` printed",
            )
        return cls(p)

    @staticmethod
    def latest(root: str | Path, name: str, spec_hash: str | None = None) -> RunDir | None:
        """The newest run folder `root/name-*` (of exactly the spec with `spec_hash`, when
        given: same text, `--set` values and compile options); folders with a broken
        spec.json are passed over."""
        root = Path(root)
        if not root.is_dir():
            return None
        runs = []
        for p in root.glob(f"{glob.escape(name)}-*"):
            if not (p / "spec.json").is_file() or not RUN_NAME.fullmatch(p.name[len(name) + 1 :]):
                continue
            try:
                if spec_hash is not None and RunDir(p).spec_hash() != spec_hash:
                    continue
                runs.append((p.stat().st_mtime, p.name, p))
            except (DlcError, OSError):
                continue
        return RunDir(max(runs)[2]) if runs else None

    def lock(self) -> None:
        """Hold `RUN/.lock` while this process trains here: a second `dlc run --resume` of
        the same folder is refused until this process ends (the lock dies with it)."""
        import fcntl

        f = open(self.path / ".lock", "a+", encoding="utf-8")  # noqa: SIM115 - held open
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip()[:40]
            f.close()
            raise DlcError.single(
                f"run folder {self.path} is in use by another dlc process"
                + (f" (pid {holder})" if holder.isdigit() else ""),
                where=str(self.path),
                hint="wait for it to finish, or stop it first; a killed process frees the folder",
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._lock = f

    def unlock(self) -> None:
        """Release the lock taken by `lock` (also released when the process ends)."""
        f = getattr(self, "_lock", None)
        if f is not None:
            f.close()
            self._lock = None

    def write_spec(self, resolved: ResolvedSpec) -> None:
        atomic_write_bytes(self.path / "spec.dl", to_dl(resolved.spec).encode())
        atomic_write_bytes(self.path / "source.dl", resolved.text.encode())
        meta = {
            "spec": json.loads(canonical_json(resolved.spec)),
            "hash": resolved.hash(),
            "file": resolved.file,
            "options": resolved.options.as_dict(),  # compile options, in the hash when changed
        }
        atomic_write_bytes(self.path / "spec.json", json.dumps(meta, indent=1).encode())

    def spec_meta(self) -> dict[str, Any]:
        """spec.json, validated as untrusted input: an object with a string `hash`."""
        path = self.path / "spec.json"
        hint = "this run folder is damaged: start a new run"
        try:
            text = read_required(path, hint=hint).decode("utf-8")
            meta = json.loads(text)
        except (UnicodeDecodeError, ValueError) as exc:
            raise DlcError.single(
                f"spec.json is not valid JSON ({exc})", where=str(path), hint=hint
            ) from None
        if not isinstance(meta, dict) or not isinstance(meta.get("hash"), str):
            raise DlcError.single("spec.json has no spec `hash`", where=str(path), hint=hint)
        return meta

    def spec_hash(self) -> str:
        return str(self.spec_meta()["hash"])

    def require_spec(self, resolved: ResolvedSpec, *, resuming: bool = False) -> None:
        """Raise a DlcError unless this run was trained with `resolved` (same `--set` values).

        Example: `RunDir.open("runs/linear-...").require_spec(load_spec("specs/linear.dl"))`.
        """
        if self.spec_hash() == resolved.hash():
            return
        if resuming:
            raise DlcError.single(
                f"the spec changed since run {self.path} started",
                where=str(self.path),
                hint="resume with the same spec and --set "
                "values, or start a new run without --resume",
            )
        raise DlcError.single(
            f"run {self.path} was trained with a different spec",
            where=str(self.path),
            hint="pass the same spec and --set values",
        )

    # -- metrics --------------------------------------------------------------------------------
    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def truncate_metrics(self, epoch: int) -> list[dict[str, Any]]:
        """Keep the records up to `epoch` (when resuming from a checkpoint of that epoch)."""
        from dlc.runtime.runs.plots import read_metrics

        rows = read_metrics(self.metrics_path) if self.metrics_path.is_file() else []
        rows = [r for r in rows if isinstance(r.get("epoch"), int) and r["epoch"] <= epoch]
        atomic_write_bytes(self.metrics_path, "".join(json.dumps(r) + "\n" for r in rows).encode())
        return rows

    # -- arrays ---------------------------------------------------------------------------------
    def save_arrays(self, name: str, arrays: dict[str, Any]) -> Path:
        from safetensors.numpy import save

        flat = {k: np.ascontiguousarray(np.asarray(v)) for k, v in arrays.items()}
        path = self.path / name
        atomic_write_bytes(path, save(flat))
        return path

    def load_arrays(self, name: str) -> dict[str, np.ndarray]:
        from safetensors.numpy import load

        path = self.path / name
        data = read_required(path, hint="was the run finished? `dlc run --resume` completes it")
        try:
            return load(data)
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise DlcError.single(
                f"{path} is not a readable safetensors file: {exc}", where=str(path)
            ) from None

    # -- checkpoints ----------------------------------------------------------------------------
    def checkpoint(
        self, state: Any, *, epoch: int, step: int, spec_hash: str, extra: dict[str, Any]
    ) -> Path:
        return save_checkpoint(
            self.path, state=state, epoch=epoch, step=step, spec_hash=spec_hash, extra=extra
        )

    def restore(self, like: Any, spec_hash: str, warn: Callable[[str], None]) -> Any:
        if not list_checkpoints(self.path):
            return None
        loaded = load_latest(self.path, like=like, spec_hash=spec_hash)
        for path, reason in loaded.skipped if loaded else []:
            warn(f"skipped checkpoint {path.name}: {reason}")
        return loaded
