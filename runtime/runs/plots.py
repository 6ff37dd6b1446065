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
from collections.abc import Collection
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
    """{family: {label: key}}: `train_loss`/`valid_loss` -> loss: {train, valid};
    `grad_norm/00_dense`/`grad_norm/02_dense` -> grad_norm: {00_dense, 02_dense}.

    Example:
        >>> _families([{"epoch": 1, "train_loss": 1.0, "grad_norm/00_dense": 0.5}])
        {'loss': {'train': 'train_loss'}, 'grad_norm': {'00_dense': 'grad_norm/00_dense'}}
    """
    fams: dict[str, dict[str, str]] = {}
    for row in rows:
        for key, value in row.items():
            if key in _AXIS_KEYS or math.isnan(_number(value)):
                continue
            m = _SPLIT_RE.match(key)
            if "/" in key:  # `grad_norm/00_dense`: one chart per family, a curve per layer
                fam, label = key.split("/", 1)
            else:
                fam, label = (m.group(2), m.group(1)) if m else (key, key)
            fams.setdefault(fam, {}).setdefault(label, key)
    return dict(sorted(fams.items(), key=lambda kv: (kv[0] != "loss", kv[0])))


def warm_up() -> None:
    """Import matplotlib and load its font list (~0.5-1 CPU second) ahead of the first plot: `dlc
    run` calls it in its plot thread while training runs, off the path to the result.

    Example:
        >>> warm_up()  # later plots start drawing at once
    """
    from matplotlib import font_manager
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator  # noqa: F401  (imported for its side effect)

    font_manager.findfont("DejaVu Sans")
    Figure()


def _save(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return path


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    # fixed margins that fit the title, the axis labels and tick labels of up to ~8 characters:
    # a layout engine ("constrained") drew each figure twice, ~40 % of the plots' CPU time
    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.12, top=0.91)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _use_log_scale(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 0 and bool(np.all(finite > 0)) and finite.max() / finite.min() > 10


def _run_info(run: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's name, loss, class count and best epoch (when early stopping restored it), from
    `spec.json` and `results.json` where present; a bare metrics folder gives none of them."""
    info: dict[str, Any] = {"name": re.sub(r"-\d{8}-\d{6}$", "", run.resolve().name)}
    try:
        doc = json.loads((run / "spec.json").read_text(encoding="utf-8"))
        spec = doc["spec"]["Spec"]
        info["name"] = Path(str(doc.get("file") or info["name"])).stem or info["name"]
        info["loss"] = next(iter(spec["loss"]))
        es = (spec["train"]["Train"].get("early_stop") or {}).get("EarlyStop")
    except (OSError, ValueError, KeyError, TypeError, StopIteration, AttributeError):
        es = None
    try:
        res = json.loads((run / "results.json").read_text(encoding="utf-8"))
        if res.get("stopped_early") and isinstance(res.get("best_epoch"), int):
            info["best"] = res["best_epoch"]
        return info
    except (OSError, ValueError, AttributeError):
        pass
    try:
        best = _best_from_metrics(es, rows)
    except (ValueError, TypeError, AttributeError, OverflowError):  # a damaged run folder
        best = None
    if best is not None:
        info["best"] = best
    return info


def _best_from_metrics(es: Any, rows: list[dict[str, Any]]) -> int | None:
    """The epoch early stopping restored, worked out from `metrics.jsonl` as training does
    (`results.json` is written after the plots start); None when it did not stop early."""
    if es and es.get("restore_best") and isinstance(es.get("monitor"), str):
        from dlc.runtime.train.early_stop import monitor_mode

        seen = [(_number(r.get(es["monitor"])), int(_number(r.get("epoch", 0)))) for r in rows]
        seen = [(v, e) for v, e in seen if math.isfinite(v)]
        patience = int(es.get("patience") or 0)
        if seen and monitor_mode(es["monitor"]) == "max":
            seen = [(-v, e) for v, e in seen]
        if seen:
            best_e = min(seen)[1]  # the first epoch with the best value
            if patience and seen[-1][1] - best_e >= patience:  # it stopped early
                return best_e
    return None


def _informative(values: np.ndarray, family: str, classes: int | None) -> bool:
    """False for a curve that says nothing: constant over all epochs, or top-k accuracy with at
    most k classes (always 1)."""
    m = re.match(r"top(\d+)_accuracy$", family)
    if m and classes is not None and classes <= int(m.group(1)):
        return False
    finite = values[np.isfinite(values)]
    return finite.size > 0 and not (finite.size > 1 and np.ptp(finite) == 0)


def _classes(run: Path) -> int | None:
    for name in ("confusion_test.csv", "confusion_valid.csv"):
        if (run / name).exists():
            try:
                return len(_read_confusion(run / name))
            except (OSError, ValueError, IndexError):  # damaged (not UTF-8, not numbers)
                return None
    try:
        names = json.loads((run / "data.json").read_text(encoding="utf-8")).get("class_names")
        return len(names) if isinstance(names, list) and names else None
    except (OSError, ValueError, AttributeError):
        return None


def _read_confusion(path: Path) -> np.ndarray:
    """The counts of a `confusion_*.csv` (without its total and recall columns)."""
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    k = len(rows) - 1
    return np.array([[int(v) for v in r[1 : 1 + k]] for r in rows[1:]], dtype=np.int64)


def plot_confusion(counts: np.ndarray, path: str | os.PathLike[str], title: str) -> Any:
    """Draw a confusion matrix (rows: true class) as a heat map with the counts written in the
    cells, shaded by each row's share; returns the saved Figure.

    Example: `plot_confusion(np.eye(3, dtype=int), "runs/a/plots/confusion_test.png", "test")`.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    k = len(counts)
    side = min(max(4.0, 0.45 * k + 2.0), 14.0)
    fig = Figure(figsize=(side + 1.0, side), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    bar = fig.colorbar(image, ax=ax, ticks=[0.0, 0.25, 0.5, 0.75, 1.0])
    bar.set_label("share of the true class")
    ax.set_title(title)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if k <= 20:
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        for i in range(k):
            for j in range(k):
                colour = "white" if share[i, j] > 0.5 else "black"
                ax.text(
                    j,
                    i,
                    str(counts[i, j]),
                    ha="center",
                    va="center",
                    color=colour,
                    fontsize=9 if k <= 12 else 7,
                )
    _save(fig, Path(path))
    return fig


def plot_run(
    run_dir: str | os.PathLike[str], *, figures: dict[str, Any] | None = None
) -> list[Path]:
    """Draw `loss.png`, one PNG per other metric family that carries information, `lr.png`, and
    the confusion matrix of each `confusion_*.csv` in the folder, into `RUN/plots/`.

    Titles name the run (and the loss); epoch axes have integer ticks; when early stopping
    restored the best epoch it is marked. `figures`, when given, receives each Figure by file
    name (for tests).

    Example: `plot_run("runs/a")` -> `[runs/a/plots/loss.png, ...]`.
    """
    from matplotlib.ticker import MaxNLocator

    run = Path(run_dir)
    rows = read_metrics(run / METRICS_FILE)
    if not rows:
        raise DlcError.single(
            f"metrics file `{run / METRICS_FILE}` has no epochs yet",
            hint="train for at least one epoch before plotting",
            where=str(run / METRICS_FILE),
        )
    info = _run_info(run, rows)
    classes = _classes(run)
    x = np.array([_number(r.get("epoch", i + 1)) for i, r in enumerate(rows)])
    marker = "o" if len(rows) <= 30 else None
    out = run / PLOTS_DIR
    paths: list[Path] = []
    keep = figures if figures is not None else {}

    def finish(fig: Any, ax: Any, name: str) -> None:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if "best" in info:
            ax.axvline(
                info["best"],
                color="grey",
                linestyle="-.",
                linewidth=1,
                label=f"best epoch {info['best']} (restored)",
            )
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        keep[name] = fig
        paths.append(_save(fig, out / name))

    for fam, series in _families(rows).items():
        curves = {
            label: np.array([_number(r.get(key)) for r in rows]) for label, key in series.items()
        }
        if fam != "loss" and not any(_informative(y, fam, classes) for y in curves.values()):
            continue
        what = fam.replace("_", " ")
        if fam == "loss" and "loss" in info:
            what += f" ({info['loss']})"  # the spec's name for it, as written
        fig, ax = _figure(f"{info['name']}: {what}", "epoch", fam)
        per_layer = fam.endswith("_norm")  # recorded at evaluation epochs only
        for label, y in curves.items():
            keep_x = np.isfinite(y) if per_layer else np.ones(len(y), bool)
            ax.plot(
                x[keep_x],
                y[keep_x],
                _SPLIT_STYLE.get(label, "-"),
                marker="o" if per_layer else marker,
                label=label,
            )
        values = np.concatenate(list(curves.values()))
        if ("loss" in fam or per_layer) and _use_log_scale(values):
            ax.set_yscale("log")
        finish(fig, ax, re.sub(r"[^A-Za-z0-9_.-]+", "_", fam) + ".png")
    if any("lr" in r for r in rows):
        fig, ax = _figure(f"{info['name']}: learning rate", "epoch", "lr")
        ax.plot(x, [_number(r.get("lr")) for r in rows], marker=marker)
        finish(fig, ax, "lr.png")
    paths += plot_confusions(run, info["name"], keep=keep)
    return paths


def plot_confusions(
    run_dir: str | os.PathLike[str],
    name: str,
    *,
    skip: Collection[Path] = (),
    keep: dict[str, Any] | None = None,
) -> list[Path]:
    """Draw the heat map of each `confusion_*.csv` in a run folder (but those in `skip`) into
    `RUN/plots/`; `name` titles them. `dlc run` calls it again once its report wrote the CSVs.

    Example: `plot_confusions("runs/a", "digits")` -> `[runs/a/plots/confusion_test.png]`.
    """
    run = Path(run_dir)
    paths: list[Path] = []
    for csv_path in sorted(run.glob("confusion_*.csv")):
        part = csv_path.stem.removeprefix("confusion_")
        target = run / PLOTS_DIR / f"{csv_path.stem}.png"
        if target in skip:
            continue
        try:
            counts = _read_confusion(csv_path)
        except (OSError, ValueError, IndexError):
            continue  # a damaged CSV: the other plots still come
        title = f"{name}: confusion matrix ({part}, rows: true class)"
        fig = plot_confusion(counts, target, title)
        if keep is not None:
            keep[target.name] = fig
        paths.append(target)
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
