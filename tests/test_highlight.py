"""The .dl Pygments lexer (grammar/pygments_lexer.py) and `dlc explain` in a terminal."""

from __future__ import annotations

import io
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from pygments.token import Comment, Error, Keyword, Name, Number, String

from dlc.grammar.pygments_lexer import DlLexer
from dlc.runtime.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").rglob("*.dl"))


def test_registered_as_a_pygments_entry_point() -> None:
    eps = {ep.name: ep.value for ep in entry_points(group="pygments.lexers")}
    if "dl" not in eps:
        pytest.skip("dlc is installed without its entry points (reinstall: pip install -e .)")
    assert eps["dl"] == "dlc.grammar.pygments_lexer:DlLexer"
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    assert isinstance(get_lexer_by_name("dl"), DlLexer)
    assert isinstance(get_lexer_for_filename("model.dl"), DlLexer)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_spec_lexes_without_errors_and_loses_nothing(path: Path) -> None:
    text = path.read_text()
    tokens = list(DlLexer().get_tokens(text))
    assert "".join(v for _, v in tokens) == text
    assert not [v for t, v in tokens if t in Error]


def test_token_kinds() -> None:
    text = 'optimizer adam lr=1e-3  # fast\nschedule warmup(10) then cosine\ndata { csv "a.csv" }\n'
    kinds = {v: t for t, v in DlLexer().get_tokens(text) if v.strip()}
    assert kinds["optimizer"] is Keyword and kinds["adam"] is Name
    assert kinds["lr"] is Name.Attribute and kinds["1e-3"] is Number
    assert kinds["# fast"] is Comment.Single and kinds['"a.csv"'] is String.Double
    assert kinds["warmup"] is Name.Function and kinds["then"] is Keyword
    assert kinds["csv"] is Name.Function  # a statement's head


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_explain_is_highlighted_only_in_a_terminal(monkeypatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    tty = _Terminal()
    monkeypatch.setattr(sys, "stdout", tty)
    assert main(["explain", str(ROOT / "specs/linear.dl")]) == 0
    assert "\x1b[" in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    plain = _Terminal()
    monkeypatch.setattr(sys, "stdout", plain)
    assert main(["explain", str(ROOT / "specs/linear.dl")]) == 0
    assert "\x1b[" not in plain.getvalue() and plain.getvalue().startswith("data {")
