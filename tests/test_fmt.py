"""`dlc fmt` (compiler/format.py): canonical, idempotent, comments kept, meaning unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.explain import canonical_json
from dlc.compiler.format import comments, format_text
from dlc.compiler.frontend import load_spec
from dlc.runtime.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").rglob("*.dl"))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_every_spec_formats_idempotently_keeping_comments_and_meaning(path: Path) -> None:
    text = path.read_text()
    once = format_text(text, str(path))
    assert format_text(once, str(path)) == once  # formatting twice = formatting once
    assert [c.text for c in comments(once).values()] == [c.text for c in comments(text).values()]
    assert _outcome(once, path) == _outcome(text, path)


def test_every_shipped_spec_is_formatted(capsys: pytest.CaptureFixture[str]) -> None:
    """specs/ stays in `dlc fmt` layout: after editing a spec, run
    `dlc fmt --write specs/**/*.dl` (this is `dlc fmt --check` over every shipped spec)."""
    code = main(["fmt", "--check", *map(str, SPECS)])
    out = capsys.readouterr()
    assert code == 0, f"run `dlc fmt --write` on these specs:\n{out.out}{out.err}"


def _outcome(text: str, path: Path) -> object:
    """The resolved spec as canonical JSON, or the error messages (a spec that needs a
    `--plugin` does not resolve alone; formatting must not change its errors either)."""
    try:
        return canonical_json(load_spec(text, base_dir=path.parent).spec)
    except DlcError as err:
        return [d.message for d in err.diagnostics]


MESSY = """

# a header


model{dense 8 # hidden
 relu;dense 1


 # before the brace

}
data { csv "a#b.csv" features=[a,  # first

      b,
   c]  target=y  # after the list
}
train{ batch 4;epochs 2 }
loss   mse;optimizer adam(lr=1e-3)  # two statements
schedule warmup(100)then cosine(alpha=0.1,)
"""

CANONICAL = """\
# a header

model {
  dense 8  # hidden
  relu
  dense 1

  # before the brace
}
data {
  csv "a#b.csv" features=[a,  # first

      b,
      c]  target=y  # after the list
}
train { batch 4; epochs 2 }
loss mse
optimizer adam(lr=1e-3)  # two statements
schedule warmup(100) then cosine(alpha=0.1)
"""


def test_messy_layout_becomes_canonical() -> None:
    assert format_text(MESSY) == CANONICAL
    assert format_text(CANONICAL) == CANONICAL


def test_trailing_comments_of_a_run_are_aligned() -> None:
    text = "model {\n  dense 128 # wide\n  relu  # act\n  dense 1\n}\n"
    assert format_text(text).splitlines()[1:3] == ["  dense 128  # wide", "  relu       # act"]


def test_a_run_of_comments_spans_lines_without_comments_but_not_the_blocks_end() -> None:
    text = (
        "model {\n  conv2d 32 3 # a\n  relu\n  maxpool # b\n  flatten # c\n}\n"
        "loss mse # d\noptimizer adam lr=0.01 # e\n"
    )
    assert format_text(text).splitlines() == [
        "model {",
        "  conv2d 32 3  # a",
        "  relu",
        "  maxpool      # b",  # one column for the block, `relu` in between
        "  flatten      # c",
        "}",
        "loss mse                # d",  # a new run after the block's end
        "optimizer adam lr=0.01  # e",
    ]
    long = "x" * 70
    text = f"model {{\n  dense 8 # {long}\n  dense 1 # {long}\n"
    text += "  residual { dense 8; relu } # s\n}\n"
    lines = format_text(text).splitlines()
    assert lines[1] == f"  dense 8  # {long}"  # aligned it would pass column 100
    assert lines[3] == "  residual { dense 8; relu }  # s"
    assert max(len(line) for line in lines) <= 100


def test_a_syntax_error_formats_nothing() -> None:
    with pytest.raises(DlcError, match=r"x.dl:1:\d+: error"):
        format_text("model { dense 8 =\n", "x.dl")


def test_cli_check_lists_changed_files_and_exits_1(tmp_path: Path, capsys) -> None:
    good, bad = tmp_path / "good.dl", tmp_path / "bad.dl"
    good.write_text(CANONICAL)
    bad.write_text(MESSY)
    assert main(["fmt", "--check", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"would reformat {bad}" in out and str(good) not in out.replace(str(bad), "")
    assert bad.read_text() == MESSY  # --check changes nothing
    assert main(["fmt", "--write", str(bad)]) == 0
    assert bad.read_text() == CANONICAL
    assert main(["fmt", "--check", str(good), str(bad)]) == 0


def test_cli_prints_to_stdout_and_reports_syntax_errors(tmp_path: Path, capsys) -> None:
    spec, broken = tmp_path / "s.dl", tmp_path / "broken.dl"
    spec.write_text("loss   mse\n")
    broken.write_text("model {\n")
    assert main(["fmt", str(spec)]) == 0
    assert capsys.readouterr().out == "loss mse\n"
    assert main(["fmt", str(broken)]) == 2
    assert f"{broken}:" in capsys.readouterr().err


def _fuzz() -> Any:
    """The fuzz tests' spec mutations (tests/test_fuzz.py), if hypothesis is installed."""
    pytest.importorskip("hypothesis")
    import test_fuzz

    return test_fuzz


def test_mutated_specs_format_idempotently_or_are_syntax_errors() -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    fuzz = _fuzz()
    comment = st.sampled_from(["# c", '# "quoted"', "#", "# a # b"])

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(fuzz.mutated_specs(), st.lists(st.tuples(st.integers(0, 40), comment), max_size=4))
    def check(text: str, notes: list[tuple[int, str]]) -> None:
        lines = text.split("\n")
        for i, note in notes:  # comments at the ends of some lines, or alone
            i %= len(lines)
            lines[i] = f"{lines[i]}  {note}" if i % 2 else f"{note}\n{lines[i]}"
        text = "\n".join(lines)
        try:
            once = format_text(text)
        except DlcError:
            return  # a syntax error (format_text also raises if it would change the meaning)
        assert format_text(once) == once
        assert [c.text for c in comments(once).values()] == [
            c.text for c in comments(text).values()
        ]

    check()
