"""The language server's answers as plain data (no pygls here, so they are tested without it):
diagnostics from dlc's located errors, completion, hover text and formatting edits. Positions
are LSP's: 0-based lines and UTF-16 characters.

Example:
    >>> [d] = diagnostics("model {\\n  rleu\\n}\\nloss mse\\n", "m.dl")
    >>> d.line, d.character, d.message
    (1, 2, 'unknown layer `rleu`')
    >>> d.hint.split(" Or ")[0]
    'did you mean `relu`?'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from dlc.compiler.errors import DlcError, Span
from dlc.compiler.format import format_text
from dlc.compiler.frontend import ResolvedSpec, load_spec
from dlc.compiler.passes import DataFacts, bind_data
from dlc.compiler.shapes import infer
from dlc.compiler.spec import SECTION_DOCS
from dlc.runtime.lsp.knowledge import Candidate, candidates, context, reference, statement_class

SPEC_FILE = "<spec>"  # load_spec's name for a spec given as text


@dataclass(frozen=True)
class Problem:
    """One diagnostic: a range in the document, dlc's message and hint, and notes elsewhere."""

    line: int
    character: int
    end_line: int
    end_character: int
    message: str
    hint: str | None = None
    notes: tuple[tuple[str, int, int], ...] = ()  # (note, line, character) in this document


def _utf16(text_line: str, column: int) -> int:
    """A code-point column as UTF-16 units (LSP's default position encoding)."""
    return len(text_line[:column].encode("utf-16-le")) // 2


def code_points(text_line: str, character: int) -> int:
    """A UTF-16 character offset as a code-point column (the inverse of `_utf16`)."""
    units = 0
    for i, ch in enumerate(text_line):
        if units >= character:
            return i
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(text_line)


def _range(span: Span | None, lines: list[str]) -> tuple[int, int, int, int]:
    if span is None or span.file != SPEC_FILE or not 1 <= span.line <= max(1, len(lines)):
        return 0, 0, 0, len(lines[0]) if lines else 0  # elsewhere: the first line
    row = lines[span.line - 1] if lines else ""
    end_line = span.end_line or span.line
    end_col = span.end_column if span.end_column and span.end_line else span.column + 1
    if not 1 <= end_line <= len(lines) or (end_line, end_col) <= (span.line, span.column):
        end_line, end_col = span.line, span.column + 1
    end_row = lines[end_line - 1]
    return (
        span.line - 1,
        _utf16(row, span.column - 1),
        end_line - 1,
        _utf16(end_row, min(end_col - 1, len(end_row))),
    )


@dataclass(frozen=True)
class Facts:
    """What the model's shapes need from the data (not the data itself, which may be large)."""

    input_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    num_classes: int | None
    vocab_size: int | None
    compiler_facts: DataFacts | None = None  # what `bind_data` needs (vocab, named inputs)


_FACTS: dict[str, Facts] = {}  # by the data section (canonical JSON) and folder


def _key(resolved: ResolvedSpec) -> str:
    data = resolved.spec.data  # every field of the source's own class, not only the base's
    body = data.model_dump(mode="json", serialize_as_any=True)
    return json.dumps([str(resolved.base_dir), data.source.dl_name, body], sort_keys=True)


def data_loaded(text: str, path: str | Path) -> bool:
    """Whether the data's shapes for this text are known (else `diagnostics` reads the data)."""
    try:
        return _key(load_spec(text, base_dir=Path(path).parent)) in _FACTS
    except DlcError:
        return True  # nothing to read: the text has errors before the data


def data_facts(resolved: ResolvedSpec) -> Facts:
    """The data's shapes, loaded once per data section (`dlc check` reads the data likewise)."""
    from dlc.runtime.data.prepare import prepare

    key = _key(resolved)
    if key not in _FACTS:
        prepared = prepare(resolved)
        facts = Facts(
            prepared.input_shape,
            prepared.target_shape,
            prepared.num_classes,
            prepared.vocab_size,
            prepared.facts(),
        )
        if len(_FACTS) >= 16:
            _FACTS.pop(next(iter(_FACTS)))
        _FACTS[key] = facts
    return _FACTS[key]


def _check(text: str, path: str | Path, shapes: bool) -> None:
    """Raise dlc's errors for the text: parse, expand, resolve; with `shapes`, also the data
    source and every layer's shape (as `dlc check`)."""
    resolved = load_spec(text, base_dir=Path(path).parent)
    if shapes:
        facts = data_facts(resolved)
        bound = bind_data(resolved, facts.compiler_facts or DataFacts(facts.vocab_size))
        infer(bound, facts.input_shape, facts.target_shape, facts.num_classes)


def diagnostics(text: str, path: str | Path, shapes: bool = True) -> list[Problem]:
    """dlc's errors for a document's text, as `dlc check` finds them (its data is read once
    per data section; `shapes=False`: parse, expand and resolve only)."""
    lines = text.split("\n")
    try:
        _check(text, path, shapes)
    except DlcError as err:
        out = []
        for d in err.diagnostics:
            here = [span for _, span in d.notes if span.file == SPEC_FILE]
            elsewhere = d.span is None or d.span.file != SPEC_FILE
            # an error in a data file: at the statement that names it (its first note)
            first = _range(here[0] if elsewhere and here else d.span, lines)
            message = d.message
            if d.span is not None and d.span.file != SPEC_FILE:
                message = f"{d.span}: {message}"  # e.g. a `--set` or another file
            elif d.span is None and d.where:
                message = f"{d.where}: {message}"
            notes = tuple(
                (note, *_range(span, lines)[:2]) for note, span in d.notes if span.file == SPEC_FILE
            )
            out.append(Problem(*first, message, d.hint, notes))
        return out
    return []


_WORD = re.compile(r"[A-Za-z_]\w*")


_GRID_PATH = re.compile(r'^\s*grid\s+"([\w.\[\]*-]*)$')


def completions(text: str, line: int, character: int) -> list[Candidate]:
    """What may be written at a position (LSP coordinates)."""
    row = text.split("\n")[line] if line < len(text.split("\n")) else ""
    m = _GRID_PATH.match(row[: code_points(row, character)])
    if m is not None:  # `grid "model.re|`: the paths into this spec's model
        return grid_path_candidates(text, line, m.group(1))
    return candidates(context(text, line, code_points(row, character)))


def grid_path_candidates(text: str, line: int, typed: str) -> list[Candidate]:
    """The model paths of the spec (the file without the line being typed) that start with
    `typed`; each inserts what follows the typed path's last `.` (editors replace that word)."""
    from dlc.compiler.ast import build_ast
    from dlc.compiler.errors import DlcError
    from dlc.compiler.parser import parse_text
    from dlc.compiler.paths import valid_paths

    lines = text.split("\n")
    rest = "\n".join(lines[:line] + lines[line + 1 :])
    try:
        paths = valid_paths(build_ast(parse_text(rest, SPEC_FILE), SPEC_FILE))
    except DlcError:
        return []
    cut = typed.rfind(".") + 1
    return [
        Candidate(p, "value", "grid path", "a path into the model (grammar/README.md)", p[cut:])
        for p in paths
        if p.startswith(typed)
    ]


def hover(text: str, line: int, character: int) -> str | None:
    """Markdown about the name at a position: a registry entry's reference text, a section's
    purpose, or a setting's default; None over anything else."""
    lines = text.split("\n")
    if line >= len(lines):
        return None
    row = lines[line]
    col = code_points(row, character)
    word = next((m for m in _WORD.finditer(row) if m.start() <= col <= m.end()), None)
    if word is None:
        return None
    ctx = context(text, line, word.end())
    name = word.group()
    after = row[word.end() :].lstrip()
    if ctx.statement and after.startswith("="):  # a setting: `lr=...`
        cls, owner = statement_class(ctx)
        info = getattr(cls, "model_fields", {}).get(name)
        if info is not None:
            found = [c for c in candidates(ctx) if c.label == name]
            doc = found[0].documentation if found else f"`{name}`"
            return f"{doc}\n\n(a setting of `{owner}`)"
    if not ctx.blocks and not ctx.statement and name in SECTION_DOCS:
        return f"**`{name}`** — section\n\n{SECTION_DOCS[name]}"
    found = [c for c in candidates(ctx) if c.label == name and c.documentation]
    if found:
        c = found[0]
        return f"{c.documentation}\n\n({c.detail})" if c.kind == "setting" else c.documentation
    return reference(name)


@dataclass(frozen=True)
class Edit:
    """Replace the whole document, which ends at (end_line, end_character), with `text`."""

    end_line: int
    end_character: int
    text: str


def formatting(text: str) -> list[Edit]:
    """The edit that formats the document (`dlc fmt`); none if it is formatted or broken."""
    try:
        new = format_text(text, SPEC_FILE)
    except DlcError:
        return []
    if new == text:
        return []
    lines = text.split("\n")
    return [Edit(len(lines) - 1, _utf16(lines[-1], len(lines[-1])), new)]
