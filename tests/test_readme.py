"""The README's Python example, run as written, and the lecture-1 specs beating the mean."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import dlc

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(monkeypatch, capsys) -> None:
    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "test_loss" in out and "(7, 1)" in out


def test_readme_starts_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```sh") + 1 : lines.index("```sh") + 3]
    assert block[0].startswith("make run") and block[1].startswith("make test")
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("name", ["linear", "linear_7days", "sigmoids", "relu_deep"])
def test_lecture1_specs_beat_the_training_mean(name: str) -> None:
    m = dlc.compile(ROOT / "specs" / f"{name}.dl")
    m.fit()
    valid_loss = m.evaluate("valid")["valid_loss"]
    y_train = m.data.parts["train"][1]
    y_valid = m.data.parts["valid"][1]
    baseline = float(np.mean((y_valid - y_train.mean()) ** 2))
    assert valid_loss < 0.5 * baseline, (valid_loss, baseline)


def test_readme_main_example_is_the_spec_make_run_trains() -> None:
    """The README shows the spec that `make run` trains, as it is in specs/."""
    text = (ROOT / "README.md").read_text()
    run = re.search(r"dlc run (specs/\S+\.dl)", (ROOT / "Makefile").read_text()).group(1)
    body = (ROOT / run).read_text()
    shown = re.search(
        r"\(\[" + re.escape(run) + r"\]\(" + re.escape(run) + r"\)\):\n\n```\n(.*?)```", text, re.S
    )
    assert shown is not None, run
    code = [ln.split("#")[0].rstrip() for ln in body.splitlines() if not ln.startswith("#")]
    assert [ln for ln in code if ln] == [
        ln.split("#")[0].rstrip() for ln in shown.group(1).splitlines() if ln.split("#")[0].strip()
    ]
    assert f"$ dlc run {run}" in text


@pytest.mark.slow
def test_births_sigmoids_beat_the_linear_model_on_56_days() -> None:
    """Lecture 1's finding on the shipped births series (seed 0; specs/README.md has 5 seeds),
    and the README's printed output of `dlc run specs/births_sigmoids.dl` is true."""
    scores = {}
    for name, overrides in (("births_linear", ["data.window=56"]), ("births_sigmoids", [])):
        m = dlc.compile(ROOT / "specs" / f"{name}.dl", overrides=overrides)
        m.fit()
        scores[name] = (m.evaluate("valid")["valid_loss"], m.evaluate("test")["test_loss"])
    (lin_valid, lin_test), (sig_valid, sig_test) = (
        scores["births_linear"],
        scores["births_sigmoids"],
    )
    assert sig_valid < 0.95 * lin_valid and sig_test < 0.95 * lin_test, scores
    # the README prints a real run of this spec: its valid and test losses are these (to 2 %)
    row = re.search(r"│ loss +│ *(\S+) │ *(\S+) │ *(\S+) │", (ROOT / "README.md").read_text())
    shown_valid, shown_test = float(row.group(2)), float(row.group(3))
    assert sig_valid == pytest.approx(shown_valid, rel=0.02), (sig_valid, shown_valid)
    assert sig_test == pytest.approx(shown_test, rel=0.02), (sig_test, shown_test)
