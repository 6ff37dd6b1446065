"""Lark tree -> AST: statements and values that carry source spans.

Example:
    >>> from dlc.compiler.parser import parse_text
    >>> [s] = build_ast(parse_text("optimizer adam lr=1e-3\\n", "x.dl"), "x.dl")
    >>> s.name, s.args[0].value, s.kwargs[0].name, s.kwargs[0].value.value
    ('optimizer', 'adam', 'lr', 0.001)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lark import Token, Tree

from dlc.compiler.errors import DlcError, Span


@dataclass(frozen=True)
class Value:
    span: Span


@dataclass(frozen=True)
class Num(Value):
    value: int | float


@dataclass(frozen=True)
class Str(Value):
    value: str


@dataclass(frozen=True)
class Name(Value):
    value: str


@dataclass(frozen=True)
class ListV(Value):
    items: tuple[Value, ...]


@dataclass(frozen=True)
class Call(Value):
    name: Name
    args: tuple[Value, ...]
    kwargs: tuple[KwArg, ...]


@dataclass(frozen=True)
class Then(Value):
    """`a then b then c`: a sequence (used for schedules)."""

    parts: tuple[Value, ...]


@dataclass(frozen=True)
class KwArg:
    name: str
    name_span: Span
    value: Value


@dataclass(frozen=True)
class Statement:
    """`name arg... key=value... { body }`."""

    name: str
    span: Span  # the name token
    args: tuple[Value, ...] = ()
    kwargs: tuple[KwArg, ...] = ()
    body: tuple[Statement, ...] | None = None
    full_span: Span | None = None
    origin: tuple[Span, ...] = field(default=())  # use sites when expanded from a named block


def _span(file: str, node: Tree | Token) -> Span:
    """The span of a token or of a tree (the parser keeps positions: `propagate_positions`)."""
    if isinstance(node, Token):
        line, col, end_line, end_col = node.line, node.column, node.end_line, node.end_column
        return Span(file, line or 0, col or 0, end_line or 0, end_col or 0)
    m = node.meta
    return Span(file, m.line, m.column, m.end_line, m.end_column)


def _token(node: Tree | Token) -> Token:
    """A child the grammar guarantees to be a token (a NAME, NUMBER or STRING)."""
    if not isinstance(node, Token):  # pragma: no cover - the grammar makes it one
        raise TypeError(node)
    return node


def _number(tok: Token, file: str) -> Num:
    text = tok.value.replace("_", "")
    try:
        is_float = any(c in text for c in ".eE")
        value: int | float = float(text) if is_float else int(text)
    except ValueError:
        raise DlcError.single(f"`{tok.value}` is not a number", span=_span(file, tok)) from None
    return Num(_span(file, tok), value)


_ESCAPE = re.compile(r'\\(["\\ntr]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})|\\(.?)')
_SIMPLE = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


def _string(tok: Token, file: str) -> Str:
    """A string literal; escapes: \\" \\\\ \\n \\t \\r \\xHH \\uXXXX \\UXXXXXXXX."""
    body = tok.value[1:-1]

    def one(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc is None:
            col = (tok.column or 0) + 1 + m.start()
            raise DlcError.single(
                f"unknown escape `\\{m.group(2)}` in a string",
                span=Span(file, tok.line or 0, col, tok.line or 0, col + len(m.group(0))),
                hint="write a backslash as \\\\ (or use / in paths)",
            )
        if esc in _SIMPLE:
            return _SIMPLE[esc]
        code = int(esc[1:], 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            col = (tok.column or 0) + 1 + m.start()
            raise DlcError.single(
                f"`\\{esc}` is not a character",
                span=Span(file, tok.line or 0, col, tok.line or 0, col + len(m.group(0))),
            )
        return chr(code)

    return Str(_span(file, tok), _ESCAPE.sub(one, body) if "\\" in body else body)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file

    def value(self, node: Tree | Token) -> Value:
        f = self.file
        if isinstance(node, Token):  # pragma: no cover - grammar wraps all atoms
            raise TypeError(node)
        kind = node.data
        if kind == "number":
            return _number(_token(node.children[0]), f)
        if kind == "string":
            return _string(_token(node.children[0]), f)
        if kind == "name":
            return Name(_span(f, node), _token(node.children[0]).value)
        if kind == "list":
            return ListV(_span(f, node), tuple(self.value(c) for c in node.children))
        if kind == "call":
            head, *rest = node.children
            args, kwargs = self.args(rest)
            return Call(_span(f, node), Name(_span(f, head), _token(head).value), args, kwargs)
        if kind == "then_chain":
            parts = [self.value(c) for c in node.children if not isinstance(c, Token)]
            return Then(_span(f, node), tuple(parts))
        raise TypeError(f"unknown value node {kind}")  # pragma: no cover

    def args(self, nodes: list[Any]) -> tuple[tuple[Value, ...], tuple[KwArg, ...]]:
        args: list[Value] = []
        kwargs: list[KwArg] = []
        for c in nodes:
            if isinstance(c, Tree) and c.data == "kwarg":
                key, val = c.children
                kwargs.append(KwArg(_token(key).value, _span(self.file, key), self.value(val)))
            else:
                args.append(self.value(c))
        return tuple(args), tuple(kwargs)

    def statement(self, node: Tree) -> Statement:
        head, *rest = node.children
        body = None
        if rest and isinstance(rest[-1], Tree) and rest[-1].data == "block":
            body = tuple(self.statement(s) for s in rest[-1].children if isinstance(s, Tree))
            rest = rest[:-1]
        args, kwargs = self.args(rest)
        return Statement(
            _token(head).value, _span(self.file, head), args, kwargs, body, _span(self.file, node)
        )


def build_ast(tree: Tree, file: str) -> tuple[Statement, ...]:
    """The file's top-level statements."""
    b = _Builder(file)
    return tuple(b.statement(s) for s in tree.children if isinstance(s, Tree))


def to_python(v: Value) -> Any:
    """A plain Python value (names become strings; true/false become booleans)."""
    if isinstance(v, Num | Str):
        return v.value
    if isinstance(v, Name):
        return {"true": True, "false": False}.get(v.value, v.value)
    if isinstance(v, ListV):
        return [to_python(i) for i in v.items]
    raise TypeError(type(v).__name__)
