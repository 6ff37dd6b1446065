"""`dlc fmt`: a spec's text in its canonical layout, comments kept.

The layout: one statement per line, two spaces of indentation per block, single spaces between
arguments, `key=value`, `[a, b]`, `f(a, k=v)`, `a then b`; a block written on one line stays on
one line (`train { batch 32; epochs 5 }`); at most one blank line in a row, none at the start or
end of a block; comments on their own line keep their line, trailing comments follow their line,
aligned two spaces after the longest commented line of their run (a stretch of lines without
blank lines or own-line comments, within the block where it began; see `render`). Numbers and
strings are kept as written. A statement whose arguments span lines (a long list) keeps its line
breaks, its continuation lines indented two levels deeper.
Formatting only moves whitespace, so the result parses to the same tree (checked).

Example:
    >>> print(format_text("model{dense 8 # hidden\\n relu;dense 1}\\nloss   mse\\n"), end="")
    model {
      dense 8  # hidden
      relu
      dense 1
    }
    loss mse
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lark import Token, Tree

from dlc.compiler.errors import DlcError
from dlc.compiler.parser import parse_text

# a string (skipped: it may hold `#`) or a comment; strings never span lines
_LEXEME = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')
INDENT = "  "
WIDTH = 100  # trailing comments are not aligned past this column


@dataclass(frozen=True)
class Comment:
    line: int  # 1-based source line
    column: int  # 0-based
    text: str
    alone: bool  # nothing but whitespace before it on its line


def comments(text: str) -> dict[int, Comment]:
    """Every comment of `text` by its line (a line holds at most one).

    Example:
        >>> comments('a "#x" # c\\n')[1].text
        '# c'
    """
    out: dict[int, Comment] = {}
    for n, line in enumerate(text.splitlines(), 1):
        for m in _LEXEME.finditer(line):
            if m.group().startswith("#"):
                out[n] = Comment(n, m.start(), m.group().rstrip(), not line[: m.start()].strip())
                break
    return out


@dataclass
class _Line:
    indent: int
    code: str
    src: int | None  # the source line whose trailing comment may follow it
    comment: str | None = None


def _value(node: Tree | Token) -> str:
    if isinstance(node, Token):
        return str(node.value)
    kind = node.data
    if kind in ("number", "string", "name"):
        return _value(node.children[0])
    if kind == "kwarg":
        key, val = node.children
        return f"{_value(key)}={_value(val)}"
    if kind == "list":
        return "[" + ", ".join(_value(c) for c in node.children) + "]"
    if kind == "call":
        head, *args = node.children
        return f"{_value(head)}(" + ", ".join(_value(a) for a in args) + ")"
    if kind == "then_chain":
        parts = (c for c in node.children if not (isinstance(c, Token) and c.type == "THEN"))
        return " then ".join(_value(p) for p in parts)
    raise TypeError(f"unknown node {kind}")  # pragma: no cover - the grammar has no other


def _line(node: Tree | Token) -> int:
    return int(node.line if isinstance(node, Token) else node.meta.line)  # type: ignore[arg-type]


def _end_line(node: Tree | Token) -> int:
    if isinstance(node, Token):
        return int(node.end_line)  # type: ignore[arg-type]
    return int(node.meta.end_line)


def _inline(st: Tree) -> str:
    """A statement on one line (its block, if any, inline with `;`)."""
    head, *rest = st.children
    block = rest.pop() if rest and isinstance(rest[-1], Tree) and rest[-1].data == "block" else None
    text = " ".join([_value(head), *(_value(a) for a in rest)])
    if block is not None:
        inner = "; ".join(_inline(s) for s in block.children if isinstance(s, Tree))
        text += f" {{ {inner} }}" if inner else " {}"
    return text


@dataclass
class _Formatter:
    text: str
    notes: dict[int, Comment] = field(init=False)
    lines: list[_Line] = field(default_factory=list)
    used: set[int] = field(default_factory=set)  # comment lines already placed

    def __post_init__(self) -> None:
        self.notes = comments(self.text)
        self.src = self.text.splitlines()

    def gap(self, first: int, last: int, depth: int, at_start: bool) -> None:
        """Source lines first..last (between statements): own-line comments, blank lines."""
        blank = False
        for n in range(first, last + 1):
            note = self.notes.get(n)
            if note is not None and note.alone and n not in self.used:
                if blank and not at_start:
                    self.lines.append(_Line(0, "", None))
                self.lines.append(_Line(depth, note.text, None))
                self.used.add(n)
                blank, at_start = False, False
            elif n <= len(self.src) and not self.src[n - 1].strip():
                blank = True
        if blank and not at_start and last >= first:
            self.lines.append(_Line(0, "", None))

    def statements(self, stmts: list[Tree], depth: int, first: int, last: int) -> None:
        """Statements of a block (or the file) that lies on source lines first..last."""
        at = first
        for i, st in enumerate(stmts):
            self.gap(at, _line(st) - 1, depth, at_start=i == 0)
            self.statement(st, depth)
            at = _end_line(st) + 1
        start = len(self.lines)
        self.gap(at, last, depth, at_start=not stmts)
        while len(self.lines) > start and not self.lines[-1].code:
            self.lines.pop()  # no blank line before `}` or at the end of the file

    def statement(self, st: Tree, depth: int) -> None:
        head, *rest = st.children
        block = (
            rest.pop() if rest and isinstance(rest[-1], Tree) and rest[-1].data == "block" else None
        )
        start, head_end = _line(st), _end_line(rest[-1] if rest else head)
        if block is not None and _line(block) == _end_line(block):
            self.lines.append(_Line(depth, _inline(st), _end_line(st)))
            return
        if head_end > start:  # arguments over several lines: kept as written, re-indented
            self.verbatim(st, block, depth, start, head_end)
        else:
            code = " ".join([_value(head), *(_value(a) for a in rest)])
            self.lines.append(_Line(depth, code + (" {" if block is not None else ""), start))
        if block is None:
            return
        inner = [s for s in block.children if isinstance(s, Tree)]
        self.statements(inner, depth + 1, _line(block) + 1, _end_line(block) - 1)
        self.lines.append(_Line(depth, "}", _end_line(block)))

    def verbatim(self, st: Tree, block: Tree | None, depth: int, start: int, end: int) -> None:
        col = int(st.meta.column) - 1
        for n in range(start, end + 1):
            raw = self.src[n - 1]
            if n == end:
                note = self.notes.get(n)
                cut = block.meta.column - 1 if block is not None else None
                raw = raw[: note.column] if note is not None else raw
                raw = (raw[:cut] if cut is not None else raw).rstrip()
                raw += " {" if block is not None else ""
            elif n in self.notes:
                self.used.add(n)  # a comment inside the arguments stays where it is
            if n == start:
                self.lines.append(_Line(depth, raw[col:].rstrip(), None))
                continue
            hang = INDENT * (depth + 2) + raw.strip() if raw.strip() else ""  # a hanging indent
            self.lines.append(_Line(0, hang, end if n == end else None))

    def attach(self) -> None:
        """Trailing comments to the last output line made from their source line."""
        last: dict[int, _Line] = {}
        for ln in self.lines:
            if ln.src is not None:
                last[ln.src] = ln
        for n, note in self.notes.items():
            if n not in self.used and not note.alone and n in last:
                last[n].comment = note.text
                self.used.add(n)

    def render(self) -> str:
        """The output text. Trailing comments are aligned per run: the commented lines of a
        stretch of code without blank lines or own-line comments, ended when the code leaves the
        block the run began in (lines without comments in between do not break it); a line that
        alignment would take past `WIDTH` characters keeps its comment two spaces after it."""
        out: list[str] = []
        run: list[tuple[int, str, str]] = []  # (index in out, code, comment)
        base = 0  # the indentation of the run's first line

        def flush() -> None:
            width = max((len(code) for _, code, _ in run), default=0)
            for i, code, note in run:
                aligned = f"{code:<{width}}  {note}"
                out[i] = aligned if len(aligned) <= WIDTH else f"{code}  {note}"
            run.clear()

        for ln in self.lines:
            code = INDENT * ln.indent + ln.code if ln.code else ""
            level = len(code) - len(code.lstrip())
            if run and (not code or code.lstrip().startswith("#") or level < base):
                flush()
            if ln.comment is None:
                out.append(code)
                continue
            if not run:
                base = level
            run.append((len(out), code, ln.comment))
            out.append("")  # filled in by flush()
        flush()
        return "\n".join(out) + "\n" if out else ""


def _shape(node: Tree | Token) -> object:
    """A tree without positions, to compare the parse of the input and of the output."""
    if isinstance(node, Token):
        return (node.type, str(node.value))
    return (node.data, tuple(_shape(c) for c in node.children))


def format_text(text: str, filename: str = "<spec>") -> str:
    """`text` in canonical layout; a syntax error is a DlcError (nothing is formatted)."""
    tree = parse_text(text, filename)
    f = _Formatter(text)
    top = [s for s in tree.children if isinstance(s, Tree)]
    f.statements(top, 0, 1, len(f.src))
    f.attach()
    missing = [n for n, note in f.notes.items() if n not in f.used]
    result = f.render()
    if missing or _shape(parse_text(result, filename)) != _shape(tree):  # pragma: no cover
        raise DlcError.single(
            "dlc fmt could not format this file without changing it",
            where=filename if not missing else f"{filename}:{missing[0]}",
            hint="please report it; the file was left as it is",
        )
    return result
