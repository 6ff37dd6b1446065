"""The experiment report: per-lane metrics, mean ± std per setting, the best setting; written as
`lanes.csv`, `summary.csv` and `experiment.json` in a run folder (the terminal tables are drawn
by `runtime/cli/experiment.py`).

    runs/cv_sigmoids-experiment-20261122-193000/
      source.dl  spec.dl  lanes.csv  summary.csv  experiment.json
      trials.csv  search.png                     (a search: the trials ranked, the picture)
      params.safetensors  stats.safetensors     (the retrained best setting, with `retrain`)

Example:
    >>> summary, best = summarize(result)              # doctest: +SKIP
    >>> write_report(result, base, "runs")             # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.explain import to_dl
from dlc.compiler.files import atomic_write_bytes
from dlc.compiler.frontend import ResolvedSpec
from dlc.runtime.experiment.results import ExperimentResult
from dlc.runtime.train.early_stop import monitor_mode


def _metric_names(result: ExperimentResult) -> list[str]:
    names = sorted({k for r in result.records for k in r.metrics})
    return sorted(names, key=lambda k: (k != result.monitor, k != "valid_loss", k))


def summarize(result: ExperimentResult) -> tuple[list[dict[str, Any]], int | None]:
    """One row per setting: lanes, diverged lanes, mean and sample std of each metric over its
    lanes (folds × seeds); and the index of the best setting by the monitored metric's mean
    (of a search: among its complete trials, not pruned ones)."""
    complete = {t["trial"] for t in result.trials if t["state"] == "complete"}
    rows = []
    for s in result.settings:
        lanes = [r for r in result.records if r.setting == s.index]
        ok = [r for r in lanes if not r.diverged]
        row: dict[str, Any] = {
            "setting": s.index,
            "label": s.label,
            **s.values,
            "lanes": len(ok),
            "diverged": len(lanes) - len(ok),
        }
        for m in _metric_names(result):
            vals = np.asarray([r.metrics[m] for r in ok], np.float64)
            row[f"{m}_mean"] = float(vals.mean()) if len(vals) else math.nan
            row[f"{m}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        rows.append(row)
    key = f"{result.monitor}_mean"
    scored = [
        r
        for r in rows
        if math.isfinite(r.get(key, math.nan)) and (not result.trials or r["setting"] in complete)
    ]
    best = None
    if scored:
        pick = min if monitor_mode(result.monitor) == "min" else max
        best = pick(scored, key=lambda r: r[key])["setting"]
    for r in rows:
        r["best"] = r["setting"] == best
    return rows, best


def lane_rows(result: ExperimentResult) -> list[dict[str, Any]]:
    """One row per lane, in lane order."""
    rows = []
    for i, r in enumerate(result.records):
        s = result.settings[r.setting]
        rows.append(
            {
                "lane": i,
                "program": r.program,
                "setting": r.setting,
                **s.values,
                "seed": r.seed,
                "fold": "" if r.fold is None else r.fold,
                "epochs": r.epochs,
                "best_epoch": r.best_epoch,
                "stopped_early": r.stopped,
                "diverged": r.diverged,
                "last_epoch_loss": r.train_loss,  # the mean minibatch loss of its last epoch
                **r.metrics,
            }
        )
    return rows


def _csv(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue().encode()


def write_report(result: ExperimentResult, base: ResolvedSpec, runs_root: str | Path) -> Path:
    """Write the run folder; returns its path."""
    from dlc.runtime.runs.folder import RunDir
    from dlc.runtime.runs.pytree import flatten_params

    run = RunDir.create(runs_root, f"{base.name}-experiment")
    exp = base.spec.experiment
    assert exp is not None
    atomic_write_bytes(run.path / "source.dl", base.text.encode())
    atomic_write_bytes(run.path / "spec.dl", to_dl(base.spec).encode())
    summary = [{k: v for k, v in r.items() if k != "label"} for r in result.summary]
    atomic_write_bytes(run.path / "lanes.csv", _csv(lane_rows(result)))
    atomic_write_bytes(run.path / "summary.csv", _csv(summary))
    best = None
    if result.best is not None:
        row = result.summary[result.best.index]
        best = {
            "setting": result.best.index,
            "label": result.best.label,
            "overrides": result.best.overrides,
            "values": result.best.values,
            f"{result.monitor}_mean": row[f"{result.monitor}_mean"],
            f"{result.monitor}_std": row[f"{result.monitor}_std"],
        }
    doc = {
        "file": base.file,
        "hash": base.hash(),
        "monitor": result.monitor,
        "folds": exp.folds,
        "seeds": exp.seeds or [base.spec.train.seed],
        "grid": [{"key": g.key, "values": g.values} for g in exp.grid],
        "programs_run": result.program_count,
        "programs": result.programs,
        "lanes": lane_rows(result),
        "summary": result.summary,
        "best": best,
        "retrain": result.retrain or None,
    }
    if result.trials:  # a search: the trials ranked, and a picture of the search
        from dlc.runtime.experiment.search_report import plot_search, trial_rows

        search = exp.search
        assert search is not None
        atomic_write_bytes(run.path / "trials.csv", _csv(trial_rows(result)))
        plot_search(result, run.path / "search.png", base.name)
        doc["search"] = {
            **search.settings(),
            "ranked": trial_rows(result),
            "trials": result.trials,
        }
    atomic_write_bytes(run.path / "experiment.json", json.dumps(doc, indent=1).encode())
    if result.retrained is not None:
        model = result.retrained
        run.save_arrays("params.safetensors", flatten_params(model.params))
        run.save_arrays("stats.safetensors", model.data.stats or {"none": np.zeros(0)})
    return run.path
