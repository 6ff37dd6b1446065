"""Issue 13: `dlc export --format onnx` (the `onnx` extra: jax2onnx + onnxruntime) writes a
model that onnxruntime runs to within 1e-5 of `dlc predict` for an MLP, a CNN and a
transformer encoder; skipped with the reason when the extra is not installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_export import CNN, ENCODER, SERIES, parts_of

import dlc
from dlc.runtime.cli.main import main
from dlc.runtime.runs.session import run_spec

pytestmark = pytest.mark.slow  # three conversions and onnxruntime sessions: about a minute
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
pytest.importorskip("jax2onnx", reason="the onnx extra is not installed")


def _onnx(tmp_path: Path, text: str) -> tuple[dlc.TrainedModel, Path]:
    spec = tmp_path / "m.dl"
    spec.write_text(text)
    run = run_spec(spec, runs_root=tmp_path / "runs").run.path
    assert main(["export", str(run), "--format", "onnx", "--output", str(tmp_path / "ex")]) == 0
    return dlc.load(run), tmp_path / "ex" / "model.onnx"


@pytest.mark.parametrize("kind", ["mlp", "cnn", "encoder"])
def test_onnx_matches_predict(kind: str, tmp_path: Path) -> None:
    if kind == "encoder":
        reviews = [("a great film", "1"), ("awful and boring", "0"), ("great fun", "1")] * 6
        (tmp_path / "reviews.txt").write_text("".join(f"{t}\t{y}\n" for t, y in reviews))
    model, path = _onnx(tmp_path, {"mlp": SERIES, "cnn": CNN, "encoder": ENCODER}[kind])
    x = parts_of(model.run.path)["train"][0][:7]
    raw = x if kind == "encoder" else None
    if kind == "cnn":
        raw = (x * 16).astype(np.float32)  # the export takes raw pixels (divide folded in)
    if kind == "mlp":
        raw = (x * model.stats["scale"] + model.stats["shift"]).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": raw})[0]
    np.testing.assert_allclose(got, model.predict(x, prepared=True), rtol=1e-5, atol=1e-5)
