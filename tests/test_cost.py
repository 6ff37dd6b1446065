"""`dlc check --cost` (runtime/analysis/cost.py): XLA's FLOPs and memory of the compiled step."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlc.runtime.analysis.cost import step_cost
from dlc.runtime.cli.main import main
from dlc.runtime.train.model import CompiledModel

ROOT = Path(__file__).resolve().parents[1]
SPEC = """data { digits; split valid=0.1 test=0.1 }
model { dense 10 }
loss cross_entropy
optimizer adam
train { batch 50; epochs 1 }
"""


def test_flops_of_a_dense_layer_match_its_matmul() -> None:
    cost = step_cost(CompiledModel.from_source(SPEC))
    assert cost.batch == 50
    # 64 pixels -> 10 logits: 2 * 64 * 10 FLOPs per example for the matmul, plus the bias
    assert 1280 <= cost.predict_flops_per_example <= 1280 + 2 * 10
    # the backward pass has two such matmuls (one is needed: the kernel's gradient), plus the
    # loss and Adam's update of 650 parameters
    assert 2 * 1280 <= cost.train_flops_per_example <= 6 * 1280
    params = (64 * 10 + 10) * 4
    # inputs: parameters, Adam's two moments, the batch; peak at least that
    assert cost.argument_bytes >= 3 * params + 50 * 64 * 4
    assert cost.peak_bytes >= cost.argument_bytes


def test_check_cost_prints_flops_and_memory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(ROOT / "specs/linear.dl"), "--cost"]) == 0
    out = capsys.readouterr().out
    assert "compiled for batches of 32; nothing run" in out
    assert "FLOP per example" in out and "step memory: peak" in out


def test_off_cpu_the_report_says_what_xla_leaves_out() -> None:
    from dlc.runtime.analysis.cost import GPU_NOTE, Cost, describe

    cost = Cost(32, 2e6, 4e5, 1e6, 4000, 4000, 0, 1000, "cpu")
    assert GPU_NOTE not in describe(cost)
    assert describe(Cost(**{**cost.__dict__, "backend": "gpu"}))[-1] == GPU_NOTE
