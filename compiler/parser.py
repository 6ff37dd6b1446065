"""Text -> Lark tree (LALR, positions kept), with syntax errors turned into diagnostics.

Example:
    >>> tree = parse_text("loss mse\\n", "x.dl")
    >>> tree.children[0].children[0].value
    'loss'
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from dlc.compiler.errors import Diagnostic, DlcError, Span
from dlc.compiler.files import cache_root
from dlc.grammar import GRAMMAR_PATH

# What a person reads instead of terminal names.
TOKEN_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a "string"',
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "EQUAL": "`=`",
    "COMMA": "`,`",
    "SEMICOLON": "`;`",
    "THEN": "`then`",
    "_NL": "a new line",
    "$END": "the end of the file",
}
MAX_DEPTH = 32


class BracketNewlines:
    """Post-lexer: newlines inside `(...)` and `[...]` are whitespace, so lists may span lines."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        for tok in stream:
            if tok.type in ("LPAR", "LSQB"):
                depth += 1
            elif tok.type in ("RPAR", "RSQB"):
                depth = max(0, depth - 1)
            elif tok.type == "_NL" and depth:
                continue
            yield tok


def _cache_path() -> str | bool:
    """Lark's grammar cache file in dlc's cache folder (`$DLC_CACHE`), or False if unwritable."""
    folder = cache_root()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return str(folder / "grammar-lalr.cache")


@lru_cache(maxsize=1)
def get_parser(strict: bool = False) -> Lark:
    """The LALR parser (cached on disk: building it costs more than parsing a spec)."""
    return Lark(
        GRAMMAR_PATH.read_text(),
        parser="lalr",
        propagate_positions=True,
        postlex=BracketNewlines(),
        maybe_placeholders=False,
        strict=strict,
        cache=False if strict else _cache_path(),
    )


def _describe(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    return f"`{tok.value}`"


def _expected_words(expected: set[str]) -> str:
    words = sorted({TOKEN_WORDS.get(e, f"`{e.lower()}`") for e in expected})
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _syntax_diagnostic(err: UnexpectedInput, text: str, filename: str) -> Diagnostic:
    line, col = err.line, err.column
    if line is None or line < 1:  # UnexpectedEOF carries -1: point after the last character
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
    if isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else "?"
        hint = None
        if ch == "'":
            hint = 'strings use double quotes: "like this"'
        elif ch == "=":
            hint = "keyword arguments are written name=value after the statement's name"
        msg = f"unexpected character `{ch}`"
        return Diagnostic(msg, Span(filename, line, col, line, col + 1), hint)
    if isinstance(err, UnexpectedToken):
        tok = err.token
        expected = {e for e in (err.accepts or err.expected) if not e.startswith("__")}
        msg = f"unexpected {_describe(tok)}; expected {_expected_words(expected)}"
        hint = None
        if tok.type == "$END" and "RBRACE" in expected:
            hint = "a `{` block is not closed: add `}`"
        elif tok.type == "RBRACE":
            hint = "this `}` closes no block"
        elif tok.type == "EQUAL":
            hint = "write keyword arguments as name=value, e.g. `optimizer adam lr=1e-3`"
        elif tok.type == "LBRACE":
            hint = "a block opens on the line of its name, e.g. `model {`"
        end = col + max(1, len(str(tok.value))) if tok.type not in ("$END", "_NL") else col + 1
        return Diagnostic(msg, Span(filename, line, col, line, end), hint)
    assert isinstance(err, UnexpectedEOF)
    return Diagnostic("unexpected end of the file", Span(filename, line, col), None)


def _depth(tree: Tree) -> int:
    deepest, stack = 0, [(tree, 0)]
    while stack:
        node, d = stack.pop()
        if node.data == "block":
            d += 1
            deepest = max(deepest, d)
        stack.extend((c, d) for c in node.children if isinstance(c, Tree))
    return deepest


def _too_nested_value(tree: Tree) -> Tree | None:
    """The first list or call nested more than MAX_DEPTH deep in a value, or None."""
    stack = [(tree, 0)]
    while stack:
        node, d = stack.pop()
        if node.data in ("list", "call", "then_chain"):
            d += 1
            if d > MAX_DEPTH:
                return node
        stack.extend((c, d) for c in node.children if isinstance(c, Tree))
    return None


def parse_text(text: str, filename: str = "<spec>") -> Tree:
    """Parse .dl text; every syntax error is a DlcError with file:line:col."""
    diags: list[Diagnostic] = []

    seen_lines: set[int] = set()

    def on_error(err: UnexpectedInput) -> bool:
        # one error per line: recovery inside a broken line only produces echoes of the first
        d = _syntax_diagnostic(err, text, filename)
        assert d.span is not None
        if d.span.line not in seen_lines:
            seen_lines.add(d.span.line)
            diags.append(d)
        return len(diags) < 10 and isinstance(err, UnexpectedCharacters)

    try:
        tree = get_parser().parse(text, on_error=on_error)
    except UnexpectedInput as err:
        if not diags or diags[-1] != _syntax_diagnostic(err, text, filename):
            diags.append(_syntax_diagnostic(err, text, filename))
        tree = None
    if diags:
        raise DlcError(diags, {filename: text})
    assert tree is not None
    if _depth(tree) > MAX_DEPTH:
        raise DlcError.single(
            f"blocks are nested more than {MAX_DEPTH} deep",
            where=filename,
            hint="flatten the spec or use `repeat`",
        )
    if (node := _too_nested_value(tree)) is not None:
        line, col = node.meta.line, node.meta.column
        raise DlcError.single(
            f"a value is nested more than {MAX_DEPTH} deep",
            span=Span(filename, line, col, line, col + 1),
            source=text,
            hint="write the list or call with fewer levels of `[` and `(`",
        )
    return tree


MAX_SPEC_BYTES = 1 << 20  # a spec file larger than 1 MiB is refused


def read_spec_file(path: str | Path) -> str:
    """A spec file's text: a regular UTF-8 file of at most MAX_SPEC_BYTES; else a DlcError."""
    p = Path(path)
    try:
        st = p.stat()
        if stat.S_ISDIR(st.st_mode):
            raise DlcError.single(
                f"cannot read spec file `{p}`: it is a folder", where=str(p), hint="name a .dl file"
            )
        if not stat.S_ISREG(st.st_mode):
            raise DlcError.single(
                f"cannot read spec file `{p}`: not a regular file (a pipe or a device?)",
                where=str(p),
                hint="name a .dl file",
            )
        if st.st_size > MAX_SPEC_BYTES:
            raise DlcError.single(
                f"spec file `{p}` is {st.st_size:,} bytes, more than {MAX_SPEC_BYTES:,}",
                where=str(p),
                hint="is this really a .dl spec?",
            )
        with open(p, "rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
        return data.decode("utf-8")
    except FileNotFoundError:
        raise DlcError.single(
            f"spec file `{p}` does not exist", where=str(p), hint="check the path; specs end in .dl"
        ) from None
    except UnicodeDecodeError as exc:
        raise DlcError.single(
            f"spec file `{p}` is not UTF-8 text (byte {exc.start})",
            where=str(p),
            hint="save the spec as UTF-8",
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DlcError.single(f"cannot read spec file `{p}`: {reason}", where=str(p)) from None
