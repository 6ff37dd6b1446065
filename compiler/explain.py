"""The resolved spec back to text: `.dl` with every default filled in (`dlc explain`), and a
canonical JSON form (hashed into checkpoints).

Example:
    >>> from dlc.compiler.frontend import load_spec
    >>> r = load_spec('data { digits }\\nmodel { dense 10 }\\n'
    ...               'loss cross_entropy\\noptimizer sgd\\n')
    >>> load_spec(to_dl(r.spec)).spec == r.spec
    True
"""

from __future__ import annotations

import json
from typing import Any

from dlc.compiler.layers.base import Layer
from dlc.compiler.registry import SpecModel
from dlc.compiler.schedules import Then
from dlc.compiler.spec import Model, Spec

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _string(s: str) -> str:
    """A double-quoted literal that the parser reads back as `s`: as written when it needs no
    escapes, else ASCII with Python-style escapes (json.dumps would write characters beyond
    U+FFFF as surrogate pairs, which read back as two characters)."""
    if s.isprintable() and '"' not in s and "\\" not in s:
        return f'"{s}"'
    out = []
    for ch in s:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_scalar(i) for i in v) + "]"
    raise TypeError(type(v).__name__)


def _kwargs(m: SpecModel, sep: str = " ") -> str:
    parts = [
        f"{k}={_value(getattr(m, k))}" for k in type(m).model_fields if getattr(m, k) is not None
    ]
    return sep.join(parts)


def _value(v: Any) -> str:
    if isinstance(v, Then):
        return " then ".join(_value(p) for p in v.parts)
    if isinstance(v, SpecModel) and v.dl_name:
        args = _kwargs(v, ", ")
        return f"{v.dl_name}({args})" if args else v.dl_name
    return _scalar(v)


def _entry(name: str, m: SpecModel) -> str:
    """`name entry key=value ...` for a registry-typed field."""
    if isinstance(m, Then):
        return f"{name} {_value(m)}"
    args = _kwargs(m)
    return f"{name} {m.dl_name}" + (f" {args}" if args else "")


def _section(name: str, m: SpecModel, indent: str) -> list[str]:
    inner = indent + "  "
    lines = [f"{indent}{name} {{"]
    for field in type(m).model_fields:
        v = getattr(m, field)
        if v is None:
            continue
        if field in m.slots:
            args = _kwargs(v)
            lines.append(f"{inner}{v.dl_name}" + (f" {args}" if args else ""))
        elif isinstance(v, SpecModel) and v.dl_name:
            lines.append(f"{inner}{_entry(field, v)}")
        elif isinstance(v, SpecModel) and any(
            isinstance(getattr(v, k), tuple) for k in type(v).model_fields
        ):  # with repeated statements (`search { param ... }`): a block of its own
            lines += _section(field, v, inner)
        elif isinstance(v, SpecModel):
            args = _kwargs(v)
            lines.append(f"{inner}{field}" + (f" {args}" if args else ""))
        elif isinstance(v, tuple) and all(isinstance(i, SpecModel) for i in v):
            lines += [f"{inner}{field} {_kwargs(i)}" for i in v]  # a repeated statement
        else:
            lines.append(f"{inner}{field} {_scalar(v)}")
    return [*lines, f"{indent}}}"]


def _layer(layer: Layer, indent: str) -> list[str]:
    """A layer statement; one with a block (`residual { ... }`) prints its layers inside."""
    field = layer.block_field
    args = " ".join(
        f"{k}={_value(getattr(layer, k))}"
        for k in type(layer).model_fields
        if k != field and getattr(layer, k) is not None
    )
    head = f"{indent}{layer.dl_name}" + (f" {args}" if args else "")
    if field is None:
        return [head]
    inner = [line for sub in layer.children() for line in _layer(sub, indent + "  ")]
    return [f"{head} {{", *inner, f"{indent}}}"]


def to_dl(spec: Spec) -> str:
    """The spec as .dl text, every default written out; it parses back to an equal spec."""
    out: list[str] = []
    for field in Spec.model_fields:
        v = getattr(spec, field)
        if v is None:  # an optional section that is absent
            continue
        if isinstance(v, Model):
            out.append("model {")
            for layer in v.layers:
                out += _layer(layer, "  ")
            out.append("}")
        elif isinstance(v, SpecModel) and (v.dl_name or isinstance(v, Then)):
            out.append(_entry(field, v))
        else:
            out += _section(field, v, "")
    return "\n".join(out) + "\n"


def _plain(v: Any) -> Any:
    if isinstance(v, SpecModel):
        fields = type(v).model_fields
        body = {
            k: _plain(getattr(v, k))
            for k, f in fields.items()
            if k not in v.hash_omit or getattr(v, k) != f.get_default(call_default_factory=True)
        }
        return {v.dl_name or type(v).__name__: body}
    if isinstance(v, list | tuple):
        return [_plain(i) for i in v]
    return v


def canonical_json(spec: Spec) -> str:
    return json.dumps(_plain(spec), sort_keys=True, separators=(",", ":"))
