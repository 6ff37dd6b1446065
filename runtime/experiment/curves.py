"""Each lane's curves after `dlc experiment`: TensorBoard per lane (scalars per epoch and the
lane's hyperparameters for the HParams dashboard) in the report folder, and MLflow (a parent
run for the experiment, one child run per lane) with `--track mlflow`.

    runs/cv_sigmoids-experiment-20261127-180000/tensorboard/
      lane-000/events...   lane-001/events...   (one TensorBoard run per lane)

Example:
    >>> write_lane_tensorboard(result, result.path / "tensorboard")   # doctest: +SKIP
    >>> track_experiment(result, uri=None)                             # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from dlc.runtime.experiment.results import ExperimentResult


def lane_histories(result: ExperimentResult) -> list[list[dict[str, Any]]]:
    """Per lane (in `result.records` order), its epoch records as `dlc run` writes them
    (`epoch`, `train_loss`, `lr`, `valid_*` at evaluation epochs): only the epochs it trained
    (a lane stopped early or diverged has fewer)."""
    out: list[list[dict[str, Any]]] = [[] for _ in result.records]
    for indices, run in result.runs:
        for j, i in enumerate(indices):
            for h in run.history:
                if not bool(np.asarray(h["active"])[j]):
                    continue
                rec: dict[str, Any] = {"epoch": int(h["epoch"])}
                for k, v in h.items():
                    if k not in ("epoch", "active"):
                        rec[k] = float(np.asarray(v)[j])
                out[i].append(rec)
    return out


def lane_hparams(result: ExperimentResult, i: int) -> dict[str, Any]:
    """Lane `i`'s grid values, seed and fold (no fold: -1)."""
    r = result.records[i]
    values = result.settings[r.setting].values
    plain = {
        k: v if isinstance(v, bool | int | float | str) else json.dumps(v)
        for k, v in values.items()
    }
    return {**plain, "seed": r.seed, "fold": -1 if r.fold is None else r.fold}


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}


def write_lane_tensorboard(result: ExperimentResult, folder: Path) -> list[Path]:
    """`folder/lane-NNN/`: each lane's epochs as scalars and its hyperparameters with its final
    validation metrics (HParams dashboard); returns the lane folders."""
    from dlc.runtime.runs.tblog import TensorBoardLogger

    paths = []
    for i, history in enumerate(lane_histories(result)):
        path = folder / f"lane-{i:03d}"
        r = result.records[i]
        with TensorBoardLogger(path) as tb:
            for rec in history:
                tb.log(rec, rec["epoch"], flush=False)  # written at once when it closes
            tb.log_hparams(lane_hparams(result, i), _finite(r.metrics), max(r.epochs, 1))
        paths.append(path)
    return paths


def track_experiment(result: ExperimentResult, uri: str | None) -> str:
    """MLflow: a parent run (the spec without the grid's keys as params, the best setting's
    mean, the retrained model's test metrics, the report files as artifacts) and one child run
    per lane (its grid values, seed and fold as params; its curves; its final metrics).
    Returns the parent run's id."""
    from dlc.compiler.explain import canonical_json
    from dlc.runtime.runs.tracking import Tracker, spec_params

    first = result.settings[0].resolved
    tracker = Tracker(uri, first.name)
    keys = {k for s in result.settings for k in s.values}
    params = {
        k: v
        for k, v in spec_params(json.loads(canonical_json(first.spec))).items()
        if k not in keys and not any(k.startswith(g + ".") for g in keys)
    }
    folder = result.path
    name = folder.name if folder is not None else f"{first.name}-experiment"
    tags = {"dlc.kind": "experiment", "mlflow.source.name": str(first.file)}
    if folder is not None:
        tags["dlc.run_folder"] = str(folder.resolve())
    if "run" in result.retrain:  # the retrained best setting's run folder
        tags["dlc.retrained_run"] = str(Path(result.retrain["run"]).resolve())
    parent = tracker.start(name, params, tags)
    try:
        for i, history in enumerate(lane_histories(result)):
            r = result.records[i]
            child = tracker.start(
                f"lane-{i:03d} {result.settings[r.setting].label}",
                lane_hparams(result, i),
                {"dlc.kind": "lane", "dlc.lane": str(i), "dlc.program": str(r.program)},
                parent=parent,
            )
            tracker.log_epochs(child, history)  # one call per lane
            final = {
                **{f"final_{k}": v for k, v in r.metrics.items()},
                "epochs": r.epochs,
                "best_epoch": r.best_epoch,
            }
            tracker.log_metrics(child, final, step=r.epochs)
            tracker.end(child, "FAILED" if r.diverged else "FINISHED")
        summary: dict[str, Any] = {}
        if result.best is not None:
            row = result.summary[result.best.index]
            summary = {f"best_{k}": v for k, v in row.items() if k.endswith(("_mean", "_std"))}
        summary.update({f"retrained_{k}": v for k, v in result.retrain.items() if k != "run"})
        tracker.log_metrics(parent, summary)
        if result.best is not None:
            tracker.log_params(parent, {"best": result.best.label})
        if folder is not None:
            names = ["spec.dl", "source.dl", "lanes.csv", "summary.csv", "experiment.json"]
            tracker.log_files(parent, [folder / n for n in names])
            tracker.log_files(parent, sorted(folder.glob("plots/*.png")), "plots")
    except BaseException:
        tracker.end(parent, "FAILED")
        raise
    tracker.end(parent)
    return parent
