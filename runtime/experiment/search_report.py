"""The report of a search: the trials ranked (`trials.csv`, the terminal table) and a picture of
the search (`search.png`: the monitored value against the trial number with the best so far,
and against each searched setting, on a log axis for `loguniform` and `intuniform log=true`).

Ranking: complete trials by their value (best first), then pruned trials by their value, then
failed ones (every lane diverged); ties keep the trial order.

Example:
    >>> ranked([{"trial": 0, "state": "complete", "value": 0.3},
    ...         {"trial": 1, "state": "complete", "value": 0.1},
    ...         {"trial": 2, "state": "pruned", "value": 0.05}], "valid_loss")
    [1, 0, 2]
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.files import atomic_write_bytes
from dlc.runtime.experiment.results import ExperimentResult
from dlc.runtime.train.early_stop import monitor_mode

_STATE_ORDER = {"complete": 0, "pruned": 1, "failed": 2}


def ranked(trials: list[dict[str, Any]], monitor: str) -> list[int]:
    """Trial numbers, best first."""
    sign = 1.0 if monitor_mode(monitor) == "min" else -1.0

    def key(i: int) -> tuple[int, float, int]:
        v = trials[i]["value"]
        return (
            _STATE_ORDER.get(trials[i]["state"], 3),
            sign * v if math.isfinite(v) else math.inf,
            i,
        )

    return [trials[i]["trial"] for i in sorted(range(len(trials)), key=key)]


def trial_rows(result: ExperimentResult) -> list[dict[str, Any]]:
    """One row per trial, ranked: rank, trial, round, state, value, settings, epochs trained
    (most over its lanes)."""
    by_number = {t["trial"]: t for t in result.trials}
    rows = []
    for rank, number in enumerate(ranked(result.trials, result.monitor), 1):
        t = by_number[number]
        epochs = [r.epochs for r in result.records if r.setting == number]
        rows.append(
            {
                "rank": rank,
                "trial": number,
                "round": t["round"],
                "state": t["state"],
                result.monitor: t["value"],
                **t["params"],
                "epochs": max(epochs, default=0),
            }
        )
    return rows


def plot_search(result: ExperimentResult, path: Path, title: str) -> Path:
    """`search.png`: the value of each trial against its number (the best so far as a line,
    pruned trials hollow) and against each searched setting."""
    from matplotlib.figure import Figure

    exp_params = list(result.trials[0]["params"]) if result.trials else []
    n = 1 + len(exp_params)
    fig = Figure(figsize=(4.2 * n, 3.8), dpi=100, layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    fig.suptitle(f"{title}: {result.monitor} of each trial")
    numbers = np.asarray([t["trial"] for t in result.trials])
    values = np.asarray([t["value"] for t in result.trials], np.float64)
    done = np.asarray([t["state"] == "complete" for t in result.trials])
    ax = axes[0]
    ax.scatter(numbers[done], values[done], s=18, label="complete")
    if (~done).any():
        ax.scatter(
            numbers[~done], values[~done], s=18, facecolors="none", edgecolors="C1", label="pruned"
        )
    better = np.fmin if monitor_mode(result.monitor) == "min" else np.fmax
    shown = np.where(done, values, np.nan)
    best = better.accumulate(np.where(np.isfinite(shown), shown, np.nan))
    ax.step(numbers, best, where="post", color="C2", label="best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers
    ax.set_xlabel("trial")
    ax.set_ylabel(result.monitor)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    kinds = _kinds(result)
    for ax, key in zip(axes[1:], exp_params, strict=True):
        xs = [t["params"][key] for t in result.trials]
        if kinds.get(key) == "choice":
            labels = sorted({str(x) for x in xs})
            pos = np.asarray([labels.index(str(x)) for x in xs], np.float64)
            ax.set_xticks(range(len(labels)), labels)
            ax.set_xlim(-0.5, len(labels) - 0.5)
        else:
            pos = np.asarray(xs, np.float64)
            if kinds.get(key) == "log":
                from matplotlib.ticker import NullFormatter

                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # powers of ten only
        ax.scatter(pos[done], values[done], s=18)
        if (~done).any():
            ax.scatter(pos[~done], values[~done], s=18, facecolors="none", edgecolors="C1")
        ax.set_xlabel(key)
        ax.grid(True, alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return path


def _kinds(result: ExperimentResult) -> dict[str, str]:
    """Searched key -> "choice", "log" or "linear" (the axis of its plot)."""
    from dlc.compiler.distributions import Choice, IntUniform, LogUniform

    if not result.settings:
        return {}
    exp = result.settings[0].resolved.spec.experiment
    if exp is None or exp.search is None:
        return {}
    out = {}
    for p in exp.search.param:
        d = p.dist
        log = isinstance(d, LogUniform) or (isinstance(d, IntUniform) and d.log)
        out[p.key] = "choice" if isinstance(d, Choice) else "log" if log else "linear"
    return out
