"""A `dlc run` in MLflow (`--track mlflow`): started (or, on `--resume`, continued) when the
run folder is ready, its epochs sent in batches, its results and files logged at the end. The
MLflow run's id is kept in the run folder's `tracking.json`.

Example:
    >>> t = RunTracking(None)                                             # doctest: +SKIP
    >>> t.begin(run_path, "linear", history=[], resuming=False)           # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from dlc.compiler.errors import DlcError
from dlc.runtime.runs.tracking import Tracker, flat_params, spec_params

RECORD = "tracking.json"  # in a run folder: where its MLflow run is (for --resume)
EVERY_S = 2.0  # a run's epochs go to MLflow in one call per this many seconds


def run_files(run_path: Path) -> list[Path]:
    """The artifacts of a run folder: spec, results, metrics, confusion CSVs."""
    names = ["spec.dl", "source.dl", "spec.json", "results.json", "metrics.jsonl", "env.json"]
    return [run_path / n for n in names] + sorted(run_path.glob("confusion_*.csv"))


def remembered(run_path: Path, uri: str) -> str | None:
    """The MLflow run id a run folder was tracked under at `uri` (None: none, or elsewhere)."""
    try:
        doc = json.loads((run_path / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("uri") != uri:
        return None
    run_id = doc.get("run_id")
    return run_id if isinstance(run_id, str) else None


def remember(run_path: Path, uri: str, run_id: str) -> None:
    """Write `tracking.json` so that `dlc run --resume --track mlflow` continues the same run."""
    from dlc.compiler.files import atomic_write_bytes

    body = json.dumps({"uri": uri, "run_id": run_id}, indent=1).encode()
    atomic_write_bytes(run_path / RECORD, body)


class RunTracking:
    """MLflow for one `dlc run`: `begin` when the run folder is ready, `epoch` per epoch,
    `finish` once results and plots are written (or `fail`).

    Example: `t = RunTracking(None); t.begin(run_path, history=[], resuming=False)`.
    """

    def __init__(self, uri: str | None) -> None:
        self.connected: Tracker | None = Tracker(uri)  # a bad URI: an error before training
        self.tracker: Tracker | None = None
        self.run_id: str | None = None
        self.pending: list[dict[str, Any]] = []
        self.sent = 0.0  # time.monotonic() of the last send

    def begin(
        self, run_path: Path, name: str, history: list[dict[str, Any]], resuming: bool
    ) -> str:
        """Start (or, resuming, continue) the MLflow run of folder `run_path` in the MLflow
        experiment `name` (the spec's name); log the epochs of `history` it lacks. Returns
        the MLflow run id."""
        meta = json.loads((run_path / "spec.json").read_text(encoding="utf-8"))
        tracker = self.connected
        assert tracker is not None, "RunTracking.begin called twice"
        tracker.use(name)
        run_id = remembered(run_path, tracker.uri) if resuming else None
        if run_id is None or not tracker.reopen(run_id):
            tags = {
                "dlc.kind": "run",
                "dlc.spec_hash": str(meta.get("hash", "")),
                "dlc.run_folder": str(run_path.resolve()),
                "mlflow.source.name": str(meta.get("file", "")),
            }
            params = spec_params(meta.get("spec", {}))
            params.update(flat_params(meta.get("options") or {}, "options"))
            run_id = tracker.start(run_path.name, params, tags)
            remember(run_path, tracker.uri, run_id)
        tracker.log_epochs(run_id, [r for r in history if isinstance(r.get("epoch"), int)])
        self.tracker, self.run_id = tracker, run_id
        return run_id

    def epoch(self, record: dict[str, Any]) -> None:
        """Log an epoch; sent with the others of the last `EVERY_S` seconds (a call to the
        store costs tens of milliseconds; a kill loses none: `--resume` adds them)."""
        import time

        self.pending.append(record)
        if time.monotonic() - self.sent >= EVERY_S:
            self.send()

    def send(self) -> None:
        """Send the pending epochs now."""
        import time

        if self.tracker is not None and self.run_id is not None and self.pending:
            self.tracker.log_epochs(self.run_id, self.pending)
        self.pending, self.sent = [], time.monotonic()

    def finish(self, run_path: Path, final: dict[str, Any], plots: list[Path]) -> None:
        """Final metrics (`final_test_accuracy`...), the run folder's files and plots; ends the
        run FINISHED."""
        if self.tracker is None or self.run_id is None:
            return
        self.send()
        self.tracker.log_metrics(self.run_id, {f"final_{k}": v for k, v in final.items()})
        self.tracker.log_files(self.run_id, run_files(run_path))
        self.tracker.log_files(self.run_id, list(plots), "plots")
        self.tracker.end(self.run_id)
        self.tracker = None

    def fail(self, status: str = "FAILED") -> None:
        """End the run FAILED (an error) or KILLED (interrupted); never raises."""
        if self.tracker is not None and self.run_id is not None:
            with contextlib.suppress(DlcError):
                self.send()
                self.tracker.end(self.run_id, status)
        self.tracker = None
