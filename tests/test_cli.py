"""The `dlc` command line: explain round trips, --set overrides, check without JAX, what a run
folder holds, plot, predict, and bad command lines that end in a dlc error, not a traceback."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from testutil import dlc_command

from dlc.compiler.errors import DlcError
from dlc.compiler.explain import to_dl
from dlc.compiler.frontend import load_spec
from dlc.runtime.cli.main import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.dl"))
DATA = Path(__file__).resolve().parent / "data"
PNG = b"\x89PNG\r\n\x1a\n"

HOUSES = f"""\
data {{
  csv "{DATA / "houses.csv"}" target=price id=id
  split valid=0.2 test=0.1
  normalize standard
}}
model {{ dense 8; batchnorm momentum=0.5; relu; dense 1 }}
loss mse
optimizer adam lr=0.05
train {{ batch 32; epochs 50; checkpoint_every 2 }}
"""
EPOCHS = 5  # set on the command line


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# -- explain ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_explain_round_trips_every_spec(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = load_spec(path).spec
    # expanded, a grid's `model.repeat` names what the file has and the output does not
    assert load_spec(to_dl(spec), check_grid_paths=False).spec == spec
    code, out, _ = run_main(capsys, "explain", str(path))
    assert code == 0
    assert load_spec(out, check_grid_paths=False).spec == spec
    assert to_dl(load_spec(out, check_grid_paths=False).spec) == out  # explain of explain


# -- --set ----------------------------------------------------------------------------------
def test_overrides_change_the_spec(capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "specs" / "linear_7days.dl"
    sets = ["train.epochs=5", "optimizer.lr=3e-4", "data.window=28"]
    spec = load_spec(path, overrides=sets).spec
    base = load_spec(path).spec
    assert (spec.train.epochs, spec.optimizer.lr, spec.data.window.size) == (5, 3e-4, 28)
    assert (base.train.epochs, base.optimizer.lr, base.data.window.size) == (100, 0.01, 7)
    # everything else is untouched
    assert (
        spec.model_copy(
            update={"train": base.train, "optimizer": base.optimizer, "data": base.data}
        )
        == base
    )
    code, out, _ = run_main(capsys, "explain", str(path), *(a for s in sets for a in ("--set", s)))
    assert code == 0
    assert load_spec(out).spec == spec


@pytest.mark.parametrize(
    ("override", "message", "hint"),
    [
        ("train.epoch=5", "unknown setting `epoch` in `train`", "did you mean `epochs`?"),
        ("optimizer.lr=-1", "greater than 0", "--set optimizer.lr=-1"),
        ("nonsense", "override `nonsense` has no `=`", "--set section.key=value"),
        ("train.epochs=abc", "valid integer", "--set train.epochs=abc"),
        ("optimizer.lr=", "must set one value", "e.g. --set"),
        ("train..epochs=3", "not a dotted name", "e.g. --set"),
        ("loss=msee", "unknown loss `msee`", "did you mean `mse`?"),
    ],
)
def test_bad_overrides_are_dlc_errors_with_hints(
    override: str, message: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = ROOT / "specs" / "linear_7days.dl"
    with pytest.raises(DlcError) as info:
        load_spec(path, overrides=[override])
    [d] = info.value.diagnostics
    assert message in d.message
    assert d.hint is not None and hint in d.hint
    assert d.span is not None or d.where  # located: in the --set text (or named)
    if d.span is not None:
        assert d.span.file == "--set[0]"  # not the spec file: the file is fine
    for cmd in ("explain", "check"):
        code, out, err = run_main(capsys, cmd, str(path), "--set", override)
        assert code == 2
        assert message in err and "hint:" in err and "Traceback" not in err
        assert out == ""


# -- check --------------------------------------------------------------------------------------
def test_check_imports_only_the_registry_modules_its_spec_names() -> None:
    """`dlc check` start-up (issue 19): a spec builds the classes it names, not every class of
    each registry; a module-level import of another source, loss or layer class in the check
    path would bring this back."""
    code = (
        "import json, sys\n"
        "from dlc.runtime.cli.main import main\n"
        f"code = main(['check', {str(ROOT / 'specs' / 'sigmoids.dl')!r}])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('dlc.'))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    named = {"sources.csv", "layers.core", "layers.sigmoid", "losses.mse", "optimizers.adam"}
    named |= {"schedules.warmup", "schedules.cosine"}
    assert {f"dlc.compiler.{m}" for m in named} <= loaded
    unused = {"sources.npy", "sources.parquet", "text_sources", "losses.cross_entropy"}
    unused |= {"optimizers.sgd", "schedules.plateau", "distributions.choice", "layers.relu"}
    unused |= {"layers.dropout", "layers.inputs"}
    assert not {f"dlc.compiler.{m}" for m in unused} & loaded
    assert not {"dlc.runtime.experiment.programs", "dlc.runtime.data.tokens"} & loaded


def test_check_in_process_leaves_the_garbage_collector_as_it_was(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`check` runs with the collector off (`main._short`); called with an argv (not the
    process's own command line) it turns it back on and freezes nothing."""
    import gc

    frozen = gc.get_freeze_count()
    code, out, _ = run_main(capsys, "check", str(ROOT / "specs" / "sigmoids.dl"))
    assert code == 0 and "ok" in out
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_check_prints_the_layer_table_without_importing_jax() -> None:
    code = (
        "import json, sys\n"
        "from dlc.runtime.cli.main import main\n"
        f"code = main(['check', {str(ROOT / 'specs' / 'relu_deep.dl')!r}])\n"
        "print(json.dumps({'code': code, 'heavy': sorted(m for m in sys.modules\n"
        "    if m.split('.')[0] in ('jax', 'jaxlib', 'optax', 'matplotlib'))}))\n"
    )
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    *table, last = proc.stdout.strip().splitlines()
    assert json.loads(last) == {"code": 0, "heavy": []}
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in table if "│" in line]
    for r in rows:  # shapes as (32) or (32,)
        r[2] = r[2].replace(",)", ")")
    # 14 days x 4 features = 56 inputs; dense 56->32, twice 32->32, then 32->1
    dense = [r for r in rows if r[1] == "dense"]
    assert [r[2:] for r in dense] == [
        ["(32)", f"{56 * 32 + 32:,}"],
        ["(32)", f"{32 * 32 + 32:,}"],
        ["(32)", f"{32 * 32 + 32:,}"],
        ["(1)", "33"],
    ]
    assert ["", "input", "(56)", ""] in rows
    assert [r for r in rows if r[1] == "relu"] == [[str(i), "relu", "(32)", "0"] for i in (1, 3, 5)]
    assert ["", "total", "", f"{56 * 32 + 32 + 2 * (32 * 32 + 32) + 33:,}"] in rows
    assert "data: train 1013, valid 217, test 217 rows" in proc.stdout


# -- a run and its folder ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "houses.dl"
    path.write_text(HOUSES)
    return path


@pytest.fixture(scope="module")
def run(spec_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "COLUMNS": "200"}
    proc = subprocess.run(
        dlc_command(
            "run",
            str(spec_file),
            "--runs",
            str(runs),
            "--quiet",
            "--plots",
            "--set",
            f"train.epochs={EPOCHS}",
        ),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    [folder] = list(runs.iterdir())
    assert f"run folder: {folder}" in proc.stdout
    assert "final metrics" in proc.stdout
    return folder


def test_run_folder_holds_everything(run: Path, spec_file: Path) -> None:
    spec = load_spec(spec_file, overrides=[f"train.epochs={EPOCHS}"]).spec
    assert load_spec(run / "spec.dl").spec == spec  # the resolved spec, overrides applied
    assert (run / "source.dl").read_text() == HOUSES  # what was written, as written

    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1))
    for r in rows:
        assert {"step", "train_loss", "valid_loss", "lr", "time"} <= set(r)
        assert np.isfinite(r["train_loss"]) and np.isfinite(r["valid_loss"])
    assert rows[-1]["valid_loss"] < rows[0]["valid_loss"]

    params = load_file(run / "params.safetensors")
    assert {k: v.shape for k, v in params.items()} == {
        "00_dense.w": (3, 8),
        "00_dense.b": (8,),
        "01_batchnorm.gamma": (8,),
        "01_batchnorm.beta": (8,),
        "03_dense.w": (8, 1),
        "03_dense.b": (1,),
    }
    state = load_file(run / "model_state.safetensors")
    assert sorted(state) == ["01_batchnorm.mean", "01_batchnorm.var"]
    assert not np.allclose(state["01_batchnorm.mean"], 0.0)  # trained, not the initial values

    plots = sorted(p.name for p in (run / "plots").glob("*.png"))
    assert {"loss.png", "lr.png"} <= set(plots)
    for p in (run / "plots").glob("*.png"):
        assert p.read_bytes()[:8] == PNG

    [events] = list((run / "tensorboard").glob("events.out.tfevents.*"))
    data = events.read_bytes()
    assert len(data) > 100
    assert b"loss/train" in data and b"loss/valid" in data

    # checkpoint_every 2 of 5 epochs: after epochs 2 and 4, and one at the end
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("ckpt-*.safetensors"))
    steps = [r["step"] for r in rows]
    assert ckpts == [f"ckpt-{steps[e - 1]:09d}.safetensors" for e in (2, 4, 5)]


def test_plot_redraws_the_pictures(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / run.name
    copy.mkdir()
    (copy / "metrics.jsonl").write_bytes((run / "metrics.jsonl").read_bytes())
    code, out, _ = run_main(capsys, "plot", str(copy))
    assert code == 0
    drawn = sorted((copy / "plots").glob("*.png"))
    assert sorted(out.split()) == sorted(str(p) for p in drawn)
    assert sorted(p.name for p in drawn) == sorted(p.name for p in (run / "plots").glob("*.png"))
    for p in drawn:
        assert p.read_bytes()[:8] == PNG


def _forward(run: Path, x: np.ndarray) -> np.ndarray:
    """The model by hand in numpy: dense, batchnorm (running statistics), relu, dense."""
    p, s = load_file(run / "params.safetensors"), load_file(run / "model_state.safetensors")
    stats = load_file(run / "stats.safetensors")
    h = (x - stats["shift"]) / stats["scale"]
    h = h @ p["00_dense.w"] + p["00_dense.b"]
    h = (h - s["01_batchnorm.mean"]) / np.sqrt(s["01_batchnorm.var"] + 1e-5)
    h = np.maximum(h * p["01_batchnorm.gamma"] + p["01_batchnorm.beta"], 0.0)
    return (h @ p["03_dense.w"] + p["03_dense.b"])[:, 0]


def test_predict_writes_one_row_per_input_row_with_ids(
    run: Path, spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # columns in another order than in training, no target column, numeric ids with zeros
    source = DATA / "houses-new.csv"
    with source.open() as f:
        given = list(csv.DictReader(f))
    for i, g in enumerate(given):
        g["id"] = f"{i * 7:04d}" if i else "7"  # 7, 0007, 0014, ...
    inp = tmp_path / "new.csv"
    with inp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "age", "rooms", "area"])
        w.writeheader()
        w.writerows(given)
    out = tmp_path / "pred.csv"
    code, stdout, _ = run_main(
        capsys,
        "predict",
        str(spec_file),
        "--run",
        str(run),
        "--set",
        f"train.epochs={EPOCHS}",
        "--input",
        str(inp),
        "--output",
        str(out),
    )
    assert code == 0
    assert f"wrote {len(given)} predictions" in stdout
    with out.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["id", "price"]
    assert [r[0] for r in rows[1:]] == [g["id"] for g in given]  # as written: 0014, not 14.0
    x = np.array([[float(g[c]) for c in ("rooms", "area", "age")] for g in given], np.float32)
    np.testing.assert_allclose(
        [float(r[1]) for r in rows[1:]], _forward(run, x), rtol=1e-4, atol=1e-3
    )


def test_predict_refuses_another_spec_and_missing_columns(
    run: Path, spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pred.csv"
    args = ["predict", str(spec_file), "--run", str(run), "--output", str(out)]
    code, _, err = run_main(capsys, *args, "--input", str(DATA / "houses-new.csv"))
    assert code == 2  # without --set train.epochs=5 it is not the spec the run was trained with
    assert "different spec" in err and "hint:" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("id,rooms,area\na,1,50\n")
    code, _, err = run_main(capsys, *args, "--set", f"train.epochs={EPOCHS}", "--input", str(bad))
    assert code == 2
    assert "lacks feature column(s) age" in err
    assert not out.exists()


# -- bad command lines -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rnu", "x.dl"], "did you mean `run`?"),
        ([], "the following arguments are required"),
        (["run"], "the following arguments are required: spec"),
        (["check", "no-such-spec.dl"], "no-such-spec.dl` does not exist"),
        (["run", "no-such-spec.dl", "--epochs", "3"], "unrecognized arguments: --epochs 3"),
        (["predict", "x.dl", "--run", "r"], "--input"),
        (["plot", "no-such-run"], "no-such-run is not a run folder"),
    ],
)
def test_bad_command_lines_are_dlc_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(capsys, *argv)
    assert code == 2
    assert "error:" in err and message in " ".join(err.split())
    assert "Traceback" not in err


def test_a_folder_is_not_a_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "folder.dl").mkdir()
    code, _, err = run_main(capsys, "explain", str(tmp_path / "folder.dl"))
    assert code == 2
    assert "cannot read spec file" in err and "Traceback" not in err


def test_a_typo_in_the_command_is_no_traceback_for_the_shell() -> None:
    proc = subprocess.run(dlc_command("rnu", "x.dl"), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("dlc: error: bad command line")
    assert "did you mean `run`?" in proc.stderr and "Traceback" not in proc.stderr


# -- the command table ----------------------------------------------------------------------------
def test_one_table_names_every_command_and_its_module() -> None:
    from dlc.runtime.cli.main import COMMANDS, build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == list(COMMANDS)  # type: ignore[union-attr]
    for name, module in COMMANDS.items():
        assert module.__name__ == f"dlc.runtime.cli.{name}"
        assert module.HELP and callable(module.arguments) and callable(module.main)
        parser = sub.choices[name]  # type: ignore[index]
        takes_spec = any(a.dest == "spec" for a in parser._actions)
        assert takes_spec == module.TAKES_SPEC


def test_analyze_defaults_come_from_the_options_not_the_parser() -> None:
    from dlc.runtime.analysis.options import AnalyzeOptions
    from dlc.runtime.cli.main import build_parser

    args = build_parser().parse_args(["analyze", "x.dl"])
    d = AnalyzeOptions()
    assert (args.span, args.n, args.exact_limit, args.tol) == (
        d.surface.span,
        d.surface.n,
        d.exact_limit,
        d.tol,
    )


@pytest.mark.parametrize(
    "words, message",
    [
        (["sideways"], "bad --surface sideways"),
        (["coords", "0"], "bad --surface coords 0"),
        (["random", "1"], "bad --surface random 1"),
        (["coords", "a", "b"], "I and J are integers"),
    ],
)
def test_bad_surface_words_are_dlc_errors(words: list[str], message: str) -> None:
    from dlc.runtime.cli.analyze import surface_options

    assert surface_options(["coords", "2", "0"], 0.5, 9).coords == (2, 0)
    with pytest.raises(DlcError) as info:
        surface_options(words, 1.0, 31)
    assert message in info.value.diagnostics[0].message


def test_registry_docs_tool_rewrites_the_tables(tmp_path: Path) -> None:
    from dlc.compiler.docs import BEGIN, END
    from dlc.runtime.cli.registry_docs import main as write_docs

    doc = tmp_path / "README.md"
    doc.write_text(f"intro\n{BEGIN}\nstale\n{END}\noutro\n")
    assert write_docs(["--write", str(doc)]) == 0
    text = doc.read_text()
    assert "stale" not in text and "| `dense` |" in text and text.endswith(f"{END}\noutro\n")


def test_engines_import_no_terminal_code_and_the_report_not_the_runner() -> None:
    code = (
        "import json, sys\n"
        "import dlc.runtime.experiment.report, dlc.runtime.analysis.analyze\n"
        "import dlc.runtime.analysis.confusion, dlc.compiler.docs\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('argparse', 'rich') or m == 'dlc.runtime.experiment.runner')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


# -- CLI conventions (issue 17 item 5) --------------------------------------------------------
def test_version_prints_dlcs_version_and_exits_0() -> None:
    import dlc

    proc = subprocess.run(dlc_command("--version"), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"dlc {dlc.__version__}"


ANSI = "\x1b["


def _plain_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TERM")}
    return {**env, "JAX_PLATFORMS": "cpu", "COLUMNS": "200", **extra}


def test_run_through_a_pipe_prints_plain_epoch_lines_on_stderr(
    spec_file: Path, tmp_path: Path
) -> None:
    proc = subprocess.run(
        dlc_command("run", str(spec_file), "--runs", str(tmp_path), "--set", "train.epochs=3"),
        capture_output=True,  # both outputs are pipes: no bar, plain lines
        text=True,
        env=_plain_env(DLC_PROGRESS_EVERY="0"),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ANSI not in proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in lines] == ["1/3", "2/3", "3/3"], proc.stderr
    assert all("train " in ln and "samples/s" in ln for ln in lines)
    assert "━" not in proc.stderr  # no progress bar
    assert "epoch 1/3" not in proc.stdout  # the result only on stdout
    assert "final metrics" in proc.stdout and "run folder:" in proc.stdout


def test_no_color_means_no_ansi_escape_even_in_a_forced_terminal(spec_file: Path) -> None:
    def check(**env: str) -> str:
        proc = subprocess.run(
            dlc_command("check", str(spec_file)),
            capture_output=True,
            text=True,
            env=_plain_env(**env),
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert ANSI in check(FORCE_COLOR="1")  # the test can see escapes at all
    assert ANSI not in check(FORCE_COLOR="1", NO_COLOR="1")


def test_quiet_prints_only_the_result(run: Path) -> None:
    # the module's `run` fixture ran with --quiet: stderr empty, the result on stdout
    assert (run / "results.json").is_file()


def test_run_json_prints_a_line_per_epoch_and_a_result(
    spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", str(spec_file), "--runs", str(tmp_path), "--json", "--set", "train.epochs=3"]
    code, out, _ = run_main(capsys, *args)
    assert code == 0
    docs = [json.loads(line) for line in out.splitlines()]
    assert [d["epoch"] for d in docs if d["event"] == "epoch"] == [1, 2, 3]
    [result] = [d for d in docs if d["event"] == "result"]
    assert docs[-1] is result
    assert Path(result["run"]).parent == tmp_path
    assert set(result["final"]) >= {"train_loss", "valid_loss", "test_loss"}
    assert result["plots"] == []  # drawn only with --plots (or later by `dlc plot`)


def test_run_draws_plots_only_when_asked(
    spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --plots `dlc run` writes no PNG and never imports matplotlib (about a CPU
    second off every run); it names the command that draws them. With --plots they are
    drawn and listed."""
    code = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from dlc.runtime.cli.main import main; code = main(sys.argv[1:]); "
            "print('matplotlib' in sys.modules); sys.exit(code)",
            "run",
            str(spec_file),
            "--runs",
            str(tmp_path / "a"),
            "--set",
            "train.epochs=2",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu", "COLUMNS": "200"},
        timeout=300,
    )
    assert code.returncode == 0, code.stderr
    [folder] = list((tmp_path / "a").iterdir())
    assert not (folder / "plots").exists()
    assert f"curves: dlc plot {folder}" in code.stdout
    assert code.stdout.splitlines()[-1] == "False"  # matplotlib was not imported
    args = ["run", str(spec_file), "--runs", str(tmp_path / "b"), "--json", "--plots"]
    rc, out, _ = run_main(capsys, *args, "--set", "train.epochs=2")
    assert rc == 0
    [result] = [d for d in map(json.loads, out.splitlines()) if d["event"] == "result"]
    assert {Path(p).name for p in result["plots"]} >= {"loss.png", "lr.png"}
    assert all(Path(p).is_file() for p in result["plots"])


def test_check_json_is_one_document(spec_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "check", str(spec_file), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] is True and doc["loss"] == "mse" and doc["optimizer"] == "adam"
    assert [layer["name"] for layer in doc["layers"]] == ["dense", "batchnorm", "relu", "dense"]
    assert doc["params"] == sum(layer["params"] for layer in doc["layers"]) > 0
    assert doc["layers"][-1]["output_shape"] == [1]


def test_evaluate_json_is_one_document(
    run: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["evaluate", str(spec_file), "--run", str(run), "--input", str(DATA / "houses.csv")]
    code, out, err = run_main(capsys, *args, "--set", f"train.epochs={EPOCHS}", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["rows"] > 0 and set(doc["metrics"]) >= {"loss", "mae"}


def test_experiment_json_is_one_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "grid.dl"
    spec.write_text(
        f'data {{ csv "{DATA / "houses.csv"}" target=price id=id; split valid=0.2 test=0.1;'
        " normalize standard }\n"
        "model { dense 4; relu; dense 1 }\nloss mse\noptimizer adam lr=0.01\n"
        "train { batch 32; epochs 2 }\n"
        'experiment { seeds [0]; grid "optimizer.lr" [0.01, 0.1] }\n'
    )
    code, out, _ = run_main(
        capsys, "experiment", str(spec), "--runs", str(tmp_path / "runs"), "--json", "--quiet"
    )
    assert code == 0
    doc = json.loads(out)
    assert len(doc["lanes"]) == 2 and len(doc["settings"]) == 2
    assert doc["best"].startswith("optimizer.lr=")
    assert Path(doc["report"]).is_dir()


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (PermissionError(13, "Permission denied", "/data/locked.csv"), "Permission denied"),
        (OSError(30, "Read-only file system", "/mnt/ro/runs"), "read-only"),
        (OSError(28, "No space left on device", "/tmp/full"), "disk is full"),
    ],
)
def test_os_errors_become_dlc_errors_naming_the_path(
    exc: OSError, words: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dlc.runtime.cli import plot

    def fail(args: object) -> int:
        raise exc

    monkeypatch.setattr(plot, "main", fail)
    code, _, err = run_main(capsys, "plot", "somewhere")
    assert code == 2
    assert "Traceback" not in err and "internal error" not in err
    assert err.startswith(f"{exc.filename}: error: cannot ")
    assert words in err


def test_an_unwritable_plot_path_is_a_dlc_error(
    spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc")
    code, _, err = run_main(capsys, "schedule", str(spec_file), "--plot", "/proc/x.png")
    assert code == 2
    assert "/proc/" in err and "error: cannot" in err and "Traceback" not in err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_help_has_a_description_and_an_example(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    blank = lines.index("")  # usage, a blank line, then the one-line description
    assert lines[blank + 1].endswith(".") and lines[blank + 2] == ""
    assert f"example:\n  $ dlc {name}" in out


def test_shell_completion_through_argcomplete(tmp_path: Path) -> None:
    pytest.importorskip("argcomplete")
    import shlex

    env = {**os.environ, "_ARGCOMPLETE": "1", "_ARGCOMPLETE_IFS": " "}
    env |= {"COMP_LINE": "dlc run x.dl --qu", "COMP_POINT": "17"}
    command = " ".join(shlex.quote(a) for a in dlc_command())
    proc = subprocess.run(  # argcomplete answers on file descriptor 8
        ["bash", "-c", f"{command} 8>&1 9>/dev/null"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.split() == ["--quiet"], proc.stderr


def test_plain_progress_lines_are_throttled_but_keep_the_first_and_last(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dlc.runtime.cli import shared

    monkeypatch.setenv("DLC_PROGRESS_EVERY", "1000")
    monkeypatch.setattr(shared, "interactive", lambda: False)
    say = shared.progress_lines(shared.console(stderr=True), quiet=False)
    assert [say(f"epoch {i}", i == 5) for i in range(1, 6)] == [True, False, False, False, True]
    assert capsys.readouterr().err.split("\n") == ["epoch 1", "epoch 5", ""]
    quiet = shared.progress_lines(shared.console(stderr=True), quiet=True)
    assert quiet("epoch 1", True) is False
