"""`dlc analyze`: the lecture's saddle at the origin, a trained local minimum, Lanczos above
--exact-limit, the report files, and chunked surfaces agreeing with the core."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlc.runtime.analysis import hessian, surface
from dlc.runtime.analysis.landscape import grid_losses, make_loss
from dlc.runtime.cli.main import main
from dlc.runtime.runs.folder import RunDir
from dlc.runtime.runs.pytree import unflatten_params
from dlc.runtime.runs.session import run_spec
from dlc.runtime.train.model import CompiledModel
from dlc.runtime.train.step import init_state

PNG = b"\x89PNG\r\n\x1a\n"
SPECS = Path(__file__).resolve().parents[1] / "specs"


def analyze(out: Path, *args: str) -> dict:
    assert main(["analyze", *args, "--out", str(out), "--n", "9"]) == 0
    return json.loads((out / "report.json").read_text())


def assert_linked_pngs(out: Path, names: list[str]) -> None:
    md = (out / "report.md").read_text()
    for name in names:
        assert (out / name).read_bytes()[:8] == PNG
        assert f"]({name})" in md


def train(spec: str, runs: Path, *overrides: str) -> Path:
    sets = [a for o in overrides for a in ("--set", o)]
    assert main(["run", str(SPECS / spec), "--runs", str(runs), "--quiet", *sets]) == 0
    (run,) = runs.iterdir()
    return run


@pytest.mark.parametrize("limit, method", [("2000", "exact"), ("1", "lanczos")])
def test_origin_is_a_saddle_and_the_escape_lowers_the_loss(tmp_path, capsys, limit, method):
    report = analyze(
        tmp_path / "o", str(SPECS / "saddle.dl"), "--at", "origin", "--exact-limit", limit
    )
    h = report["hessian"]
    # L(w1, w2) = (w1 w2 - 1)^2: at 0 the gradient vanishes and H = [[0, -2], [-2, 0]]
    assert h["verdict"] == "saddle point" and h["method"] == method
    assert h["grad_norm"] == 0.0 and report["loss"] == pytest.approx(1.0)
    assert (h["min_eig"], h["max_eig"]) == (pytest.approx(-2), pytest.approx(2))
    assert h["n_negative"] == (1 if method == "exact" else None)
    escape = report["escape"]
    assert escape["loss_before"] == pytest.approx(1.0) and escape["loss_after"] < 0.5
    out = capsys.readouterr().out
    assert "saddle point" in out and "escape step" in out
    # the spec starts at zero, so there is no line from init; the surface is drawn and linked
    assert report["plots"] == {"surface": "surface.png"}
    assert report["surface"]["log_colours"] is False  # a saddle reads best in linear colours
    assert_linked_pngs(tmp_path / "o", ["surface.png"])


def test_zero_init_training_stays_on_the_saddle(tmp_path) -> None:
    run = train("saddle.dl", tmp_path / "runs", "train.epochs=3")
    params = RunDir(run).load_arrays("params.safetensors")
    assert all(np.all(v == 0) for v in params.values())  # the gradient is exactly zero
    report = analyze(
        tmp_path / "a", str(SPECS / "saddle.dl"), "--run", str(run), "--set", "train.epochs=3"
    )
    assert report["at"] == "trained" and report["hessian"]["verdict"] == "saddle point"


def test_trained_is_a_local_minimum_with_line_and_surface(tmp_path, capsys) -> None:
    spec = str(SPECS / "saddle_trained.dl")
    run = train("saddle_trained.dl", tmp_path / "runs")
    assert (
        main(["analyze", spec, "--run", str(run), "--surface", "coords", "0", "1", "--n", "9"]) == 0
    )
    assert "local minimum" in capsys.readouterr().out
    out = run / "analysis"
    report = json.loads((out / "report.json").read_text())
    h = report["hessian"]
    assert h["verdict"] == "local minimum" and report["escape"] is None
    assert h["n_negative"] == 0 and h["n_flat"] == 1  # the valley w1 w2 = 1 is flat
    w = unflatten_params(RunDir(run).load_arrays("params.safetensors"))
    w1, w2 = float(w["00_dense"]["w"][0, 0]), float(w["01_dense"]["w"][0, 0])
    assert w1 * w2 == pytest.approx(1.0, abs=1e-4)
    assert h["max_eig"] == pytest.approx(2 * (w1**2 + w2**2), rel=1e-4)
    # the line starts at the parameters `dlc run` started from and ends at the trained ones
    model = CompiledModel.from_source(spec)
    program = model.program(8)
    start = init_state(program, model.spec.train.seed)
    loss = make_loss(program, start.model_state, *model.data.parts["train"])
    alphas, line = np.array(report["line"]["alpha"]), np.array(report["line"]["loss"])
    at_a, at_b = np.flatnonzero(np.isclose(alphas, 0.0)), np.flatnonzero(np.isclose(alphas, 1.0))
    assert line[at_a] == pytest.approx(float(loss(start.params)), rel=1e-6)
    assert line[at_b] < 1e-6 < line[at_a]
    assert report["surface"]["log_colours"] is True  # the narrow valley needs log colours
    assert report["surface"]["kind"] == "coords" and "00_dense.w[0,0]" in report["surface"]["title"]
    assert_linked_pngs(out, ["line.png", "surface.png"])


def test_lanczos_above_the_exact_limit_matches_the_full_spectrum(tmp_path) -> None:
    spec = tmp_path / "mlp.dl"  # 1 -> 4 tanh -> 1: 13 parameters, over --exact-limit 10
    spec.write_text(
        f'data {{ csv "{SPECS / "data" / "saddle.csv"}" target=y features=[x]; '
        "split valid=0 test=0 }\n"
        "model { dense 4 init=normal; tanh; dense 1 init=normal }\n"
        "loss mse\noptimizer sgd lr=0.1\n"
    )
    report = analyze(tmp_path / "l", str(spec), "--exact-limit", "10")
    h = report["hessian"]
    assert h["method"] == "lanczos" and h["n_params"] == 13 and h["n_negative"] is None
    assert report["at"] == "init" and "n/a" in (tmp_path / "l" / "report.md").read_text()
    model = CompiledModel.from_source(spec)
    x, y = model.data.parts["train"]
    program = model.program(len(x))
    start = init_state(program, model.spec.train.seed)
    vals, _ = hessian.exact_spectrum(make_loss(program, start.model_state, x, y), start.params)
    scale = float(np.abs(vals).max())
    assert h["min_eig"] == pytest.approx(float(vals[0]), abs=1e-4 * scale)
    assert h["max_eig"] == pytest.approx(float(vals[-1]), abs=1e-4 * scale)


def test_eval_mode_loss_uses_the_runs_batchnorm_statistics(tmp_path) -> None:
    spec = tmp_path / "bn.dl"  # params.safetensors lacks the running statistics: checkpoints
    spec.write_text(
        f'data {{ csv "{SPECS / "data" / "saddle.csv"}" target=y features=[x]; '
        "split valid=0 test=0 }\n"
        "model { dense 4; batchnorm; tanh; dense 1 }\n"
        "loss mse\noptimizer sgd lr=0.1\ntrain { batch 4; epochs 3 }\n"
    )
    outcome = run_spec(str(spec), runs_root=tmp_path / "runs", warn=print)
    report = analyze(tmp_path / "a", str(spec), "--run", str(outcome.run.path))
    assert report["note"] == "model state from the run's last checkpoint"
    assert report["loss"] == pytest.approx(outcome.final["train_loss"], rel=1e-5)


def test_chunked_grid_equals_the_core_surface() -> None:
    def loss(p):
        return jnp.sum(jnp.tanh(p["a"]) ** 2) - p["b"] @ p["a"][:2]

    params = {"a": jnp.array([0.3, -0.2, 0.5]), "b": jnp.array([1.0, 2.0])}
    d1, d2 = surface.random_directions(params, jax.random.key(3))
    xs, ys, want = surface.loss_surface_2d(loss, params, d1, d2, span=0.7, n=7)
    got = grid_losses(loss, params, d1, d2, xs, ys, chunk=5)  # 49 points, 5 at a time
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--at", "trained"], "needs the run folder"),
        (["--at", "origin", "--surface", "coords", "0", "2"], "two different flat parameter"),
        (["--at", "origin", "--surface", "diagonal"], "bad --surface"),
    ],
)
def test_bad_requests_are_dlc_errors(tmp_path, capsys, args: list[str], message: str) -> None:
    assert main(["analyze", str(SPECS / "saddle.dl"), "--out", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_a_run_of_another_spec_is_refused(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.json").write_text(json.dumps({"hash": "0" * 64}))
    assert main(["analyze", str(SPECS / "saddle.dl"), "--run", str(run)]) == 2
    assert "different spec" in capsys.readouterr().err
