"""Issue 13: `dlc export --format stablehlo` writes a jax.export artifact that a process without
dlc reloads with `jax.export.deserialize` alone and that matches `dlc predict` to 1e-6 (an MLP
on a windowed series, a CNN on digit images with `divide` folded in, a transformer encoder on
token ids); `model.json` describes input and output."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dlc
from dlc.runtime.cli.main import main
from dlc.runtime.runs.session import run_spec

ROOT = Path(__file__).resolve().parents[1]
WEATHER = ROOT / "specs" / "data" / "seattle-weather.csv"
SERIES = f"""\
data {{
  csv "{WEATHER}" target=temp_max features=[temp_max, temp_min]
  window 3
  split valid=0.15 test=0.15
  normalize standard
}}
model {{ dense 4; relu; dense 1 }}
loss mse
optimizer adam lr=0.01
train {{ batch 256; epochs 1 }}
"""
CNN = """\
data { digits flat=false; divide 16; split valid=0.1 test=0.2 }
model { conv2d 4 3; relu; maxpool; flatten; dense 10 }
loss cross_entropy
optimizer adam lr=0.01
train { batch 256; epochs 1 }
"""
ENCODER = """\
data { text "reviews.txt" length=8; split valid=0.25 }
model { embedding 8; positional sinusoidal; encoder_block heads=2 ff=16; seqpool mean; dense 2 }
loss cross_entropy
optimizer adam lr=0.05
train { batch 8; epochs 1 }
"""
RELOAD = """
import sys, numpy as np, jax
exp = jax.export.deserialize(open(sys.argv[1], "rb").read())
x = np.load(sys.argv[2])
np.save(sys.argv[3], np.asarray(exp.call(x)))
assert not any(m == "dlc" or m.startswith("dlc.") for m in sys.modules), "dlc was imported"
"""


def parts_of(run: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The prepared train/valid/test parts of a run's data (`dlc.load` does not read them)."""
    from dlc.runtime.data.prepare import prepare
    from dlc.runtime.predict.loaded import spec_of_run
    from dlc.runtime.runs.folder import RunDir

    return prepare(spec_of_run(RunDir.open(run))).parts


def _reload(artifact: Path, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    """Run the artifact in a fresh process that imports only jax and numpy."""
    np.save(tmp_path / "x.npy", x)
    script = tmp_path / "reload.py"
    script.write_text(RELOAD)
    out = tmp_path / "y.npy"
    subprocess.run(
        [sys.executable, str(script), str(artifact), str(tmp_path / "x.npy"), str(out)],
        check=True,
        cwd=tmp_path,
        env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"},
    )
    return np.load(out)


def _export(tmp_path: Path, name: str, text: str) -> tuple[Path, Path, Path]:
    spec = tmp_path / f"{name}.dl"
    spec.write_text(text)
    run = run_spec(spec, runs_root=tmp_path / "runs").run.path
    assert (
        main(["export", str(run), "--format", "stablehlo", "--output", str(tmp_path / "ex")]) == 0
    )
    return spec, run, tmp_path / "ex" / "model.stablehlo"


def _predicted(spec: Path, run: Path, inp: Path, tmp_path: Path, cols: slice) -> np.ndarray:
    out = tmp_path / "pred.csv"
    args = ["--run", str(run), "--input", str(inp), "--output", str(out)]
    assert main(["predict", str(spec), *args, "--proba"]) == 0
    rows = list(csv.reader(out.open()))[1:]
    return np.array([[float(v) for v in r[cols]] for r in rows])


def test_series_mlp_export_matches_predict(tmp_path: Path) -> None:
    spec, run, artifact = _export(tmp_path, "series", SERIES)
    doc = json.loads((artifact.parent / "model.json").read_text())
    assert doc["input"]["shape"] == ["batch", 6] and doc["input"]["window"] == 3
    assert "normalize standard" in doc["input"]["preprocessing"]
    with WEATHER.open() as f:
        rows = list(csv.DictReader(f))
    x = np.array([[float(r["temp_max"]), float(r["temp_min"])] for r in rows], np.float32)
    windows = np.stack([x[t - 3 : t].reshape(-1) for t in range(3, len(x) + 1)])
    got = _reload(artifact, windows, tmp_path)
    want = _predicted(spec, run, WEATHER, tmp_path, slice(1, None))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.slow  # compiling a CNN / an attention layer: about 20 s on 2 cores
def test_cnn_export_folds_divide_and_returns_probabilities(tmp_path: Path) -> None:
    spec, run, artifact = _export(tmp_path, "cnn", CNN)
    raw = parts_of(run)["test"][0] * 16  # pixels 0..16 as the source gives them
    np.save(tmp_path / "raw.npy", raw)
    got = _reload(artifact, raw.astype(np.float32), tmp_path)
    want = _predicted(spec, run, tmp_path / "raw.npy", tmp_path, slice(1, None))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    doc = json.loads((artifact.parent / "model.json").read_text())
    assert doc["output"]["classes"] == [str(i) for i in range(10)]
    assert (
        doc["input"]["shape"] == ["batch", 8, 8, 1] and "divide 16" in doc["input"]["preprocessing"]
    )


@pytest.mark.slow  # compiling a CNN / an attention layer: about 20 s on 2 cores
def test_transformer_encoder_export_takes_token_ids(tmp_path: Path) -> None:
    reviews = [("a great film", "1"), ("awful and boring", "0"), ("great fun", "1")] * 6
    (tmp_path / "reviews.txt").write_text("".join(f"{t}\t{y}\n" for t, y in reviews))
    _, run, artifact = _export(tmp_path, "enc", ENCODER)
    model = dlc.load(run)
    x = parts_of(run)["train"][0][:5]
    got = _reload(artifact, x, tmp_path)
    np.testing.assert_allclose(got, model.predict(x, prepared=True), rtol=1e-6, atol=1e-6)
    assert json.loads((artifact.parent / "model.json").read_text())["input"]["dtype"] == "int32"


def test_onnx_without_the_extra_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("jax", reason="needs jax")
    try:
        import jax2onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        spec = tmp_path / "s.dl"
        spec.write_text(SERIES)
        run = run_spec(spec, runs_root=tmp_path / "runs").run.path
        assert main(["export", str(run), "--format", "onnx"]) == 2
        assert "dlc[onnx]" in capsys.readouterr().err
    else:
        pytest.skip("the onnx extra is installed: tests/test_export_onnx.py covers it")
