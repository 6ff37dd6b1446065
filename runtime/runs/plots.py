"""Pictures of a run: loss, other metrics and learning rate per epoch, as PNG files.

Reads `RUN/metrics.jsonl` (one JSON object per epoch) and writes `RUN/plots/*.png`. Matplotlib
is imported lazily and only its object API is used (`Figure` with the Agg canvas), so importing
this module is cheap and no GUI backend or global pyplot state is touched.

Example:
    >>> plot_run("runs/mnist-mlp")                     # doctest: +SKIP
    [PosixPath('runs/mnist-mlp/plots/loss.png'), PosixPath('runs/mnist-mlp/plots/accuracy.png'),
     PosixPath('runs/mnist-mlp/plots/lr.png')]
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.files import atomic_write_bytes

METRICS_FILE = "metrics.jsonl"
PLOTS_DIR = "plots"
_SPLIT_RE = re.compile(r"^(train|valid|val|test)_(.+)$")
_AXIS_KEYS = {"epoch", "step", "time", "lr"}
_SPLIT_STYLE = {"train": "-", "valid": "--", "val": "--", "test": ":"}


def read_metrics(jsonl_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Per-epoch metric records; a truncated last line (a killed run) is dropped.

    Example: `read_metrics("runs/a/metrics.jsonl")[-1]["valid_loss"]`.
    """
    path = Path(jsonl_path)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        bad_line = raw[: e.start].count(b"\n") + 1
        raise DlcError.single(
            "metrics file is not UTF-8 text",
            where=f"{path}:{bad_line}",
            hint="the run folder is damaged: fix or remove that line, or start a new run",
        ) from None
    except FileNotFoundError:
        raise DlcError.single(
            f"no metrics file at `{path}`",
            hint="a run writes metrics.jsonl after each epoch: train for at least one epoch, "
            "or point at a run folder (e.g. runs/NAME)",
            where=str(path),
        ) from None
    lines = text.splitlines()
    rows: list[dict[str, Any]] = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if i == len(lines) and not text.endswith("\n"):
                break  # the run was killed while writing its last line
            raise DlcError.single(
                f"bad JSON in metrics file: {e.msg}",
                where=f"{path}:{i}",
                hint="each line must be one JSON object",
            ) from None
        if not isinstance(row, dict):
            raise DlcError.single(
                "metrics line is not a JSON object",
                where=f"{path}:{i}",
                hint="each line must be one JSON object",
            )
        rows.append(row)
    return rows


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return math.nan
    return float(v)


def _families(rows: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """{family: {label: key}}: `train_loss`/`valid_loss` -> loss: {train, valid}."""
    fams: dict[str, dict[str, str]] = {}
    for row in rows:
        for key, value in row.items():
            if key in _AXIS_KEYS or math.isnan(_number(value)):
                continue
            m = _SPLIT_RE.match(key)
            fam, label = (m.group(2), m.group(1)) if m else (key, key)
            fams.setdefault(fam, {}).setdefault(label, key)
    return dict(sorted(fams.items(), key=lambda kv: (kv[0] != "loss", kv[0])))


def _save(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return path


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _use_log_scale(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 0 and bool(np.all(finite > 0)) and finite.max() / finite.min() > 10


def plot_run(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Draw `loss.png`, one PNG per other metric family and `lr.png` into `RUN/plots/`.

    Example: `plot_run("runs/a")` -> `[runs/a/plots/loss.png, ...]`.
    """
    run = Path(run_dir)
    rows = read_metrics(run / METRICS_FILE)
    if not rows:
        raise DlcError.single(
            f"metrics file `{run / METRICS_FILE}` has no epochs yet",
            hint="train for at least one epoch before plotting",
            where=str(run / METRICS_FILE),
        )
    x = np.array([_number(r.get("epoch", i + 1)) for i, r in enumerate(rows)])
    marker = "o" if len(rows) <= 30 else None
    out = run / PLOTS_DIR
    paths: list[Path] = []
    for fam, series in _families(rows).items():
        fig, ax = _figure(fam.replace("_", " "), "epoch", fam)
        everything = []
        for label, key in series.items():
            y = np.array([_number(r.get(key)) for r in rows])
            everything.append(y)
            ax.plot(x, y, _SPLIT_STYLE.get(label, "-"), marker=marker, label=label)
        if "loss" in fam and _use_log_scale(np.concatenate(everything)):
            ax.set_yscale("log")
        ax.legend()
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", fam)
        paths.append(_save(fig, out / f"{name}.png"))
    if any("lr" in r for r in rows):
        fig, ax = _figure("learning rate", "epoch", "lr")
        ax.plot(x, [_number(r.get("lr")) for r in rows], marker=marker)
        paths.append(_save(fig, out / "lr.png"))
    return paths


def plot_schedule(
    steps: np.ndarray, lrs: np.ndarray, path: str | os.PathLike[str], title: str
) -> Path:
    """Draw a learning-rate schedule (lr per step) without training.

    Example: `plot_schedule(np.arange(100), sched(np.arange(100)), "lr.png", "cosine")`.
    """
    steps, lrs = np.asarray(steps).ravel(), np.asarray(lrs, dtype=float).ravel()
    if steps.size == 0 or steps.shape != lrs.shape:
        raise DlcError.single(
            f"cannot plot a schedule from {steps.size} steps and {lrs.size} learning rates",
            hint="pass one learning rate per step, at least one step",
        )
    fig, ax = _figure(title, "step", "learning rate")
    ax.plot(steps, lrs)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    return _save(fig, Path(path))
