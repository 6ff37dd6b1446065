"""Grammar tests: valid and invalid samples, LALR strict mode, positions, nesting limits."""

from __future__ import annotations

import pytest

from dlc import DlcError
from dlc.compiler.ast import Call, ListV, Name, Num, Str, Then, build_ast
from dlc.compiler.parser import MAX_DEPTH, get_parser, parse_text


def ast(text: str):
    return build_ast(parse_text(text, "t.dl"), "t.dl")


def test_grammar_builds_in_strict_lalr_mode() -> None:
    get_parser.cache_clear()
    assert get_parser(strict=True).options.parser == "lalr"
    get_parser.cache_clear()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("-3", -3),
        ("1e-3", 1e-3),
        ("10_000", 10000),
        ("0.5", 0.5),
        (".5", 0.5),
        ("2.5E+2", 250.0),
    ],
)
def test_numbers(text: str, value: float) -> None:
    [st] = ast(f"x {text}\n")
    assert isinstance(st.args[0], Num) and st.args[0].value == value
    assert type(st.args[0].value) is type(value)


def test_values_and_positions() -> None:
    [st] = ast('layer a "s\\"q" [1, 2,\n  3] f(1, k=2) k=v  # comment\n')
    a, s, lst, call = st.args
    assert isinstance(a, Name) and a.value == "a"
    assert isinstance(s, Str) and s.value == 's"q'
    assert isinstance(lst, ListV) and [i.value for i in lst.items] == [1, 2, 3]
    assert isinstance(call, Call) and call.name.value == "f" and call.kwargs[0].name == "k"
    assert st.kwargs[0].name == "k" and st.kwargs[0].value.value == "v"
    assert (st.span.line, st.span.column) == (1, 1)
    assert (a.span.line, a.span.column, a.span.end_column) == (1, 7, 8)


def test_blocks_separators_and_then() -> None:
    sts = ast("# top\n\ntrain { batch 32; epochs 3 }\n\nschedule warmup(5) then cosine\n")
    assert [s.name for s in sts] == ["train", "schedule"]
    assert [c.name for c in sts[0].body] == ["batch", "epochs"]
    then = sts[1].args[0]
    assert isinstance(then, Then) and len(then.parts) == 2


def test_empty_file_and_trailing_statement_without_newline() -> None:
    assert ast("") == ()
    assert ast("# only a comment") == ()
    assert [s.name for s in ast("a 1\nb 2")] == ["a", "b"]


@pytest.mark.parametrize(
    "text",
    ["a {", "a }", "a = 1", "a [1, 2", "a (1)", "a 'x'", "a 1 then", "{ }", "a b=", "a @"],
)
def test_invalid_samples_raise_located_errors(text: str) -> None:
    with pytest.raises(DlcError) as info:
        parse_text(text + "\n", "t.dl")
    d = info.value.diagnostics[0]
    assert d.span is not None and d.span.line >= 1 and d.span.column >= 1
    assert "expected" in d.message or "unexpected" in d.message


def test_nesting_is_limited() -> None:
    deep = "a {" * (MAX_DEPTH + 1) + "}" * (MAX_DEPTH + 1)
    with pytest.raises(DlcError, match="nested more than"):
        parse_text(deep, "t.dl")


def test_layer_names_are_not_keywords() -> None:
    """The grammar knows no layer, loss or optimizer names: any name parses."""
    [st] = ast("model { frobnicate 3 q=1 }\n")
    assert st.body[0].name == "frobnicate"
