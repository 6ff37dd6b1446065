"""AST -> validated spec. Every Pydantic error is mapped back to the span of the value, keyword
or statement it concerns; all errors of a file are collected before raising.

Example:
    >>> from dlc.compiler.frontend import load_spec
    >>> r = load_spec('data { csv "x.csv" target=y }\\nmodel { dense 1 }\\nloss mse\\n'
    ...               'optimizer sgd lr=0.1\\n')
    >>> r.spec.optimizer.lr, r.spec.model.layers[0].units
    (0.1, 1)
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any, Union, get_args, get_origin

from pydantic import ValidationError

from dlc.compiler.ast import Call, KwArg, ListV, Name, Statement, Then, Value, to_python
from dlc.compiler.distributions import Distribution
from dlc.compiler.errors import Diagnostic, Span, suggest
from dlc.compiler.layers.base import Layer
from dlc.compiler.losses import Loss
from dlc.compiler.optimizers import Optimizer
from dlc.compiler.registry import (
    DISTRIBUTIONS,
    LAYERS,
    LOSSES,
    OPTIMIZERS,
    SCHEDULES,
    SOURCES,
    Registry,
    SpecModel,
)
from dlc.compiler.schedules import Schedule
from dlc.compiler.schedules import Then as ThenSchedule
from dlc.compiler.sources import Source
from dlc.compiler.spec import SECTION_DOCS, Model, Spec

REGISTRY_OF: dict[type, Registry] = {
    Distribution: DISTRIBUTIONS,
    Layer: LAYERS,
    Loss: LOSSES,
    Optimizer: OPTIMIZERS,
    Schedule: SCHEDULES,
    Source: SOURCES,
}


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _registry_for(annotation: Any) -> Registry | None:
    t = _unwrap(annotation)
    return REGISTRY_OF.get(t) if isinstance(t, type) else None


def _is_model(annotation: Any) -> bool:
    t = _unwrap(annotation)
    return isinstance(t, type) and issubclass(t, SpecModel)


def _repeated(annotation: Any) -> type[SpecModel] | None:
    """`tuple[X, ...]` of a (non-registry) spec model: a statement that may be repeated, each
    occurrence adding one X (`grid ...` in `experiment`)."""
    args = get_args(annotation)
    if (
        get_origin(annotation) is tuple
        and len(args) == 2
        and args[1] is Ellipsis
        and _is_model(args[0])
        and _registry_for(args[0]) is None
    ):
        return typing.cast(type[SpecModel], args[0])
    return None


def _expected_choices(ctx: dict[str, Any]) -> list[str]:
    return re.findall(r"'([^']*)'", str(ctx.get("expected", "")))


class Resolver:
    """Builds spec models from statements, collecting diagnostics."""

    def __init__(self) -> None:
        self.diags: list[Diagnostic] = []
        self.spans: dict[str, Span] = {}
        self.origins: dict[str, tuple[Span, ...]] = {}

    def error(
        self,
        message: str,
        span: Span | None,
        hint: str | None = None,
        origin: tuple[Span, ...] = (),
    ) -> None:
        notes = tuple(("in the block used here", s) for s in origin)
        self.diags.append(Diagnostic(message, span, hint, notes))

    # -- values -------------------------------------------------------------------------------
    def plain(self, v: Value) -> Any:
        if isinstance(v, Call | Then):
            self.error(
                "a call or `then` chain is not allowed here",
                v.span,
                "write a number, a string, a name or a [list]",
            )
            return None
        if isinstance(v, ListV):
            return [self.plain(i) for i in v.items]
        return to_python(v)

    def validate(
        self,
        cls: type[SpecModel],
        data: dict[str, Any],
        spans: dict[str, Span],
        where: Span,
        what: str,
        origin: tuple[Span, ...] = (),
        failed: frozenset[str] = frozenset(),
    ) -> SpecModel | None:
        """`cls` from `data`; errors about the `failed` fields (already reported) are skipped."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            for e in exc.errors():
                loc = [str(p) for p in e["loc"]]
                field = loc[0] if loc else None
                if field in failed:
                    continue
                span = spans.get(field, where) if field else where
                msg = e["msg"][0].lower() + e["msg"][1:]
                msg = msg.removeprefix("value error, ")
                if field and e["type"] == "missing" and field in getattr(cls, "slots", {}):
                    reg = _registry_for(cls.model_fields[field].annotation)
                    names = ", ".join(f"`{n}`" for n in reg.names()) if reg else ""
                    self.error(f"`{what}` needs a {field}", where, f"add one of: {names}", origin)
                    continue
                if e["type"] == "missing":
                    pos = field in cls.positional
                    example = f"{what} <{field}>" if pos else f"{what} {field}=..."
                    self.error(
                        f"`{what}` needs `{field}`", where, f"write e.g. `{example}`", origin
                    )
                    continue
                hint = None
                if e["type"] == "literal_error":
                    hint = suggest(str(e.get("input")), _expected_choices(e.get("ctx", {})))
                label = f"`{'.'.join(loc)}` of `{what}`" if loc else f"`{what}`"
                got = "" if not loc else f" (got {e.get('input')!r})"
                self.error(f"{label}: {msg}{got}", span, hint, origin)
            return None

    # -- registry entries (layers, losses, optimizers, schedules, sources) ----------------------
    def entry(
        self,
        registry: Registry,
        head: Value,
        args: tuple[Value, ...],
        kwargs: tuple[KwArg, ...],
        span: Span,
        origin: tuple[Span, ...] = (),
    ) -> Any:
        if isinstance(head, Then):
            if registry is not SCHEDULES:
                self.error(f"`then` only joins schedules, not a {registry.kind}", head.span)
                return None
            parts = [self.entry(registry, p, (), (), p.span) for p in head.parts]
            if args or kwargs:
                self.error(
                    "arguments after a `then` chain belong inside a part's ( )",
                    (args[0].span if args else kwargs[0].name_span),
                )
            for part, value in zip(head.parts[:-1], parts[:-1], strict=True):
                if getattr(value, "dl_name", None) == "plateau":
                    self.error(
                        "`plateau` can only be the last part of `then`: it runs to the end",
                        part.span,
                        "move it to the end, e.g. `warmup(100) then plateau`",
                    )
                    return None
            return None if None in parts else ThenSchedule(parts=parts)
        if isinstance(head, Call):
            name_v, args, kwargs = head.name, head.args + args, head.kwargs + kwargs
        elif isinstance(head, Name):
            name_v = head
        else:
            self.error(
                f"expected the name of a {registry.kind}", head.span, suggest("", registry.names())
            )
            return None
        cls = registry.get(name_v.value)
        if cls is None:
            hint = suggest(name_v.value, registry.names())
            if registry.kind in ("layer", "loss"):  # none of the loaded plugins defines it
                mine = (
                    f"a {registry.kind} of your own (`@dlc.{registry.kind}`): load its Python "
                    "file with `--plugin FILE.py`"
                )
                if not hint:
                    hint = mine[0].upper() + mine[1:]
                else:
                    hint += f" Or {mine}" if hint.endswith("?") else f"; or {mine}"
            self.error(f"unknown {registry.kind} `{name_v.value}`", name_v.span, hint, origin)
            return None
        return self.fill(cls, name_v.value, args, kwargs, name_v.span, origin)

    def fill(
        self,
        cls: type[SpecModel],
        what: str,
        args: tuple[Value, ...],
        kwargs: tuple[KwArg, ...],
        span: Span,
        origin: tuple[Span, ...] = (),
        body: tuple[Statement, ...] | None = None,
        given: dict[str, Any] | None = None,
    ) -> Any:
        data: dict[str, Any] = dict(given or {})  # values already built (a layer's block)
        spans: dict[str, Span] = dict.fromkeys(data, span)
        ok = True
        if len(args) > len(cls.positional):
            extra = args[len(cls.positional)]
            takes = ", ".join(cls.positional) or "none"
            self.error(
                f"`{what}` takes {len(cls.positional)} positional argument(s) ({takes}), "
                f"got {len(args)}",
                extra.span,
                "give the others as name=value"
                if cls.positional
                else f"settings of `{what}` are name=value: " + ", ".join(cls.model_fields),
                origin,
            )
            ok = False
        failed: set[str] = set()  # fields whose value already has an error
        for field, v in zip(cls.positional, args, strict=False):
            n = len(self.diags)
            data[field], spans[field] = self.value_for(cls, field, v), v.span
            if len(self.diags) > n:
                failed.add(field)
        for kw in kwargs:
            if kw.name not in cls.model_fields:
                self.error(
                    f"`{what}` has no setting `{kw.name}`",
                    kw.name_span,
                    suggest(kw.name, cls.model_fields),
                    origin,
                )
                ok = False
            elif kw.name in data:
                self.error(f"`{kw.name}` is given twice", kw.name_span, None, origin)
                ok = False
            else:
                n = len(self.diags)
                data[kw.name] = self.value_for(cls, kw.name, kw.value)
                spans[kw.name] = kw.value.span
                if len(self.diags) > n:
                    failed.add(kw.name)
        if body is not None:
            sub = self.section(cls, body, span, what)
            if sub is None:
                return None
            for k, (val, s) in sub.items():
                if k in data:
                    self.error(f"`{k}` is set twice", s)
                    ok = False
                data[k], spans[k] = val, s
        built = self.validate(cls, data, spans, span, what, origin, frozenset(failed))
        return built if ok else None

    def value_for(self, cls: type[SpecModel], field: str, v: Value) -> Any:
        reg = _registry_for(cls.model_fields[field].annotation)
        if reg is not None:
            return self.entry(reg, v, (), (), v.span)
        return self.plain(v)

    # -- sections -------------------------------------------------------------------------------
    def section(
        self, cls: type[SpecModel], body: tuple[Statement, ...], span: Span, what: str = ""
    ) -> dict[str, tuple[Any, Span]] | None:
        """Statements of a `{ }` block -> {field: (value, span)}."""
        out: dict[str, tuple[Any, Span]] = {}
        slots: dict[str, str] = getattr(cls, "slots", {})
        slot_regs = {f: _registry_for(cls.model_fields[f].annotation) for f in slots}
        n_before = len(self.diags)
        for st in body:
            field, value = None, None
            slot = next((f for f, r in slot_regs.items() if r and r.get(st.name)), None)
            if slot is not None:
                field = slot
                reg = slot_regs[slot]
                assert reg is not None
                value = self.entry(reg, Name(st.span, st.name), st.args, st.kwargs, st.span)
                self.spans[slot] = st.span
            elif st.name in cls.model_fields:
                field = st.name
                value = self.statement_value(cls, st)
                self.spans[st.name] = st.span
            else:
                choices = list(cls.model_fields) + [
                    n for r in slot_regs.values() if r for n in r.names()
                ]
                if cls is Spec:
                    hint: str | None = suggest(st.name, choices) or (
                        "sections are: " + ", ".join(f"`{k}`" for k in SECTION_DOCS)
                    )
                else:
                    hint = suggest(st.name, choices)
                where = f"in `{what}`" if what else "at the top level"
                self.error(f"unknown setting `{st.name}` {where}", st.span, hint, st.origin)
                continue
            repeated = _repeated(cls.model_fields[field].annotation)
            if repeated is not None:
                if value is None:  # its error is recorded; later repetitions still get checked
                    continue
                before = out[field][0] if field in out else ()
                self.spans[f"{field}.{len(before)}"] = st.span
                out[field] = (before + value, out[field][1] if field in out else st.span)
                continue
            if field in out:
                self.error(
                    f"`{field}` is set twice",
                    st.span,
                    f"the first is at line {out[field][1].line}; remove one",
                )
                continue
            out[field] = (value, st.span)
        if len(self.diags) > n_before:
            return None
        return out

    def statement_value(self, cls: type[SpecModel], st: Statement) -> Any:
        annotation = cls.model_fields[st.name].annotation
        reg = _registry_for(annotation)
        if reg is not None:
            if not st.args:
                self.error(
                    f"`{st.name}` needs the name of a {reg.kind}", st.span, suggest("", reg.names())
                )
                return None
            return self.entry(reg, st.args[0], st.args[1:], st.kwargs, st.span, st.origin)
        item = _repeated(annotation)
        if item is not None:
            built = self.fill(item, st.name, st.args, st.kwargs, st.span, st.origin, st.body)
            return None if built is None else (built,)
        sub = _unwrap(annotation)
        if sub is Model:
            return self.layers(st)
        if _is_model(annotation):
            return self.fill(sub, st.name, st.args, st.kwargs, st.span, st.origin, st.body)
        if st.kwargs or st.body is not None or len(st.args) > 1:
            self.error(f"`{st.name}` takes one value", st.span, f"write e.g. `{st.name} <value>`")
            return None
        if not st.args:
            if _unwrap(annotation) is bool:
                return True
            self.error(f"`{st.name}` needs a value", st.span, f"write e.g. `{st.name} <value>`")
            return None
        return self.plain(st.args[0])

    def layers(self, st: Statement) -> Model | None:
        if st.body is None:
            self.error("`model` needs a block of layers", st.span, "write `model { dense 1 }`")
            return None
        built = self.layer_list(st.body, "model.layers")
        if built is None:
            return None
        if not built:
            self.error("`model` has no layers", st.span, "add e.g. `dense 1`")
            return None
        return Model(layers=built)

    def layer_list(self, body: tuple[Statement, ...], key: str) -> tuple[Layer, ...] | None:
        """Layer statements; a layer whose class has a `block_field` (`residual { ... }`) takes
        its block as a list of layers, recorded under `KEY.I.FIELD.J` for error spans."""
        built: list[Layer | None] = []
        for i, layer in enumerate(body):
            self.spans[f"{key}.{i}"] = layer.span
            self.origins[f"{key}.{i}"] = layer.origin
            cls = LAYERS.get(layer.name)
            field = cls.block_field if cls is not None and issubclass(cls, Layer) else None
            if cls is not None and field is None and layer.body is not None:
                self.error(f"layer `{layer.name}` takes no block", layer.span)
                built.append(None)
            elif cls is not None and field is not None:
                if not layer.body:
                    self.error(
                        f"`{layer.name}` needs a block of layers",
                        layer.span,
                        f"write e.g. `{layer.name} {{ dense 16; relu }}`",
                        layer.origin,
                    )
                    built.append(None)
                    continue
                inner = self.layer_list(layer.body, f"{key}.{i}.{field}")
                built.append(
                    None
                    if inner is None
                    else self.fill(
                        cls,
                        layer.name,
                        layer.args,
                        layer.kwargs,
                        layer.span,
                        layer.origin,
                        given={field: inner},
                    )
                )
            else:
                built.append(
                    self.entry(
                        LAYERS,
                        Name(layer.span, layer.name),
                        layer.args,
                        layer.kwargs,
                        layer.span,
                        layer.origin,
                    )
                )
        layers = [layer for layer in built if layer is not None]
        return tuple(layers) if len(layers) == len(built) else None


def resolve(statements: tuple[Statement, ...], file: str) -> tuple[Spec | None, Resolver]:
    r = Resolver()
    top = r.section(Spec, statements, Span(file, 1, 1))
    if top is None:
        return None, r
    missing = [f for f, info in Spec.model_fields.items() if info.is_required() and f not in top]
    for f in missing:
        r.error(f"the spec has no `{f}` section", Span(file, 1, 1), f"add {SECTION_DOCS[f]}")
    if missing or r.diags:
        return None, r
    spec = r.validate(
        Spec,
        {k: v for k, (v, _) in top.items()},
        {k: s for k, (_, s) in top.items()},
        Span(file, 1, 1),
        "spec",
    )
    return typing.cast(Spec | None, spec), r
