"""Diagnostics: `file:line:col: error: message`, the source line, carets and a hint.

Example:
    >>> span = Span("m.dl", 3, 3, 3, 7)
    >>> d = Diagnostic("unknown layer `rleu`", span, hint="did you mean `relu`?")
    >>> print(DlcError([d], {"m.dl": "a\\nb\\n  rleu\\n"}))
    m.dl:3:3: error: unknown layer `rleu`
      3 |   rleu
        |   ^^^^
      hint: did you mean `relu`?
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_SNIPPET = 120  # characters of a source line shown under an error


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns start at 1, end column is exclusive."""

    file: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    """One error: what went wrong, where (a span, or a file/row for data), and how to fix it."""

    message: str
    span: Span | None = None
    hint: str | None = None
    notes: tuple[tuple[str, Span], ...] = ()
    where: str | None = None  # for errors outside a spec, e.g. "data.csv:row 12"

    def location(self) -> str:
        if self.span is not None:
            return str(self.span)
        return self.where or "dlc"


@dataclass
class DlcError(Exception):
    """The one exception dlc raises for bad input; it carries every diagnostic found."""

    diagnostics: list[Diagnostic]
    sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.render())

    @classmethod
    def single(
        cls,
        message: str,
        *,
        hint: str | None = None,
        where: str | None = None,
        span: Span | None = None,
        source: str | None = None,
    ) -> DlcError:
        sources = {span.file: source} if span is not None and source is not None else {}
        return cls([Diagnostic(message, span, hint, where=where)], sources)

    def render(self) -> str:
        return "\n".join(render_diagnostic(d, self.sources) for d in self.diagnostics)

    def __str__(self) -> str:
        return self.render()


def _snippet(span: Span, sources: dict[str, str]) -> list[str]:
    text = sources.get(span.file)
    if text is None:
        return []
    lines = text.splitlines()
    if not 1 <= span.line <= len(lines):
        return []
    src = lines[span.line - 1].replace("\t", " ")
    width = 1
    if span.end_line == span.line and span.end_column and span.end_column > span.column:
        width = span.end_column - span.column
    col = span.column
    if len(src) > MAX_SNIPPET:  # a window around the caret: never a whole long line
        start = max(0, min(col - 1 - MAX_SNIPPET // 2, len(src) - MAX_SNIPPET))
        src = ("…" if start else "") + src[start : start + MAX_SNIPPET] + "…"
        col = col - start + (1 if start else 0)
        width = max(1, min(width, MAX_SNIPPET - col + 2))
    gutter = " " * len(str(span.line))
    return [f"  {span.line} | {src}", f"  {gutter} | {' ' * (col - 1)}{'^' * width}"]


def excerpt(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters (with `…`), for echoing file content in a message.

    Example: `excerpt("x" * 100, 5) == "xxxxx…"`.
    """
    return text if len(text) <= limit else text[:limit] + "…"


def render_diagnostic(d: Diagnostic, sources: dict[str, str]) -> str:
    out = [f"{d.location()}: error: {d.message}"]
    if d.span is not None:
        out += _snippet(d.span, sources)
    for note, span in d.notes:
        out.append(f"{span}: note: {note}")
        out += _snippet(span, sources)
    if d.hint:
        out.append(f"  hint: {d.hint}")
    return "\n".join(out)


def close_matches(word: str, choices: Iterable[str], n: int, cutoff: float) -> list[str]:
    """`difflib.get_close_matches`, imported only when there is an error to hint at (difflib
    costs ~2 ms of every start-up)."""
    import difflib

    return difflib.get_close_matches(word, list(choices), n=n, cutoff=cutoff)


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """A `did you mean` hint for a misspelt name, or a list of the valid names."""
    choices = sorted(set(choices))
    close = close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    if len(choices) <= 12:
        return "expected one of: " + ", ".join(f"`{c}`" for c in choices)
    return None
