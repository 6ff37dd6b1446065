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
