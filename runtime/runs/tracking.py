"""Experiment tracking in MLflow (`--track mlflow`; the `dlc[track]` extra, imported lazily).

Where: `--track-uri URI`, else the MLFLOW_TRACKING_URI environment variable, else a local SQLite
store `mlruns/mlflow.db` in the current folder with the artifacts beside it in `mlruns/`. (MLflow
3.17 refuses its plain-file store unless MLFLOW_ALLOW_FILE_STORE=true; SQLite is its default.)
The MLflow experiment is the spec's name; a `dlc run` is one MLflow run (`tracked_run.py`), a
`dlc experiment` a parent run with one child run per lane (`experiment/curves.py`).

A run gets: the resolved spec as params (dotted keys, `optimizer.lr`), tags (spec hash, run
folder, spec file), per-epoch metrics at step = epoch, the final metrics as `final_*`, and the
run folder's spec, results and plots as artifacts.

Example:
    >>> spec_params({"Spec": {"optimizer": {"adam": {"lr": 0.01}}}})
    {'optimizer': 'adam', 'optimizer.lr': '0.01'}
    >>> tracker = Tracker(None, "linear")                                 # doctest: +SKIP
    >>> run_id = tracker.start("linear-20261127-1800", {"optimizer.lr": 0.01})  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dlc.compiler.errors import DlcError

EXTRA_HINT = "pip install 'dlc[track]' (mlflow-skinny with SQLAlchemy and Alembic)"
MAX_PARAM = 6000  # MLflow's longest param value


def tracking_uri(uri: str | None = None) -> str:
    """`uri`, else $MLFLOW_TRACKING_URI, else `sqlite:///<cwd>/mlruns/mlflow.db`."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    store = Path("mlruns").resolve()
    return f"sqlite:///{store / 'mlflow.db'}"


def flat_params(tree: Any, prefix: str = "") -> dict[str, str]:
    """A JSON tree as MLflow params: `{"optimizer": {"lr": 0.01}}` -> `{"optimizer.lr": "0.01"}`
    (lists by index; values longer than MLflow allows are cut, ending in `...`)."""
    if isinstance(tree, dict) and tree:
        out: dict[str, str] = {}
        for k, v in tree.items():
            out.update(flat_params(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(tree, list) and tree and any(isinstance(v, dict | list) for v in tree):
        out = {}
        for i, v in enumerate(tree):
            out.update(flat_params(v, f"{prefix}.{i}" if prefix else str(i)))
        return out
    text = tree if isinstance(tree, str) else json.dumps(tree)
    return {prefix or "value": text if len(text) <= MAX_PARAM else text[: MAX_PARAM - 3] + "..."}


def spec_params(tree: Any, prefix: str = "") -> dict[str, str]:
    """A spec's canonical JSON (`spec.json`'s `spec`) as MLflow params named like `--set` keys:
    class wrappers (`{"Train": {...}}`) are dropped and a registry entry (`{"adam": {...}}`)
    gives its name to the key and its fields below it, e.g. `{"optimizer": "adam",
    "optimizer.lr": "0.01", "model.layers.0": "dense", "model.layers.0.units": "8"}`."""
    out: dict[str, str] = {}
    if isinstance(tree, dict) and len(tree) == 1:
        [(key, inner)] = tree.items()
        if isinstance(inner, dict) and key[:1].isupper():  # a Pydantic class's name
            return spec_params(inner, prefix)
        if isinstance(inner, dict) and prefix:  # a registry entry: its name, then its fields
            return {prefix: key, **spec_params(inner, prefix)}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(spec_params(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(tree, list) and any(isinstance(v, dict | list) for v in tree):
        for i, v in enumerate(tree):
            out.update(spec_params(v, f"{prefix}.{i}" if prefix else str(i)))
        return out
    return flat_params(tree, prefix)


def _numbers(record: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in record.items():
        if k in ("epoch", "step") or isinstance(v, bool | str | bytes):
            continue
        try:
            x = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(x):
            out[k.replace("@", "_at_")] = x
    return out


class Tracker:
    """One MLflow experiment (by name) at one tracking URI; methods take the MLflow run id.

    Example: `Tracker("sqlite:////tmp/m.db", "linear").start("a", {"train.batch": "32"})`.
    """

    def __init__(self, uri: str | None, experiment: str | None = None) -> None:
        """Connect to the store at `uri` (see `tracking_uri`) at once, so that a bad URI is an
        error before training; `experiment`: the MLflow experiment to use (see `use`)."""
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as e:
            raise DlcError.single(
                f"--track mlflow needs MLflow ({e})", where="--track", hint=EXTRA_HINT
            ) from None
        for name in ("mlflow", "alembic"):  # their INFO lines (creating tables...) are noise
            logging.getLogger(name).setLevel(logging.WARNING)
        self.uri = tracking_uri(uri)
        self._logged: dict[str, set[int]] = {}
        self.experiment_id = ""
        with self._errors():
            if self.uri.startswith("sqlite:///"):
                Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.client = MlflowClient(tracking_uri=self.uri)
            self.client.search_experiments(max_results=1)  # reach the store now
        if experiment is not None:
            self.use(experiment)

    def use(self, experiment: str) -> None:
        """Log into the MLflow experiment named `experiment` (made when missing)."""
        with self._errors():
            found = self.client.get_experiment_by_name(experiment)
            if found is not None:
                self.experiment_id = found.experiment_id
            else:
                self.experiment_id = self.client.create_experiment(
                    experiment, artifact_location=self._artifacts(experiment)
                )

    def _artifacts(self, experiment: str) -> str | None:
        """Beside a local SQLite store: `<its folder>/artifacts/<experiment>` (MLflow's own
        default is relative to the current folder); other stores decide themselves."""
        if not self.uri.startswith("sqlite:///"):
            return None
        db = Path(self.uri.removeprefix("sqlite:///")).resolve()
        db.parent.mkdir(parents=True, exist_ok=True)
        return (db.parent / "artifacts" / experiment).as_uri()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """MLflow's errors (a bad URI, an unreachable server, a missing driver) as DlcErrors."""
        try:
            yield
        except DlcError:
            raise
        except ImportError as e:
            raise DlcError.single(
                f"MLflow cannot use the tracking store {self.uri}: {e}",
                where="--track-uri",
                hint=EXTRA_HINT,
            ) from None
        except Exception as e:  # MlflowException, requests' and SQLAlchemy's errors
            text = " ".join(str(e).split())
            hint = "check --track-uri / MLFLOW_TRACKING_URI, or leave both unset for a local "
            hint += "store in mlruns/"
            if "MLFLOW_ALLOW_FILE_STORE" in text:  # MLflow 3's refusal of its file store
                text = text.split(". ")[0]
                hint = "set MLFLOW_ALLOW_FILE_STORE=true to use MLflow's file store anyway, or "
                hint += "use a database URI (the default: sqlite:///mlruns/mlflow.db)"
            raise DlcError.single(
                f"MLflow tracking at {self.uri} failed: {text[:400]}",
                where="--track-uri",
                hint=hint,
            ) from None

    def start(
        self,
        name: str,
        params: dict[str, Any],
        tags: dict[str, str] | None = None,
        parent: str | None = None,
    ) -> str:
        """A new MLflow run (a child of run `parent` when given); returns its id."""
        tags = dict(tags or {})
        if parent is not None:
            tags["mlflow.parentRunId"] = parent
        with self._errors():
            run = self.client.create_run(self.experiment_id, tags=tags, run_name=name)
            run_id: str = run.info.run_id
            self.log_params(run_id, params)
        self._logged[run_id] = set()
        return run_id

    def reopen(self, run_id: str) -> bool:
        """Continue run `run_id` (a resumed `dlc run`): False when it is gone or deleted."""
        with self._errors():
            try:
                run = self.client.get_run(run_id)
            except Exception:
                return False
            if run.info.lifecycle_stage != "active":
                return False
            self.client.update_run(run_id, status="RUNNING")
            history = self.client.get_metric_history(run_id, "train_loss")
        self._logged[run_id] = {m.step for m in history}
        return True

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MAX_PARAM]) for k, v in params.items()]
        with self._errors():
            for i in range(0, len(items), 100):  # MLflow takes at most 100 params a call
                self.client.log_batch(run_id, params=items[i : i + 100])

    def log_metrics(self, run_id: str, metrics: dict[str, Any], step: int = 0) -> None:
        """Every finite number of `metrics` at `step`."""
        self._send(run_id, [(metrics, step)])

    def _send(self, run_id: str, rows: list[tuple[dict[str, Any], int]]) -> None:
        """(metrics, step) rows in as few calls as MLflow allows (1000 values a call)."""
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, v, now, step) for m, step in rows for k, v in _numbers(m).items()]
        with self._errors():
            for i in range(0, len(items), 1000):
                self.client.log_batch(run_id, metrics=items[i : i + 1000])

    def log_epochs(self, run_id: str, records: list[dict[str, Any]]) -> int:
        """`metrics.jsonl` records at step = their epoch, in one call per 1000 values, leaving
        out the epochs logged already (a resumed run retrains the epochs after its checkpoint:
        MLflow keeps the first). Returns how many epochs were logged."""
        logged = self._logged.setdefault(run_id, set())
        rows = []
        for record in records:
            epoch = int(record["epoch"])
            if epoch not in logged:
                rows.append((record, epoch))
                logged.add(epoch)
        if rows:
            self._send(run_id, rows)
        return len(rows)

    def log_files(self, run_id: str, files: list[Path], under: str | None = None) -> None:
        """Upload the files that exist, into the artifact folder `under`."""
        with self._errors():
            for path in files:
                if path.is_file():
                    self.client.log_artifact(run_id, str(path), under)

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        """FINISHED, FAILED or KILLED."""
        with self._errors():
            self.client.set_terminated(run_id, status)
