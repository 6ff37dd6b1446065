"""Runs people can trust: a killed `dlc run` resumes to the bit-identical end of an uninterrupted
one, a corrupt newest checkpoint falls back to an older one, a changed spec is refused, and the
seed alone decides the result.

Every `dlc run` here is a real subprocess (SIGKILL needs one) sharing a persistent JAX
compilation cache, so only the first run of a spec pays for XLA compilation.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from testutil import dlc_command

from dlc.runtime.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
WEATHER = ROOT / "specs" / "data" / "seattle-weather.csv"
EPOCHS = 40

# dropout: the resumed run must restore the PRNG key and step, or its masks differ;
# early stopping (which never triggers) with restore_best: the best parameters are restored too;
# plateau: its state (best loss, bad epochs, scale) is in the optimizer state and must come back;
# grad_norms: recorded at evaluation epochs without touching the state
SPEC = f"""\
data {{
  csv "{WEATHER}" target=temp_max features=[temp_max, temp_min, wind]
  window 3
  split valid=0.15 test=0.15
  normalize standard
}}
model {{ dense 16; relu; dropout 0.3; dense 1 }}
loss mse
optimizer adam lr=0.01
schedule plateau(0.5, patience=2, rtol=0.05)
train {{
  batch 64; epochs {EPOCHS}; seed 3; checkpoint_every 1; early_stop patience=1000; grad_norms true
}}
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("jax-cache")
    return {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        "COLUMNS": "200",
    }


def dlc(env: dict[str, str], *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(dlc_command(*args), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == expect, (
        f"dlc {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def only_run(runs: Path) -> Path:
    [run] = [p for p in runs.iterdir() if (p / "spec.json").is_file()]
    return run


def checkpoints(run: Path) -> list[Path]:
    folder = run / "checkpoints"
    return sorted(folder.glob("ckpt-*.safetensors")) if folder.is_dir() else []


def metric_rows(run: Path) -> list[dict[str, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        r.pop("time")  # wall time, the one thing that may differ
    return rows


def assert_tensorboard_matches_metrics(run: Path, resumed_from: int = 0) -> None:
    """Every epoch of metrics.jsonl is in the run's TensorBoard files exactly once, with its
    values (read naively, file after file: no reliance on TensorBoard's purge)."""
    from dlc.runtime.runs.tblog import read_histograms, read_scalars

    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    seen = [(step, tag) for step, tag, _ in read_scalars(run / "tensorboard")]
    assert len(seen) == len(set(seen)), "an epoch is in the event files twice"
    histograms = [(step, tag) for step, tag, _ in read_histograms(run / "tensorboard")]
    assert len(histograms) == len(set(histograms)), "a histogram is in the event files twice"
    # every epoch's histogram but perhaps the checkpoint's own, when the kill came between the
    # checkpoint and its histogram (no weights in metrics.jsonl to rebuild it from)
    wanted = {r["epoch"] for r in rows if "grad_norm/00_dense" in r}
    assert wanted - {resumed_from} <= {step for step, _ in histograms} <= wanted
    losses = {step: v for step, tag, v in read_scalars(run / "tensorboard") if tag == "loss/train"}
    assert losses == {r["epoch"]: pytest.approx(r["train_loss"]) for r in rows}


def assert_same_arrays(a: Path, b: Path) -> None:
    x, y = load_file(a), load_file(b)
    assert sorted(x) == sorted(y)
    for k in x:
        assert x[k].dtype == y[k].dtype and x[k].shape == y[k].shape, k
        assert x[k].tobytes() == y[k].tobytes(), f"{a.name}: `{k}` differs"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "weather.dl"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def reference(spec: Path, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run of the spec."""
    runs = tmp_path_factory.mktemp("reference")
    dlc(env, "run", str(spec), "--runs", str(runs), "--quiet")
    run = only_run(runs)
    assert len(metric_rows(run)) == EPOCHS
    return run


@pytest.mark.slow
def test_killed_run_resumes_to_the_identical_end(
    spec: Path, env: dict[str, str], reference: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        dlc_command("run", str(spec), "--runs", str(runs), "--quiet"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        while not any(checkpoints(r) for r in runs.glob("*")):
            assert proc.poll() is None, f"dlc run ended early: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    run = only_run(runs)
    assert not (run / "params.safetensors").exists(), "the run finished before it was killed"
    done = len(checkpoints(run))
    assert 1 <= done < EPOCHS

    # notes and warnings go to stderr, and not with --quiet
    out = dlc(env, "run", str(spec), "--runs", str(runs), "--resume", str(run)).stderr
    assert "resuming after epoch" in out
    resumed_from = int(out.split("resuming after epoch")[1].split()[0])
    assert 1 <= resumed_from < EPOCHS
    assert only_run(runs) == run  # resumed in place, no new run folder
    assert (run / "params.safetensors").read_bytes() == (
        reference / "params.safetensors"
    ).read_bytes()
    assert_same_arrays(checkpoints(run)[-1], checkpoints(reference)[-1])
    assert metric_rows(run) == metric_rows(reference)  # one line per epoch, no duplicates
    assert "grad_norm/00_dense" in metric_rows(run)[-1]  # `grad_norms true`: recorded, unchanged
    assert len({row["lr"] for row in metric_rows(run)}) > 2  # the plateau cut the lr, twice+
    assert_tensorboard_matches_metrics(run, resumed_from)  # no epoch lost or doubled by the kill


@pytest.mark.slow
def test_corrupt_newest_checkpoints_fall_back_to_an_older_one(
    spec: Path, env: dict[str, str], reference: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    run = runs / reference.name
    shutil.copytree(reference, run)
    (run / "params.safetensors").unlink()
    newest, second = checkpoints(run)[-1], checkpoints(run)[-2]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # truncated
    data = bytearray(second.read_bytes())
    data[-40:-20] = bytes(b ^ 0xFF for b in data[-40:-20])  # flipped tensor bytes
    second.write_bytes(bytes(data))

    proc = dlc(env, "run", str(spec), "--runs", str(runs), "--resume")  # warnings: stderr
    out = " ".join(proc.stderr.split())  # rich wraps long lines
    assert f"skipped checkpoint {newest.name}" in out
    assert f"skipped checkpoint {second.name}" in out
    assert "SHA-256" in out  # the flipped bytes fail the checksum
    assert f"resuming after epoch {EPOCHS - 2}" in out
    assert (run / "params.safetensors").read_bytes() == (
        reference / "params.safetensors"
    ).read_bytes()
    assert metric_rows(run) == metric_rows(reference)
    assert_tensorboard_matches_metrics(run)  # epochs 39 and 40 were written twice: once shown


def test_resume_with_a_changed_spec_is_refused(
    spec: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / reference.name
    shutil.copytree(reference, run)
    before = sorted(p.name for p in run.rglob("*"))
    code = main(
        [
            "run",
            str(spec),
            "--runs",
            str(tmp_path),
            "--quiet",
            "--resume",
            str(run),
            "--set",
            "optimizer.lr=0.02",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "the spec changed since run" in err and str(run) in err
    assert "hint:" in err and "--set" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in run.rglob("*")) == before  # the run is left alone


def test_resume_of_something_that_is_not_a_run(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(spec), "--runs", str(tmp_path), "--resume", str(tmp_path)]) == 2
    assert "not a dlc run folder" in capsys.readouterr().err
    assert main(["run", str(spec), "--runs", str(tmp_path / "none"), "--resume"]) == 2
    assert "no earlier run" in capsys.readouterr().err


@pytest.mark.slow
def test_the_seed_decides_the_parameters(
    spec: Path, env: dict[str, str], reference: Path, tmp_path: Path
) -> None:
    """Same seed, same parameters bit for bit; another seed, other parameters. (After the
    reference run the compilation cache is warm: only the seed and the checkpoints differ.)"""

    def params(name: str, seed: int) -> dict[str, np.ndarray]:
        sets = [f"train.seed={seed}", "train.checkpoint_every=1000"]
        dlc(env, "run", str(spec), "--runs", str(tmp_path / name), "--quiet",
            *(a for s in sets for a in ("--set", s)))  # fmt: skip
        return load_file(only_run(tmp_path / name) / "params.safetensors")

    a, b, c = params("a", 5), params("b", 5), params("c", 6)
    assert sorted(a) == sorted(b) == sorted(c)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    assert any(a[k].tobytes() != c[k].tobytes() for k in a)
