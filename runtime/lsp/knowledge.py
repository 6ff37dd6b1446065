"""What the language server knows about a place in a spec: the statement and blocks around the
cursor (`context`), the names that fit there (`candidates`, from the registries and the spec's
models) and the reference text of a name (`reference`, the rows of grammar/README.md's tables).

Example:
    >>> ctx = context("model {\\n  den", 1, 5)
    >>> ctx.blocks, ctx.statement, ctx.prefix
    (('model',), (), 'den')
    >>> "dense" in {c.label for c in candidates(ctx)}
    True
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from dlc.compiler.docs import entry_reference
from dlc.compiler.registry import LAYERS, LOSSES, OPTIMIZERS, SCHEDULES, SOURCES, Registry
from dlc.compiler.spec import SECTION_DOCS, Spec

# statement names whose first argument is a registry entry (top level)
ENTRY_SECTIONS: dict[str, Registry] = {
    "loss": LOSSES,
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
}
LAYER_BLOCKS = ("model", "block")  # blocks whose statements are layers
_TOKEN = re.compile(
    r'(?P<str>"(?:[^"\\\n]|\\.)*"?)|(?P<comment>#[^\n]*)'
    r"|(?P<num>[+-]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_]\w*)|(?P<nl>\r?\n|;)|(?P<open>[\[(])|(?P<close>[\])])"
    r"|(?P<brace>[{}])|(?P<other>\S)"
)


@dataclass(frozen=True)
class Context:
    """Where the cursor is: the heads of the enclosing blocks, the tokens of the statement so
    far (without the word under the cursor), and that word's part before the cursor."""

    blocks: tuple[str, ...]
    statement: tuple[str, ...]
    prefix: str
    block_names: tuple[str, ...] = ()  # `block NAME(...)` definitions in the file


@dataclass(frozen=True)
class Candidate:
    label: str
    kind: Literal["section", "entry", "setting", "value", "block"]
    detail: str  # "layer", "loss", "setting of dense", ...
    documentation: str
    insert: str | None = None  # text to insert when it differs from the label (`units=`)


def context(text: str, line: int, character: int) -> Context:
    """The context at a 0-based line and character (code points) of `text`."""
    lines = text.split("\n")
    before = "\n".join([*lines[:line], lines[line][:character] if line < len(lines) else ""])
    blocks: list[str] = []
    stmt: list[str] = []
    for m in _TOKEN.finditer(before):
        kind, tok = m.lastgroup, m.group()
        if kind == "comment":
            continue
        if kind == "nl":
            stmt = [] if not _open_brackets(stmt) else stmt
        elif kind == "brace":
            if tok == "{":
                blocks.append(stmt[0] if stmt else "?")
            elif blocks:
                blocks.pop()
            stmt = []
        else:
            stmt.append(tok)
    prefix = ""
    word = re.search(r"[A-Za-z_]\w*$", before)
    if word and stmt and stmt[-1] == word.group():
        prefix = stmt.pop()
    names = tuple(re.findall(r"^\s*block\s+([A-Za-z_]\w*)", text, flags=re.M))
    return Context(tuple(blocks), tuple(stmt), prefix, names)


def _open_brackets(stmt: list[str]) -> bool:
    depth = sum(1 for t in stmt if t in "[(") - sum(1 for t in stmt if t in "])")
    return depth > 0


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of a type: `X | None` -> [X, NoneType]; anything else -> [it]."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for alt in typing.get_args(annotation) for a in _unwrap(alt)]
    return [annotation]


def _model_of(annotation: Any) -> type | None:
    """The spec model class a field holds, if any."""
    for alt in _unwrap(annotation):
        if isinstance(alt, type) and hasattr(alt, "model_fields"):
            return alt
    return None


def _literals(annotation: Any) -> list[str]:
    out: list[str] = []
    for alt in _unwrap(annotation):
        if typing.get_origin(alt) is Literal:
            out += [str(v) for v in typing.get_args(alt)]
        elif alt is bool:
            out += ["true", "false"]
    return out


def _section_model(blocks: tuple[str, ...]) -> type | None:
    """The model whose fields are the settings inside these blocks (`train` -> Train)."""
    cls: type | None = Spec
    for name in blocks:
        fields = getattr(cls, "model_fields", {})
        if name not in fields:
            return None
        cls = _model_of(fields[name].annotation)
    return cls


def _entries(reg: Registry, detail: str) -> list[Candidate]:
    return [Candidate(n, "entry", detail, reference(n, reg) or "") for n in reg.names()]


def _settings(cls: type, owner: str, given: tuple[str, ...]) -> list[Candidate]:
    out = []
    for name, info in getattr(cls, "model_fields", {}).items():
        if name in given or name in getattr(cls, "slots", {}):
            continue
        doc = f"`{name}` = {_default(info)}" + (f": {info.description}" if info.description else "")
        out.append(Candidate(name, "setting", f"setting of {owner}", doc, f"{name}="))
    return out


def _default(info: Any) -> str:
    if info.is_required():
        return "required"
    v = info.get_default(call_default_factory=True)
    if isinstance(v, bool):
        return "true" if v else "false"
    return "none" if v is None else repr(v)


def _head_candidates(ctx: Context) -> list[Candidate]:
    """Names that may start a statement in `ctx.blocks`."""
    if not ctx.blocks:
        docs = {**SECTION_DOCS, "block": "a named group of layers: `block NAME(params) { ... }`"}
        return [Candidate(n, "section", "section", d) for n, d in docs.items()]
    if ctx.blocks[0] in LAYER_BLOCKS:
        rep = Candidate("repeat", "section", "repeat", "`repeat N { ... }`: the block N times")
        named = [
            Candidate(n, "block", "named block", f"`{n}`: a block of this file")
            for n in ctx.block_names
        ]
        return [*_entries(LAYERS, "layer"), rep, *named]
    cls = _section_model(ctx.blocks)
    out = _entries(SOURCES, "data source") if ctx.blocks == ("data",) else []
    if cls is not None:
        for c in _settings(cls, ctx.blocks[-1], ()):
            out.append(Candidate(c.label, c.kind, c.detail, c.documentation))  # `batch 32`
    return out


def statement_class(ctx: Context) -> tuple[type | None, str]:
    """The spec model of the statement under the cursor and its name (for its settings)."""
    head = ctx.statement[0]
    if not ctx.blocks and head in ENTRY_SECTIONS and len(ctx.statement) > 1:
        name = ctx.statement[1].split("(")[0]
        return ENTRY_SECTIONS[head].get(name), name
    if ctx.blocks and ctx.blocks[0] in LAYER_BLOCKS:
        return LAYERS.get(head), head
    if ctx.blocks == ("data",) and head in SOURCES.names():
        return SOURCES.get(head), head
    section = _section_model(ctx.blocks)
    fields = getattr(section, "model_fields", {})
    if head in fields:
        return _model_of(fields[head].annotation), head
    return None, head


def candidates(ctx: Context) -> list[Candidate]:
    """What may be written at the cursor, best first, filtered by the typed prefix."""
    found = _argument_candidates(ctx) if ctx.statement else _head_candidates(ctx)
    return [c for c in found if c.label.startswith(ctx.prefix)]


def _argument_candidates(ctx: Context) -> list[Candidate]:
    head, last = ctx.statement[0], ctx.statement[-1]
    if not ctx.blocks and head in ENTRY_SECTIONS and (len(ctx.statement) == 1 or last == "then"):
        return _entries(ENTRY_SECTIONS[head], head)
    cls, owner = statement_class(ctx)
    if last == "=" and len(ctx.statement) >= 2 and cls is not None:
        info = getattr(cls, "model_fields", {}).get(ctx.statement[-2])
        values = _literals(info.annotation) if info is not None else []
        return [Candidate(v, "value", f"{owner}.{ctx.statement[-2]}", "") for v in values]
    if cls is None:
        section = _section_model(ctx.blocks)
        info = getattr(section, "model_fields", {}).get(head)
        values = _literals(info.annotation) if info is not None else []
        return [Candidate(v, "value", head, "") for v in values]
    given = tuple(t for i, t in enumerate(ctx.statement[:-1]) if ctx.statement[i + 1] == "=")
    out = _settings(cls, owner, given)
    positional = getattr(cls, "positional", ())
    if positional and len(ctx.statement) == 1:  # `normalize minmax`: the first positional's words
        first = cls.model_fields[positional[0]]  # type: ignore[attr-defined]
        out = [Candidate(v, "value", owner, "") for v in _literals(first.annotation)] + out
    return out


def reference(name: str, reg: Registry | None = None) -> str | None:
    """The reference text of a registry entry, as markdown (None if no registry has it).

    Example:
        >>> print(reference("mse"))
        **`mse`** — loss
        <BLANKLINE>
        Mean squared error: mean((out - y)^2).
        <BLANKLINE>
        settings (default): `report`=()
    """
    regs = [reg] if reg is not None else [LAYERS, LOSSES, OPTIMIZERS, SCHEDULES, SOURCES]
    for r in regs:
        cls = r.get(name)
        if cls is not None:
            settings, doc = entry_reference(cls)
            return f"**`{name}`** — {r.kind}\n\n{doc}\n\nsettings (default): {settings}"
    return None
