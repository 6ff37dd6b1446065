"""A Pygments lexer for `.dl` specs, registered as the `pygments.lexers` entry point `dl`
(`pygmentize -l dl specs/sigmoids.dl`); `dlc explain` highlights with it in a terminal.

It follows grammar/dl.lark: a statement's first name is its head (a section, layer, loss, ...),
`key=` names a setting, `name(` a call, `then` joins schedules; inside `[...]` and `(...)` new
lines are spaces. It knows no registry names, so it needs no import of the compiler.

Example:
    >>> from pygments.token import Keyword, Name
    >>> toks = [(t, v) for t, v in DlLexer().get_tokens("model { dense 8 }\\n") if v.strip()]
    >>> toks[:3] == [(Keyword, "model"), (DlLexer.punct, "{"), (Name.Function, "dense")]
    True
"""

from __future__ import annotations

from typing import Any, ClassVar

from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text

# the sections of a spec and the two statements that shape the model
SECTIONS = (
    "data",
    "model",
    "loss",
    "optimizer",
    "schedule",
    "train",
    "regularize",
    "experiment",
    "block",
    "repeat",
)
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
NUMBER = r"[+-]?(\d[\d_]*(\.[\d_]*)?|\.\d[\d_]*)([eE][+-]?\d+)?"


class DlLexer(RegexLexer):
    """Tokens of a .dl spec: comments, strings, numbers, statement heads, settings, calls."""

    name = "dl"
    aliases: ClassVar[list[str]] = ["dl", "dlc"]
    filenames: ClassVar[list[str]] = ["*.dl"]
    mimetypes: ClassVar[list[str]] = ["text/x-dl"]
    url = "https://github.com/dlc/dlc"
    punct = Punctuation

    tokens: ClassVar[dict[str, list[Any]]] = {
        # where a statement may start
        "root": [
            (r"[ \t\f]+", Text.Whitespace),
            (r"\r?\n|;", Text.Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r"[{}]", Punctuation),
            (words(SECTIONS, suffix=r"\b"), Keyword, "args"),
            (NAME, Name.Function, "args"),
            (r".", Text),
        ],
        # after a statement's head, up to the end of the line, `;` or `{`
        "args": [
            (r"[ \t\f]+", Text.Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r"(?=\r?\n|;|\}|\{)", Text, "#pop"),
            include("value"),
            (r"[\[(]", Punctuation, "brackets"),
            (r".", Text),
        ],
        # inside `[...]` or `(...)`, where new lines are spaces
        "brackets": [
            (r"\s+", Text.Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r"[\])]", Punctuation, "#pop"),
            (r"[\[(]", Punctuation, "#push"),
            (r",", Punctuation),
            include("value"),
            (r".", Text),
        ],
        "value": [
            (r'"(?:[^"\\\n]|\\.)*"', String.Double),
            (NUMBER, Number),
            (r"then\b", Keyword),
            (r"(true|false)\b", Keyword.Constant),
            (rf"({NAME})(\s*)(=)", bygroups(Name.Attribute, Text.Whitespace, Operator)),
            (rf"{NAME}(?=\()", Name.Function),
            (NAME, Name),
        ],
    }


def highlight_terminal(text: str) -> str:
    """`text` with ANSI colours for a terminal (Pygments' 16-colour terminal formatter).

    Example:
        >>> highlight_terminal("loss mse\\n").count("\\x1b[") > 0
        True
    """
    from pygments import highlight
    from pygments.formatters import TerminalFormatter

    return str(highlight(text, DlLexer(), TerminalFormatter()))
