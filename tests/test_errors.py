"""Error-message snapshots: file:line:col, the source line, carets and a hint.

Regenerate after an intended change with `DLC_UPDATE_SNAPSHOTS=1 pytest tests/test_errors.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dlc import DlcError, load_spec

SNAPSHOTS = Path(__file__).parent / "snapshots" / "errors.txt"

CASES = {
    "unknown_layer": "data { digits }\nmodel {\n  dense 64\n  rleu\n  dense 10\n}\n"
    "loss cross_entropy\noptimizer adam\n",
    "unknown_kwarg": "data { digits }\nmodel { dense 10 activation=relu }\nloss cross_entropy\n"
    "optimizer adam\n",
    "bad_range": "data { digits }\nmodel { dense 10 }\nloss cross_entropy\n"
    "optimizer adam lr=-0.1\n",
    "unclosed": "data { digits }\nmodel {\n  dense 10\n",
    "stray_equals": "loss = mse\n",
    "single_quotes": "data { csv 'x.csv' }\n",
    "missing_section": "data { digits }\nmodel { dense 10 }\noptimizer adam\n",
    "unknown_section": "data { digits }\nmodel { dense 10 }\nlosss cross_entropy\noptimizer adam\n",
    "split_sum": "data {\n  digits\n  split train=0.9 valid=0.2\n}\nmodel { dense 10 }\n"
    "loss cross_entropy\noptimizer adam\n",
    "literal": "data {\n  digits\n  normalize stdandard\n}\nmodel { dense 10 }\n"
    "loss cross_entropy\noptimizer adam\n",
    "schedule_then": "data { digits }\nmodel { dense 10 }\nloss cross_entropy\noptimizer adam\n"
    "schedule warmup(10) then cosin\n",
    "missing_arg": "data { digits }\nmodel { dense }\nloss cross_entropy\noptimizer adam\n",
    "block_error": "block mlp(width) {\n  dense width\n  dropout 1.5\n}\ndata { digits }\n"
    "model {\n  mlp 32\n  dense 10\n}\nloss cross_entropy\noptimizer adam\n",
    "set_twice": "data { digits }\nmodel { dense 10 }\nloss cross_entropy\nloss mse\n"
    "optimizer adam\n",
    "many_errors": "data { digits }\nmodel {\n  dense 0\n  sigmod\n}\nloss cross_entropy\n"
    "optimizer adam lr=0 betas=1\n",
    "repeat_count": "data { digits }\nmodel {\n  repeat 0 { dense 3 }\n}\nloss mse\n"
    "optimizer adam\n",
    "block_param": "block b(w) { dense w }\ndata { digits }\nmodel { b wdth=3 }\nloss mse\n"
    "optimizer adam\n",
}


def render(text: str) -> str:
    try:
        load_spec(text)
    except DlcError as err:
        return err.render()
    return "OK"


def _stored() -> dict[str, str]:
    out: dict[str, str] = {}
    if SNAPSHOTS.exists():
        for chunk in SNAPSHOTS.read_text().split("=== ")[1:]:
            name, _, body = chunk.partition("\n")
            out[name] = body.rstrip("\n")
    return out


def test_snapshots() -> None:
    actual = {name: render(text) for name, text in CASES.items()}
    if os.environ.get("DLC_UPDATE_SNAPSHOTS"):
        SNAPSHOTS.parent.mkdir(exist_ok=True)
        SNAPSHOTS.write_text("".join(f"=== {k}\n{v}\n" for k, v in actual.items()))
    stored = _stored()
    for name, text in actual.items():
        assert text == stored.get(name), f"snapshot {name} differs:\n{text}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_error_has_a_location_and_no_traceback(name: str) -> None:
    out = render(CASES[name])
    assert out != "OK"
    assert out.startswith("<spec>:") and ": error: " in out
    assert "Traceback" not in out


def test_all_errors_of_a_file_are_collected() -> None:
    out = render(CASES["many_errors"])
    assert out.count(": error: ") == 4
    assert "<spec>:3:9:" in out and "<spec>:4:3:" in out and "<spec>:7:19:" in out


def test_block_errors_point_at_use_site_and_definition() -> None:
    out = render(CASES["block_error"])
    assert "<spec>:3:11: error:" in out and "<spec>:7:3: note: in the block used here" in out
