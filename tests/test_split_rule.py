"""Issue 12, splits: omitted fractions are 0 once one is written, `split seed=`, the rule
documented in grammar/README.md reproduced in NumPy, and early_stop without a valid part."""

from __future__ import annotations

import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.compiler.spec import Split
from dlc.runtime.data.prepare import prepare


def test_omitted_fractions():
    assert Split().fractions() == {"train": 0.8, "valid": 0.1, "test": 0.1}
    assert Split(valid=0.2).fractions() == {"train": 0.8, "valid": 0.2, "test": 0.0}
    assert Split(train=0.8, valid=0.2).fractions()["test"] == 0.0
    with pytest.raises(ValueError, match=r"train=0.8 \+ valid=0.3 = 1.1"):
        Split(train=0.8, valid=0.3)


def _spec(tmp_path, split: str, train: str = "") -> str:
    rows = "".join(f"{i},{i * 0.5}\n" for i in range(20))
    (tmp_path / "d.csv").write_text("x,y\n" + rows)
    spec = tmp_path / "s.dl"
    spec.write_text(
        f'data {{\n  csv "d.csv" target=y\n  {split}\n}}\nmodel {{ dense 1 }}\nloss mse\n'
        f"optimizer adam\ntrain {{ seed 7{train} }}\n"
    )
    return str(spec)


def test_split_seed_and_the_documented_rule(tmp_path):
    d = prepare(load_spec(_spec(tmp_path, "split valid=0.2 seed=3")))
    assert d.summary() == {"train": 16, "valid": 4}  # no silent test part
    # the documented rule: rows permuted by numpy's default_rng(seed), train first
    order = np.random.default_rng(3).permutation(20)
    assert d.parts["valid"][0][:, 0].tolist() == order[16:].astype(float).tolist()
    # without split seed, train.seed (7) draws the split
    d7 = prepare(load_spec(_spec(tmp_path, "split valid=0.2")))
    order7 = np.random.default_rng(7).permutation(20)
    assert d7.parts["valid"][0][:, 0].tolist() == order7[16:].astype(float).tolist()


def test_early_stop_without_valid_is_an_error_at_its_line(tmp_path):
    with pytest.raises(DlcError) as err:
        prepare(load_spec(_spec(tmp_path, "split test=0.2", "; early_stop patience=3")))
    d = err.value.diagnostics[0]
    assert "early_stop needs a validation part" in d.message
    assert d.span is not None and d.span.line == 8  # the `train { ... early_stop }` line


def test_check_warns_about_a_large_regression_target(tmp_path):
    rows = "".join(f"{i},{1000 + 50 * i}\n" for i in range(20))
    (tmp_path / "d.csv").write_text("x,y\n" + rows)
    spec = tmp_path / "s.dl"
    spec.write_text('data { csv "d.csv" target=y }\nmodel { dense 1 }\nloss mse\noptimizer adam\n')
    notes = prepare(load_spec(str(spec))).notes
    assert any("warning: the target has training mean" in n for n in notes)
    assert not any("target has" in n for n in prepare(load_spec(_spec(tmp_path, ""))).notes)
