"""Paths into the model for `--set PATH=VALUE` and `grid "PATH" [...]`, applied to the spec as
written (before named blocks and `repeat` are expanded), so that they can reach a `repeat`
count, a layer's setting inside a `repeat`, a residual or a named block, a block's argument,
and which layer stands at a place.

    model.STEP.STEP...[.SETTING]      STEP: NAME, NAME[i] (from 0; -1 the last) or NAME[*]

Each step names a statement one `{ }` level down, as written in the file; a named block's use
leads into its definition (changed for that use only). A name that several statements of one
level share needs `[i]` (or `[*]`: every one). At the end of a path:

| path ends at                | `=V` does                                                      |
| --- | --- |
| `repeat`                    | sets its count                                                 |
| a layer, V a layer's name   | puts that layer in its place (`model.repeat.relu=sigmoid`)     |
| a layer, another V          | sets its positional setting (`model.dropout=0.3`)              |
| `LAYER.SETTING`             | sets that setting (`model.dense[-1].units=2`)                  |
| `BLOCK.PARAM` (a block use) | sets that argument of the use (`model.repeat.hidden.act=tanh`) |

Example:
    >>> from dlc.compiler.parser import parse_text
    >>> from dlc.compiler.ast import build_ast, Num
    >>> from dlc.compiler.errors import Span
    >>> text = "model {\\n repeat 2 { dense 4; relu }\\n dense 1\\n}\\n"
    >>> stmts, at = build_ast(parse_text(text, "x"), "x"), Span("s", 1, 1)
    >>> out = apply_model_path(stmts, parse_path("model.repeat", at), Num(at, 3))
    >>> out[0].body[0].args[0].value
    3
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from itertools import count

from dlc.compiler.ast import Call, KwArg, Name, Statement, Value
from dlc.compiler.errors import DlcError, Span, close_matches
from dlc.compiler.registry import LAYERS

_STEP = re.compile(r"([A-Za-z_]\w*)(?:\[(-?\d+|\*)\])?")
MAX_LISTED = 2000  # paths enumerated for a did-you-mean


@dataclass(frozen=True)
class Step:
    name: str
    index: int | str | None  # None, an int, or "*"
    text: str


def parse_path(key: str, span: Span) -> list[Step]:
    """`model.dense[2].units` -> steps; an error at `span` if it is not a path."""
    steps = []
    for part in key.strip().split("."):
        m = _STEP.fullmatch(part)
        if m is None:
            raise DlcError.single(
                f"override key `{key}` is not a dotted name",
                span=span,
                hint="names joined by `.` (a layer that occurs several times with [i] or [*]), "
                "e.g. --set optimizer.lr=3e-4, --set model.repeat=3, --set model.dense[0].units=64",
            )
        index = m.group(2)
        steps.append(
            Step(m.group(1), None if index is None else "*" if index == "*" else int(index), part)
        )
    if steps[0].name != "model" and any(s.index is not None for s in steps):
        raise DlcError.single(
            f"`{key}`: only paths into `model` take [i]",
            span=span,
            hint="e.g. model.dense[0].units",
        )
    return steps


def _block_defs(stmts: tuple[Statement, ...]) -> dict[str, tuple[int, Statement, list[str]]]:
    """Top-level `block` definitions: name -> (statement index, statement, parameters)."""
    out: dict[str, tuple[int, Statement, list[str]]] = {}
    for i, st in enumerate(stmts):
        head = st.args[0] if st.name == "block" and len(st.args) == 1 else None
        if isinstance(head, Name):
            out[head.value] = (i, st, [])
        elif isinstance(head, Call):
            params = [a.value for a in head.args if isinstance(a, Name)]
            out[head.name.value] = (i, st, [*params, *(k.name for k in head.kwargs)])
    return out


def _base(name: str) -> str:
    """`hidden@2` (a block copied for one use by an earlier path) -> `hidden`."""
    return name.split("@")[0]


def _settings(name: str) -> tuple[list[str], tuple[str, ...]]:
    """A layer's settings and its positional ones ([] for an unknown name)."""
    cls = LAYERS.get(name)
    if cls is None:
        return [], ()
    block = getattr(cls, "block_field", None)
    return [f for f in cls.model_fields if f != block], cls.positional


class _Walker:
    def __init__(self, stmts: tuple[Statement, ...], key: str, span: Span, at: Span) -> None:
        self.top = list(stmts)
        self.blocks = _block_defs(stmts)
        self.key, self.span, self.at = key, span, at  # the setting's name; the whole path
        self.ids = count(1)

    def fail(self, message: str, hint: str | None = None) -> DlcError:
        return DlcError.single(f"`{self.key}`: {message}", span=self.at, hint=hint)

    def suggestions(self, where: str, body: tuple[Statement, ...]) -> str:
        paths = valid_paths(tuple(self.top))
        close = close_matches(self.key, paths, n=3, cutoff=0.6)
        here = ", ".join(f"`{n}`" for n in dict.fromkeys(_base(s.name) for s in body))
        said = ("did you mean " + " or ".join(f"`{c}`" for c in close) + "? ") if close else ""
        return said + (f"`{where}` holds: {here}" if here else f"`{where}` is empty")

    def select(self, body: tuple[Statement, ...], step: Step, where: str) -> list[int]:
        found = [i for i, st in enumerate(body) if _base(st.name) == step.name]
        if not found:
            raise self.fail(f"`{where}` has no `{step.name}`", self.suggestions(where, body))
        lines = ", ".join(str(body[i].span.line) for i in found)
        if step.index == "*":
            return found
        if step.index is None:
            if len(found) > 1:
                raise self.fail(
                    f"`{where}` has {len(found)} `{step.name}` (lines {lines})",
                    f"say which: `{where}.{step.name}[0]` .. `{where}.{step.name}"
                    f"[{len(found) - 1}]` (or [-1], the last), or `{where}.{step.name}[*]` "
                    "for every one",
                )
            return found
        assert isinstance(step.index, int)
        if not -len(found) <= step.index < len(found):
            raise self.fail(
                f"`{where}` has {len(found)} `{step.name}` (lines {lines}): no [{step.index}]",
                f"indices count from 0: [0] .. [{len(found) - 1}], or [-1] for the last",
            )
        return [found[step.index]]

    def body(
        self, body: tuple[Statement, ...], steps: list[Step], value: Value, where: str
    ) -> tuple[Statement, ...]:
        out = list(body)
        for i in self.select(body, steps[0], where):
            out[i] = self.statement(body[i], steps[1:], value, f"{where}.{steps[0].text}")
        return tuple(out)

    def statement(self, st: Statement, rest: list[Step], value: Value, where: str) -> Statement:
        if not rest:
            return self.put(st, value)
        nxt = rest[0]
        if st.name == "repeat":
            return replace(st, body=self.body(st.body or (), rest, value, where))
        if st.name in self.blocks:
            _, _, params = self.blocks[st.name]
            if len(rest) == 1 and nxt.index is None and nxt.name in params:
                return self.setting(st, nxt.name, tuple(params), value)
            return self.into_block(st, rest, value, where)
        settings, positional = _settings(st.name)
        if len(rest) == 1 and nxt.index is None and (nxt.name in settings or st.body is None):
            # the layer's errors (its shape) come from the new value: they point at the override
            return replace(self.setting(st, nxt.name, positional, value), span=self.span)
        if st.body is None:
            raise self.fail(
                f"`{where}` is a layer without a block: `{nxt.text}` is none of its settings",
                f"its settings: {', '.join(settings)}" if settings else None,
            )
        return replace(st, body=self.body(st.body, rest, value, where))

    def into_block(self, st: Statement, rest: list[Step], value: Value, where: str) -> Statement:
        """Change this use's copy of the named block: a new definition only it uses."""
        _, definition, params = self.blocks[st.name]
        clone = next(n for n in (f"{_base(st.name)}@{i}" for i in self.ids) if n not in self.blocks)
        head = definition.args[0]
        if isinstance(head, Call):
            head = replace(head, name=replace(head.name, value=clone))
        elif isinstance(head, Name):
            head = replace(head, value=clone)
        new_body = self.body(definition.body or (), rest, value, where)
        self.top.append(replace(definition, args=(head,), body=new_body))
        self.blocks[clone] = (len(self.top) - 1, self.top[-1], params)
        return replace(st, name=clone)

    def setting(
        self, st: Statement, name: str, positional: tuple[str, ...], value: Value
    ) -> Statement:
        if name in positional and positional.index(name) < len(st.args):
            args = list(st.args)
            args[positional.index(name)] = value
            return replace(st, args=tuple(args))
        kwargs = tuple(k for k in st.kwargs if k.name != name)
        return replace(st, kwargs=(*kwargs, KwArg(name, self.span, value)))

    def put(self, st: Statement, value: Value) -> Statement:
        """`PATH=V` on a statement: a `repeat` count, another layer, or its positional value."""
        if st.name == "repeat":
            return replace(st, args=(value,))
        head = value.name if isinstance(value, Call) else value
        if isinstance(head, Name) and (LAYERS.get(head.value) or head.value in self.blocks):
            args = value.args if isinstance(value, Call) else ()
            kwargs = value.kwargs if isinstance(value, Call) else ()
            return replace(st, name=head.value, span=head.span, args=args, kwargs=kwargs, body=None)
        if st.body is not None:
            raise self.fail(
                f"`{st.name}` holds a block of layers: set one of its settings or layers",
                f"e.g. `{self.key}.LAYER.SETTING=...`, or a layer's name to put in its place",
            )
        # the layer's errors (its shape) come from the new value: they point at the override
        return replace(st, span=self.span, args=(value,))


def apply_model_path(
    stmts: tuple[Statement, ...],
    steps: list[Step],
    value: Value,
    span: Span | None = None,
    path_span: Span | None = None,
) -> tuple[Statement, ...]:
    """The top-level statements with `model.STEPS=value` applied (see the module docstring);
    a path that names nothing, or several things without [i]/[*], is an error at `path_span`
    (the whole path; `span`: its last name, where a setting's errors point)."""
    key = ".".join(s.text for s in steps)
    span = span or value.span
    w = _Walker(stmts, key, span, path_span or span)
    models = [i for i, st in enumerate(stmts) if st.name == "model" and st.body is not None]
    if not models:
        raise w.fail("the spec has no `model { ... }` to set it in")
    if len(steps) == 1:
        raise w.fail(
            "`model` is a block of layers, not a value",
            "name a layer or a setting in it, e.g. model.dense.units=64 or model.repeat=3",
        )
    i = models[-1]
    st = w.top[i]
    w.top[i] = replace(st, body=w.body(st.body or (), steps[1:], value, "model"))
    return tuple(w.top)


def valid_paths(stmts: tuple[Statement, ...]) -> list[str]:
    """Every path into the model (statements, their settings, block arguments), in order.

    Example:
        >>> from dlc.compiler.parser import parse_text
        >>> from dlc.compiler.ast import build_ast
        >>> t = "model {\\n repeat 2 { dense 4; relu }\\n dense 1\\n}\\n"
        >>> paths = valid_paths(build_ast(parse_text(t, "x"), "x"))
        >>> [p for p in paths if not p.endswith(("init", "bias"))]  # doctest: +NORMALIZE_WHITESPACE
        ['model.repeat', 'model.repeat.dense', 'model.repeat.dense.units', 'model.repeat.relu',
         'model.dense', 'model.dense.units']
    """
    blocks = _block_defs(stmts)
    out: list[str] = []

    def walk(body: tuple[Statement, ...], prefix: str, seen: tuple[str, ...]) -> None:
        counts: dict[str, int] = {}
        for st in body:
            counts[_base(st.name)] = counts.get(_base(st.name), 0) + 1
        nth: dict[str, int] = {}
        for st in body:
            if len(out) > MAX_LISTED:
                return
            name = _base(st.name)
            k = nth[name] = nth.get(name, -1) + 1
            path = f"{prefix}.{name}" + (f"[{k}]" if counts[name] > 1 else "")
            out.append(path)
            if st.name == "repeat":
                walk(st.body or (), path, seen)
            elif st.name in blocks:
                _, d, params = blocks[st.name]
                out.extend(f"{path}.{p}" for p in params)
                if st.name not in seen:
                    walk(d.body or (), path, (*seen, st.name))
            else:
                out.extend(f"{path}.{s}" for s in _settings(st.name)[0])
                if st.body is not None:
                    walk(st.body, path, seen)

    for st in stmts:
        if st.name == "model" and st.body is not None:
            walk(st.body, "model", ())
    return out
