"""Compile options (compiler/options.py): the convolution lowering is part of the spec hash and
of a run's spec.json, so resuming under another lowering is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.explain import canonical_json
from dlc.compiler.frontend import load_spec
from dlc.compiler.options import CompileOptions

SPEC = (
    "data { fizzbuzz }\nmodel { dense 8; relu; dense 4 }\nloss cross_entropy\noptimizer adam\n"
    "train { epochs 1; batch 128 }\n"
)


def test_the_conv_lowering_is_hashed_and_the_default_keeps_old_hashes(monkeypatch) -> None:
    monkeypatch.delenv("CONV_LOWERING", raising=False)
    default = load_spec(SPEC)
    assert default.options == CompileOptions()
    assert default.hash() == hashlib.sha256(canonical_json(default.spec).encode()).hexdigest()
    hashes = {default.hash()}
    for choice in ("auto", "xla", "patches"):
        monkeypatch.setenv("CONV_LOWERING", choice)
        r = load_spec(SPEC)
        assert r.options.conv_lowering == choice and r.spec == default.spec
        hashes.add(r.hash())
    assert len(hashes) == 3  # auto is the default; xla and patches each differ


def test_an_unknown_conv_lowering_is_a_user_error(monkeypatch) -> None:
    monkeypatch.setenv("CONV_LOWERING", "fast")
    with pytest.raises(DlcError, match="CONV_LOWERING must be auto, xla or patches"):
        load_spec(SPEC)


def test_spec_json_records_the_options(monkeypatch, tmp_path: Path) -> None:
    from dlc.runtime.runs.folder import RunDir

    monkeypatch.setenv("CONV_LOWERING", "patches")
    r = load_spec(SPEC)
    run = RunDir(tmp_path)
    run.write_spec(r)
    meta = json.loads((tmp_path / "spec.json").read_text())
    assert meta["options"] == {"conv_lowering": "patches"}
    assert meta["hash"] == r.hash() == run.spec_hash()


def test_resuming_under_another_conv_lowering_is_refused(
    monkeypatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dlc.runtime.cli.main import main

    spec = tmp_path / "fb.dl"
    spec.write_text(SPEC)
    runs = tmp_path / "runs"
    monkeypatch.setenv("CONV_LOWERING", "patches")
    assert main(["run", str(spec), "--runs", str(runs), "--quiet"]) == 0
    [run] = [p for p in runs.iterdir() if (p / "spec.json").is_file()]
    before = sorted(p.name for p in run.rglob("*"))
    monkeypatch.setenv("CONV_LOWERING", "xla")
    code = main(["run", str(spec), "--runs", str(runs), "--quiet", "--resume", str(run)])
    err = capsys.readouterr().err
    assert code == 2
    assert "the spec changed since run" in err and "Traceback" not in err
    assert sorted(p.name for p in run.rglob("*")) == before  # the run is left alone
