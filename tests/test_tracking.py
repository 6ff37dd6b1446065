"""Tracking: `--track mlflow` logs a run (the resolved spec as params, per-epoch metrics, results,
plots as artifacts) and an experiment (a parent run, one child per lane); TensorBoard keeps one
value per epoch across `--resume` and gets each lane's curves and hyperparameters. Everything is
read back with MLflow's client and the event files' own records, in a temporary store."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from dlc.compiler.errors import DlcError
from dlc.runtime.cli.main import main
from dlc.runtime.runs.tblog import TensorBoardLogger, read_events, read_scalars
from dlc.runtime.runs.tracking import Tracker, spec_params

DATA = Path(__file__).resolve().parents[1] / "specs" / "data" / "seattle-weather.csv"
SPEC = (
    "data {\n"
    f'  csv "{DATA}" target=temp_max features=[temp_max, temp_min]\n'
    "  window 2\n  split valid=0.2 test=0.1\n  normalize standard\n}\n"
    "model { dense 4; relu; dense 1 }\nloss mse\noptimizer adam lr=0.01\n"
    "train { batch 64; epochs 4; seed 0; checkpoint_every 1 }\n"
)


def _client(uri: str) -> object:
    mlflow = pytest.importorskip("mlflow.tracking")
    return mlflow.MlflowClient(tracking_uri=uri)


def _steps(client: object, run_id: str, key: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, key)]  # type: ignore[attr-defined]


def test_spec_params_are_named_like_set_keys() -> None:
    tree = {
        "Spec": {
            "optimizer": {"adam": {"lr": 0.01, "clip": None}},
            "model": {"Model": {"layers": [{"dense": {"units": 8}}, {"relu": {}}]}},
            "train": {"Train": {"batch": 32, "early_stop": None}},
        }
    }
    assert spec_params(tree) == {
        "optimizer": "adam",
        "optimizer.lr": "0.01",
        "optimizer.clip": "null",
        "model.layers.0": "dense",
        "model.layers.0.units": "8",
        "model.layers.1": "relu",
        "train.batch": "32",
        "train.early_stop": "null",
    }


def test_a_missing_mlflow_is_a_dlc_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(DlcError, match=r"needs MLflow") as err:
        Tracker(f"sqlite:///{tmp_path / 'm.db'}", "x")
    assert "dlc[track]" in err.value.render()
    spec = tmp_path / "tiny.dl"
    spec.write_text(SPEC)
    code = main(["run", str(spec), "--runs", str(tmp_path / "runs"), "--track", "mlflow"])
    assert code == 2 and "dlc[track]" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # refused before any run folder


def test_a_bad_tracking_uri_is_a_dlc_error_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mlflow")
    with pytest.raises(DlcError, match="MLflow tracking at nope://x failed"):
        Tracker("nope://x", "x")
    spec = tmp_path / "tiny.dl"
    spec.write_text(SPEC)
    args = ["run", str(spec), "--runs", str(tmp_path / "runs"), "--track", "mlflow"]
    assert main([*args, "--track-uri", f"file:{tmp_path / 'fs'}"]) == 2
    assert "MLFLOW_ALLOW_FILE_STORE=true" in capsys.readouterr().err  # MLflow 3's file store
    assert not (tmp_path / "runs").exists()


def test_the_environments_tracking_uri_is_used_and_epochs_are_logged_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Any MLflow URI by setting: here MLflow's own file store (allowed by its variable)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file:{tmp_path / 'fs'}")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = _client(f"file:{tmp_path / 'fs'}")
    tracker = Tracker(None, "tiny")
    assert tracker.uri == f"file:{tmp_path / 'fs'}"
    run_id = tracker.start("r", {"optimizer.lr": 0.01})
    records = [{"epoch": e, "step": 10 * e, "train_loss": 1 / e} for e in (1, 2)]
    assert tracker.log_epochs(run_id, records) == 2
    assert tracker.log_epochs(run_id, [*records, {"epoch": 3, "train_loss": 0.3}]) == 1
    tracker.end(run_id)
    again = Tracker(None, "tiny")
    assert again.reopen(run_id)  # as `--resume` does: the logged epochs are known
    assert again.log_epochs(run_id, records) == 0
    assert _steps(client, run_id, "train_loss") == [1, 2, 3]


def test_resumed_tensorboard_rewrites_exactly_the_kept_epochs(tmp_path: Path) -> None:
    """A run killed after checkpointing epoch 3 but before TensorBoard got it, having also
    written epoch 4 of a later checkpoint that never came: the resumed file holds 1..3 once."""
    import numpy as np

    from dlc.runtime.runs.tblog import read_histograms

    weights = {"00_dense": {"w": np.ones((3, 2)), "b": np.zeros(2)}}
    with TensorBoardLogger(tmp_path) as tb:
        for e in (1, 2, 4):
            tb.log({"epoch": e, "train_loss": 10.0 - e}, e)
            if e % 2 == 0:
                tb.log_histograms(weights, e)
    (tmp_path / "events.out.tfevents.9999999999.damaged").write_bytes(b"\x05" + b"\x00" * 20)
    kept = [{"epoch": e, "step": 10 * e, "train_loss": 10.0 - e} for e in (1, 2, 3)]
    with TensorBoardLogger.resumed(tmp_path, kept) as tb:
        tb.log({"epoch": 4, "train_loss": 6.5}, 4)
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1
    losses = [(s, v) for s, tag, v in read_scalars(tmp_path) if tag == "loss/train"]
    assert losses == [(1, 9.0), (2, 8.0), (3, 7.0), (4, 6.5)]
    assert read_histograms(tmp_path) == [(2, "weights/00_dense", 8)]  # epoch 4's is retrained


@pytest.mark.slow
def test_run_is_tracked_and_a_resume_neither_loses_nor_repeats_an_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    client = _client(uri)
    spec = tmp_path / "tiny.dl"
    spec.write_text(SPEC)
    runs = tmp_path / "runs"
    args = ["run", str(spec), "--runs", str(runs), "--quiet", "--track", "mlflow"]
    assert main([*args, "--track-uri", uri]) == 0, capsys.readouterr()
    (run,) = runs.iterdir()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    run_id = json.loads((run / "tracking.json").read_text())["run_id"]
    got = client.get_run(run_id)  # type: ignore[attr-defined]
    assert got.info.status == "FINISHED" and got.info.run_name == run.name
    params = got.data.params
    assert params["optimizer"] == "adam" and params["optimizer.lr"] == "0.01"
    assert params["model.layers.0"] == "dense" and params["model.layers.0.units"] == "4"
    assert params["train.epochs"] == "4"
    assert got.data.tags["dlc.spec_hash"] == json.loads((run / "spec.json").read_text())["hash"]
    history = client.get_metric_history(run_id, "train_loss")  # type: ignore[attr-defined]
    assert [(m.step, m.value) for m in history] == [
        (r["epoch"], pytest.approx(r["train_loss"])) for r in rows
    ]
    results = json.loads((run / "results.json").read_text())["metrics"]
    assert got.data.metrics["final_test_loss"] == pytest.approx(results["test"]["loss"])
    artifacts = {a.path for a in client.list_artifacts(run_id)}  # type: ignore[attr-defined]
    assert {"spec.dl", "results.json", "metrics.jsonl", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(run_id, "plots")}  # type: ignore[attr-defined]
    assert "plots/loss.png" in plots

    # as if killed after checkpointing epoch 3 but before TensorBoard got epoch 3
    (run / "params.safetensors").unlink()
    newest = sorted((run / "checkpoints").glob("ckpt-*"))[-1]
    newest.unlink()
    shutil.rmtree(run / "tensorboard")
    with TensorBoardLogger(run / "tensorboard") as tb:
        for r in rows[:2]:
            tb.log(r, r["epoch"])
    resumed = [*args, "--track-uri", uri, "--resume", str(run)]
    assert main(resumed) == 0, capsys.readouterr()
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 4  # epoch 4 again, once
    assert _steps(client, run_id, "train_loss") == [1, 2, 3, 4]  # the same MLflow run, once
    assert client.get_run(run_id).info.status == "FINISHED"  # type: ignore[attr-defined]
    tb_steps = [s for s, tag, _ in read_scalars(run / "tensorboard") if tag == "loss/train"]
    assert tb_steps == [1, 2, 3, 4]


@pytest.mark.slow
def test_experiment_lanes_are_child_runs_and_tensorboard_sessions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = _client(uri)
    spec = tmp_path / "tiny.dl"
    spec.write_text(
        SPEC + 'experiment { seeds [0, 1]; grid "optimizer.lr" [0.01, 0.1]; retrain true }\n'
    )
    runs = tmp_path / "runs"
    args = ["experiment", str(spec), "--runs", str(runs), "--quiet", "--set", "train.epochs=3"]
    code = main([*args, "--track", "mlflow", "--track-uri", uri])
    assert code == 0, capsys.readouterr()
    (report,) = runs.glob("tiny-experiment-*")
    exp = client.get_experiment_by_name("tiny")  # type: ignore[attr-defined]
    found = client.search_runs([exp.experiment_id])  # type: ignore[attr-defined]
    [parent] = [r for r in found if r.data.tags.get("dlc.kind") == "experiment"]
    lanes = [r for r in found if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(lanes) == 4 and parent.info.run_name == report.name
    assert "optimizer.lr" not in parent.data.params  # it varies: a child's param
    assert parent.data.params["best"].startswith("optimizer.lr=")
    assert "best_valid_loss_mean" in parent.data.metrics
    assert "retrained_test_loss" in parent.data.metrics
    (retrained,) = runs.glob("tiny-retrained-*")
    assert parent.data.tags["dlc.retrained_run"] == str(retrained.resolve())
    assert {(r.data.params["optimizer.lr"], r.data.params["seed"]) for r in lanes} == {
        (lr, s) for lr in ("0.01", "0.1") for s in ("0", "1")
    }
    for r in lanes:
        assert _steps(client, r.info.run_id, "train_loss") == [1, 2, 3]
        assert _steps(client, r.info.run_id, "valid_loss") == [1, 2, 3]
    rows = {
        int(r["lane"]): r for r in json.loads((report / "experiment.json").read_text())["lanes"]
    }
    for i, row in rows.items():
        folder = report / "tensorboard" / f"lane-{i:03d}"
        scalars = read_scalars(folder)
        assert [s for s, tag, _ in scalars if tag == "loss/train"] == [1, 2, 3]
        final = [v for _, tag, v in scalars if tag == "hparams/valid_loss"]
        assert final == [pytest.approx(row["valid_loss"])]
        plugins = [
            v.metadata.plugin_data.plugin_name
            for e in read_events(folder)
            for v in e.summary.value
            if v.HasField("metadata")
        ]
        assert plugins.count("hparams") == 3  # experiment, session start, session end
