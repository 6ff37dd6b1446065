"""`results.json` and `env.json` of a run folder, and the data-file hashes that `--resume`,
`predict` and `evaluate` compare with.

results.json: final train/valid/test metrics, best epoch, stopped early, epochs, steps, wall time.
env.json: dlc, jax, jaxlib, optax and numpy versions, devices, XLA flags, the git commit when run
from a checkout, and the sha256 of every data file the spec reads.

Example:
    >>> write_env(run, resolved)                                # doctest: +SKIP
    >>> changed_data(run, resolved)                             # doctest: +SKIP
    []
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from dlc.compiler.files import atomic_write_bytes
from dlc.compiler.frontend import ResolvedSpec

PACKAGES = ("dlc", "jax", "jaxlib", "optax", "numpy")


def data_files(resolved: ResolvedSpec) -> list[Path]:
    """The files the spec's data source reads (built-in and generated data: none)."""
    source = resolved.spec.data.source
    base = Path(resolved.base_dir)
    found: list[Path] = []
    for attr in ("path", "test"):
        value = getattr(source, attr, None)
        if not isinstance(value, str | list):
            continue
        for p in [value] if isinstance(value, str) else value:
            if not isinstance(p, str):  # e.g. fizzbuzz's `test=[1, 100]`: a range, not files
                continue
            path = Path(p) if Path(p).is_absolute() else base / p
            if path.is_dir():
                found += sorted(q for q in path.iterdir() if q.is_file())
            elif path.is_file():
                found.append(path)
    return found


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_hashes(resolved: ResolvedSpec) -> dict[str, str]:
    return {str(p): _sha256(p) for p in data_files(resolved)}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment(resolved: ResolvedSpec) -> dict[str, Any]:
    import jax

    return {
        "versions": {name: _version(name) for name in PACKAGES},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "devices": [str(d) for d in jax.devices()],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "git_commit": _git_commit(),
        "data": data_hashes(resolved),
    }


def write_env(run_path: Path, resolved: ResolvedSpec) -> None:
    """env.json: versions, devices, flags, commit and data hashes at the start of the run."""
    body = json.dumps(environment(resolved), indent=1)
    atomic_write_bytes(Path(run_path) / "env.json", body.encode())


def write_results(
    run_path: Path,
    final: dict[str, float],
    *,
    best_epoch: int,
    stopped_early: bool,
    history: list[dict[str, Any]],
    started: float,
) -> None:
    """results.json: final metrics per part, best epoch, epochs, steps and wall time."""
    parts: dict[str, dict[str, float]] = {}
    for key, value in final.items():
        part, _, metric = key.partition("_")
        parts.setdefault(part, {})[metric] = float(value)
    last = history[-1] if history else {}
    body = {
        "metrics": parts,
        "best_epoch": best_epoch,
        "stopped_early": stopped_early,
        "epochs": int(last.get("epoch", 0)),
        "steps": int(last.get("step", 0)),
        "wall_time_s": round(time.time() - started, 3),
    }
    atomic_write_bytes(Path(run_path) / "results.json", json.dumps(body, indent=1).encode())


def changed_data(run_path: Path | Any, resolved: ResolvedSpec) -> list[str]:
    """Warnings for data files whose hash differs from the run's env.json (or that are gone)."""
    path = Path(getattr(run_path, "path", run_path)) / "env.json"
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")).get("data", {})
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(recorded, dict):
        return []
    now = data_hashes(resolved)
    out = []
    for name, digest in recorded.items():
        if name not in now:
            continue  # read from another place now: compared by content below
        if now[name] != digest:
            out.append(f"warning: data file {name} changed since the run was trained")
    if set(recorded.values()) and not set(now) & set(recorded):
        moved = set(now.values()) - set(recorded.values())
        if moved:
            out.append("warning: the data files differ from those the run was trained on")
    return out


def retrained_from(run_path: Path, resolved: ResolvedSpec) -> bool:
    """Whether a run folder holds the model `dlc experiment` of `resolved` retrained (its
    `retrained.json` names the experiment spec's hash)."""
    try:
        meta = json.loads((Path(run_path) / "retrained.json").read_text(encoding="utf-8"))
        return bool(meta.get("experiment_hash") == resolved.hash())
    except (OSError, ValueError, AttributeError):
        return False


def write_data_facts(run_path: Path, resolved: ResolvedSpec, data: Any) -> None:
    """data.json: what predicting needs to know about the training data (input and target
    shapes, classes and their names, feature names, training rows), so that `dlc.load` works
    without the training files."""
    from dlc.runtime.data.classes import class_names

    facts = {
        "input_shape": list(data.input_shape),
        "target_shape": list(data.target_shape),
        "num_classes": data.num_classes,
        "class_names": class_names(resolved, data.num_classes),
        "feature_names": list(data.feature_names),
        "n_train": len(data.parts["train"][0]),
        "input_dtype": str(data.parts["train"][0].dtype),
        "target_dtype": str(data.parts["train"][1].dtype),
    }
    if getattr(data, "categories", None):  # `categories=index`: the category table
        facts["categories"] = {k: list(v) for k, v in data.categories.items()}
    atomic_write_bytes(Path(run_path) / "data.json", json.dumps(facts, indent=1).encode())
