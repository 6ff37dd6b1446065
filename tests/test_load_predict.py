"""Issue 13: `dlc.load` of a run folder (validated as untrusted input), `dlc predict` for a
windowed series, class names and probabilities, digits arrays, and `dlc evaluate` with --json;
results.json and env.json in the run folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import dlc
from dlc.compiler.errors import DlcError
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
train {{ batch 256; epochs 2 }}
"""
CLASSES = f"""\
data {{
  csv "{WEATHER}" target=weather features=[temp_max, temp_min, precipitation, wind] classes=true
  split valid=0.2 test=0.2
  normalize standard
}}
model {{ dense 8; relu; dense 5 }}
loss cross_entropy
optimizer adam lr=0.01
train {{ batch 256; epochs 2 }}
"""
DIGITS = """\
data { digits; divide 16; split valid=0.1 test=0.2 }
model { dense 16; relu; dense 10 }
loss cross_entropy
optimizer adam lr=0.01
train { batch 256; epochs 1 }
"""


def parts_of(run: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The prepared train/valid/test parts of a run's data (`dlc.load` does not read them)."""
    from dlc.runtime.data.prepare import prepare
    from dlc.runtime.predict.loaded import spec_of_run
    from dlc.runtime.runs.folder import RunDir

    return prepare(spec_of_run(RunDir.open(run))).parts


def _train(tmp_path: Path, name: str, text: str) -> tuple[Path, Path]:
    spec = tmp_path / f"{name}.dl"
    spec.write_text(text)
    out = run_spec(spec, runs_root=tmp_path / "runs")
    return spec, out.run.path


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _train(tmp_path_factory.mktemp("series"), "series", SERIES)


@pytest.fixture(scope="module")
def classes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _train(tmp_path_factory.mktemp("classes"), "classes", CLASSES)


def test_run_folder_holds_results_and_env(series: tuple[Path, Path]) -> None:
    _, run = series
    results = json.loads((run / "results.json").read_text())
    assert set(results["metrics"]) == {"train", "valid", "test"}
    assert results["epochs"] == 2 and results["steps"] > 0 and results["wall_time_s"] > 0
    env = json.loads((run / "env.json").read_text())
    assert env["versions"]["jax"] and env["devices"]
    assert list(env["data"]) == [str(WEATHER)]


def test_load_predicts_raw_series_and_prepared_arrays(series: tuple[Path, Path]) -> None:
    _, run = series
    model = dlc.load(run)
    raw = model.predict(WEATHER)
    n = len(parts_of(run)["train"][0]) + len(parts_of(run)["valid"][0])
    x_test, y_test = parts_of(run)["test"]
    # the last windows of the file are the test part; one more predicts the day after the file
    np.testing.assert_allclose(
        raw[n : n + len(x_test)], model.predict(x_test, prepared=True), rtol=1e-6
    )
    assert len(raw) == n + len(x_test) + 1
    ev = model.evaluate(x_test, y_test, prepared=True)
    assert ev["loss"] == pytest.approx(
        json.loads((run / "results.json").read_text())["metrics"]["test"]["loss"], rel=1e-5
    )
    table = {"temp_max": [10.0, 11.0, 12.0, 13.0], "temp_min": [1.0, 2.0, 3.0, 4.0]}
    assert model.predict(table).shape == (2, 1)  # windows of 3 days predict days 4 and 5


def test_predict_and_evaluate_commands_on_a_series(
    series: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, run = series
    out = tmp_path / "pred.csv"
    args = ["--run", str(run), "--input", str(WEATHER)]
    assert main(["predict", str(spec), *args, "--output", str(out), "--name", "tmax"]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["row", "tmax"] and rows[1][0] == "4"  # the 4th day is the first predicted
    capsys.readouterr()
    assert main(["evaluate", str(spec), *args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["metrics"]) == {"loss", "mae"} and report["rows"] == len(rows) - 2


def test_classification_names_probabilities_and_confusion(
    classes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, run = classes
    model = dlc.load(run, spec=spec)
    assert model.class_names == ["drizzle", "fog", "rain", "snow", "sun"]
    out = tmp_path / "pred.csv"
    args = ["--run", str(run), "--input", str(WEATHER)]
    assert main(["predict", str(spec), *args, "--output", str(out), "--proba"]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["weather", *(f"p_{c}" for c in model.class_names)]
    assert {r[0] for r in rows[1:]} <= set(model.class_names)
    assert abs(sum(float(v) for v in rows[1][1:]) - 1) < 1e-4
    capsys.readouterr()
    assert main(["evaluate", str(spec), *args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sum(map(sum, report["confusion"])) == report["rows"] == len(rows) - 1
    assert "accuracy" in report["metrics"]


def test_digits_arrays(tmp_path: Path) -> None:
    spec, run = _train(tmp_path, "digits", DIGITS)
    model = dlc.load(run)
    x, y = parts_of(run)["test"]
    raw = x * 16  # pixels 0..16 as the source gives them
    np.save(tmp_path / "x.npy", raw)
    np.savez(tmp_path / "xy.npz", x=raw, y=y)
    np.testing.assert_allclose(
        model.predict(tmp_path / "x.npy"), model.predict(x, prepared=True), rtol=1e-5, atol=1e-6
    )
    assert model.evaluate(tmp_path / "xy.npz") == pytest.approx(model.evaluate(x, y, prepared=True))
    out = tmp_path / "pred.csv"
    assert (
        main(
            [
                "predict",
                str(spec),
                "--run",
                str(run),
                "--input",
                str(tmp_path / "x.npy"),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["label"] and len(rows) == len(x) + 1 and rows[1][0] in "0123456789"


def _copy_run(run: Path, dest: Path) -> Path:
    import shutil

    return Path(
        shutil.copytree(
            run, dest, ignore=shutil.ignore_patterns("checkpoints", "plots", "tensorboard")
        )
    )


def test_run_folder_is_validated(series: tuple[Path, Path], tmp_path: Path) -> None:
    _, run = series
    bad = _copy_run(run, tmp_path / "bad")
    params = load_file(bad / "params.safetensors")
    params["00_dense.w"] = np.zeros((3, 3), np.float32)
    params["99_extra.w"] = np.zeros(1, np.float32)
    save_file(params, bad / "params.safetensors")
    with pytest.raises(DlcError) as err:
        dlc.load(bad)
    text = str(err.value)
    assert "00_dense.w" in text and "99_extra.w" in text and "params.safetensors" in text
    bad2 = _copy_run(run, tmp_path / "bad2")
    save_file(
        {"shift": np.zeros(5, np.float32), "scale": np.ones(5, np.float32)},
        bad2 / "stats.safetensors",
    )
    with pytest.raises(DlcError, match="normalization statistics"):
        dlc.load(bad2)
    (bad2 / "stats.safetensors").write_bytes(b"garbage")
    with pytest.raises(DlcError, match="safetensors"):
        dlc.load(bad2)


def test_changed_data_is_warned(series: tuple[Path, Path], tmp_path: Path) -> None:
    _, run = series
    moved = _copy_run(run, tmp_path / "moved")
    env = json.loads((moved / "env.json").read_text())
    env["data"] = {k: "0" * 64 for k in env["data"]}
    (moved / "env.json").write_text(json.dumps(env))
    seen: list[str] = []
    from dlc.runtime.predict.loaded import load

    load(moved, warn=seen.append)
    assert seen and "changed since the run was trained" in seen[0]


SENTIMENT = """\
data { text "reviews.txt" length=8; split valid=0.25 }
model { embedding 8; seqpool mean; dense 2 }
loss cross_entropy
optimizer adam lr=0.05
train { batch 8; epochs 2 }
"""
REVIEWS = [
    ("a great film", "1"),
    ("awful and boring", "0"),
    ("great fun", "1"),
    ("boring plot", "0"),
    ("I loved it", "1"),
    ("I hated it", "0"),
] * 4


def test_text_predict_and_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "reviews.txt").write_text("".join(f"{t}\t{y}\n" for t, y in REVIEWS))
    spec, run = _train(tmp_path, "sentiment", SENTIMENT)
    model = dlc.load(run)
    assert model.class_names == ["0", "1"]
    prob = model.predict(["a great film", "awful plot"])
    assert prob.shape == (2, 2)
    (tmp_path / "in.txt").write_text("a great film\nawful plot\n")
    out = tmp_path / "pred.csv"
    args = ["--run", str(run), "--output", str(out), "--input", str(tmp_path / "in.txt")]
    assert main(["predict", str(spec), *args, "--proba", "--name", "positive"]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["text", "positive", "p_0", "p_1"] and rows[1][0] == "a great film"
    np.testing.assert_allclose([float(v) for v in rows[1][2:]], prob[0], rtol=1e-5)
    capsys.readouterr()
    args = ["--run", str(run), "--input", str(tmp_path / "reviews.txt"), "--json"]
    assert main(["evaluate", str(spec), *args]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == len(REVIEWS) and report["classes"] == ["0", "1"]


@pytest.mark.slow  # an experiment of 4 lanes plus the retraining
def test_experiment_retrained_model_is_a_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dlc.runtime.experiment.runner import run_experiment

    spec = tmp_path / "cv.dl"
    spec.write_text(
        SERIES.replace(
            "train {",
            'experiment { folds 2; grid "optimizer.lr" [0.01, 0.02]; retrain true }\ntrain {',
        )
    )
    result = run_experiment(spec, runs_root=tmp_path / "runs", say=lambda m: None)
    run = Path(result.retrain["run"])
    assert (run / "results.json").is_file() and (run / "env.json").is_file()
    model = dlc.load(run)
    x, y = parts_of(run)["test"]
    assert model.evaluate(x, y, prepared=True)["loss"] > 0
    out = tmp_path / "pred.csv"
    args = ["--run", str(run), "--input", str(WEATHER), "--output", str(out)]
    assert main(["predict", str(spec), *args]) == 0  # the experiment's own spec file
    assert len(list(csv.reader(out.open()))) > 100


def _write_idx(path: Path, images: np.ndarray) -> None:
    """An IDX file of uint8 images (magic 0x0803, then the dimensions big-endian)."""
    head = bytes([0, 0, 0x08, images.ndim]) + np.array(images.shape, ">u4").tobytes()
    path.write_bytes(head + images.astype(np.uint8).tobytes())


def test_idx_images_and_fizzbuzz_numbers(tmp_path: Path) -> None:
    _, run = _train(tmp_path, "digits", DIGITS)
    model = dlc.load(run)
    x = parts_of(run)["test"][0][:20]
    images = np.rint(x * 16).reshape(-1, 8, 8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    np.testing.assert_allclose(
        model.predict(tmp_path / "t10k-images-idx3-ubyte"),
        model.predict(images.reshape(-1, 64) / 16, prepared=True),
        rtol=1e-5,
        atol=1e-6,
    )
    fizz = tmp_path / "fizz"
    fizz.mkdir()
    text = "data { fizzbuzz train=[16, 255] test=[1, 15] bits=8; split valid=0 }\n"
    text += "model { dense 4 }\nloss cross_entropy\noptimizer adam\ntrain { epochs 1 }\n"
    spec, run = _train(fizz, "fizz", text)
    (fizz / "n.txt").write_text("3\n5\n15\n7\n")
    out = fizz / "pred.csv"
    assert (
        main(
            [
                "predict",
                str(spec),
                "--run",
                str(run),
                "--input",
                str(fizz / "n.txt"),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.reader(out.open()))
    assert len(rows) == 5 and {r[0] for r in rows[1:]} <= {"number", "fizz", "buzz", "fizzbuzz"}


def test_resume_warns_when_the_data_changed(tmp_path: Path) -> None:
    spec = tmp_path / "series.dl"
    spec.write_text(SERIES)
    run = run_spec(spec, runs_root=tmp_path / "runs").run.path
    env = json.loads((run / "env.json").read_text())
    env["data"] = {k: "0" * 64 for k in env["data"]}
    (run / "env.json").write_text(json.dumps(env))
    seen: list[str] = []
    run_spec(spec, runs_root=tmp_path / "runs", resume=run, warn=seen.append)
    assert any("changed since the run was trained" in m for m in seen)


@pytest.mark.slow  # a transformer seq2seq compiles for about half a minute
def test_seq2seq_evaluate_reports_exact_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "specs" / "seq2seq.dl").read_text()
    text = text.replace("n=20000 test=1000", "n=300 test=20").replace("epochs 4", "epochs 1")
    spec, run = _train(tmp_path, "s2s", text)
    (tmp_path / "pairs.txt").write_text("312\t123\n98765\t56789\n")
    args = ["--run", str(run), "--input", str(tmp_path / "pairs.txt"), "--json"]
    assert main(["evaluate", str(spec), *args]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 2 and 0 <= report["metrics"]["exact_match"] <= 1
    assert report["metrics"]["loss"] > 0 and "confusion" not in report
    (tmp_path / "bad.txt").write_text("312\n")
    args = ["--run", str(run), "--input", str(tmp_path / "bad.txt")]
    assert main(["evaluate", str(spec), *args]) == 2
    assert "source<TAB>target" in capsys.readouterr().err


def test_load_needs_no_training_data(tmp_path: Path) -> None:
    import shutil

    shutil.copy(WEATHER, tmp_path / "w.csv")
    _, run = _train(tmp_path, "moved", CLASSES.replace(str(WEATHER), "w.csv"))
    want = dlc.load(run).predict(WEATHER)
    (tmp_path / "w.csv").unlink()  # the run folder alone is enough now
    model = dlc.load(run)
    assert model.class_names == ["drizzle", "fog", "rain", "snow", "sun"]
    np.testing.assert_allclose(model.predict(WEATHER), want, rtol=1e-6)
    assert "accuracy" in model.evaluate(WEATHER)
    facts = json.loads((run / "data.json").read_text())
    (run / "data.json").write_text(json.dumps({**facts, "class_names": ["a"]}))
    with pytest.raises(DlcError, match=r"data\.json"):
        dlc.load(run)
    (run / "data.json").write_text(json.dumps({**facts, "input_shape": "x"}))
    with pytest.raises(DlcError, match=r"data\.json"):
        dlc.load(run)


def test_image_arrays_must_be_whole_rows(tmp_path: Path) -> None:
    _, run = _train(tmp_path, "digits", DIGITS)
    model = dlc.load(run)
    assert model.predict(np.zeros(64)).shape == (1, 10)  # one image
    assert model.predict(np.zeros((3, 8, 8))).shape == (3, 10)  # IDX-like images
    with pytest.raises(DlcError, match="cannot be rows of shape"):
        model.predict(np.zeros((1, 128)))  # never silently two images


def test_png_images(tmp_path: Path) -> None:
    from matplotlib.image import imsave

    spec, run = _train(tmp_path, "digits", DIGITS.replace("divide 16", "divide 255"))
    model = dlc.load(run)
    x = np.rint(parts_of(run)["test"][0][:4] * 255).reshape(-1, 8, 8)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, im in enumerate(x):
        imsave(folder / f"img{i}.png", im, cmap="gray", vmin=0, vmax=255)
    np.testing.assert_allclose(
        model.predict(folder), model.predict(x.reshape(-1, 64) / 255, prepared=True), atol=1e-4
    )
    out = tmp_path / "pred.csv"
    args = ["--run", str(run), "--input", str(folder), "--output", str(out)]
    assert main(["predict", str(spec), *args]) == 0
    assert [r[0] for r in csv.reader(out.open())][1:] == [f"img{i}.png" for i in range(4)]
