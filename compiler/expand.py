"""Macro expansion on the AST: named blocks with parameters and `repeat N { }`.

    block mlp(width, act=relu, rate=0.1) {
      dense width
      act
      dropout rate
    }
    model { repeat 3 { mlp 64 }  dense 10 }

A statement copied out of a block keeps its own span and records the use site in `origin`, so an
error inside the block points at both.

Example:
    >>> from dlc.compiler.parser import parse_text
    >>> from dlc.compiler.ast import build_ast
    >>> text = "model {\\n repeat 2 { dense 4 }\\n}\\n"
    >>> [s.name for s in expand(build_ast(parse_text(text, "x"), "x"), "x")[0].body]
    ['dense', 'dense']
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dlc.compiler.ast import Call, KwArg, ListV, Name, Num, Statement, Then, Value
from dlc.compiler.errors import Diagnostic, DlcError, Span, suggest

MAX_EXPANSION_DEPTH = 16
MAX_REPEAT = 1000
MAX_STATEMENTS = 10_000  # layers after expansion, nested ones (`residual { }`) included
# names a block cannot take: the top-level sections and `repeat`
RESERVED = frozenset({"block", "repeat", "data", "model", "loss", "optimizer", "train"})


class _TooBig(Exception):
    """Expansion stopped: the output passed MAX_STATEMENTS (the diagnostic is recorded)."""


@dataclass(frozen=True)
class BlockDef:
    name: str
    params: tuple[str, ...]
    defaults: dict[str, Value]
    body: tuple[Statement, ...]
    stmt: Statement


def _subst(v: Value, env: dict[str, Value]) -> Value:
    if isinstance(v, Name) and v.value in env:
        return env[v.value]
    if isinstance(v, ListV):
        return replace(v, items=tuple(_subst(i, env) for i in v.items))
    if isinstance(v, Call):
        return replace(
            v,
            args=tuple(_subst(a, env) for a in v.args),
            kwargs=tuple(replace(k, value=_subst(k.value, env)) for k in v.kwargs),
        )
    if isinstance(v, Then):
        return replace(v, parts=tuple(_subst(p, env) for p in v.parts))
    return v


def _instantiate(inner: Statement, env: dict[str, Value], use: Statement) -> Statement:
    """A statement of a block's body with the use's arguments substituted, nested blocks
    (`repeat`, `residual`) included; it records the use site in `origin`."""
    name = inner.name
    bound = env.get(name)
    if isinstance(bound, Name):
        name = bound.value
    return replace(
        inner,
        name=name,
        args=tuple(_subst(a, env) for a in inner.args),
        kwargs=tuple(KwArg(k.name, k.name_span, _subst(k.value, env)) for k in inner.kwargs),
        body=None if inner.body is None else tuple(_instantiate(s, env, use) for s in inner.body),
        origin=(*inner.origin, use.span, *use.origin),
    )


class Expander:
    def __init__(self) -> None:
        self.diags: list[Diagnostic] = []
        self.blocks: dict[str, BlockDef] = {}
        self.stack: list[str] = []  # the named blocks being expanded, outermost first
        self.count = 0  # statements emitted inside `model` so far, nested ones included
        self.cycles: set[Span] = set()  # uses of a block inside itself, reported once each

    def emit(self, n: int, st: Statement) -> None:
        """Count `n` more statements of the model; past MAX_STATEMENTS an error at `st`."""
        self.count += n
        if self.count > MAX_STATEMENTS:
            self.diags.append(
                Diagnostic(
                    f"the model expands to more than {MAX_STATEMENTS:,} layers (counting the "
                    "layers inside blocks such as `residual { }`)",
                    st.span,
                    "use smaller `repeat` counts or fewer uses of this block",
                )
            )
            raise _TooBig

    def define(self, st: Statement) -> None:
        head = st.args[0] if len(st.args) == 1 else None
        if st.body is None or not isinstance(head, Name | Call) or st.kwargs:
            self.diags.append(
                Diagnostic(
                    "a block definition is `block NAME(params) { statements }`",
                    st.span,
                    "e.g. `block mlp(width, rate=0.1) { dense width; relu; dropout rate }`",
                )
            )
            return
        name = head.value if isinstance(head, Name) else head.name.value
        if name in RESERVED:
            self.diags.append(
                Diagnostic(
                    f"`{name}` cannot be a block's name: it is a section of the spec",
                    head.span,
                    "give the block another name, e.g. `block body { ... }`",
                )
            )
            return
        params: list[str] = []
        defaults: dict[str, Value] = {}
        if isinstance(head, Call):
            for a in head.args:
                if not isinstance(a, Name):
                    self.diags.append(Diagnostic("a block parameter must be a name", a.span))
                    return
                params.append(a.value)
            for kw in head.kwargs:
                params.append(kw.name)
                defaults[kw.name] = kw.value
        if name in self.blocks:
            first = self.blocks[name].stmt.span.line
            self.diags.append(
                Diagnostic(
                    f"block `{name}` is defined twice", st.span, f"the first is at line {first}"
                )
            )
            return
        # `mlp@2`: a copy of `mlp` that a `--set`/grid path changed for one use (`paths.py`)
        self.blocks[name] = BlockDef(name.split("@")[0], tuple(params), defaults, st.body, st)

    def bind(self, b: BlockDef, st: Statement) -> dict[str, Value] | None:
        env: dict[str, Value] = {}
        if len(st.args) > len(b.params):
            self.diags.append(
                Diagnostic(
                    f"block `{b.name}` takes {len(b.params)} argument(s) ({', '.join(b.params)}), "
                    f"got {len(st.args)}",
                    st.args[len(b.params)].span,
                )
            )
            return None
        env.update(zip(b.params, st.args, strict=False))
        for kw in st.kwargs:
            if kw.name not in b.params:
                self.diags.append(
                    Diagnostic(
                        f"block `{b.name}` has no parameter `{kw.name}`",
                        kw.name_span,
                        suggest(kw.name, b.params),
                    )
                )
                return None
            env[kw.name] = kw.value
        for p in b.params:
            if p not in env:
                if p not in b.defaults:
                    self.diags.append(
                        Diagnostic(
                            f"block `{b.name}` needs `{p}`",
                            st.span,
                            f"write e.g. `{b.name} {p}=...`",
                        )
                    )
                    return None
                env[p] = b.defaults[p]
        return env

    def body(
        self, stmts: tuple[Statement, ...], depth: int = 0, in_model: bool = False
    ) -> tuple[Statement, ...]:
        """Expand `stmts`; inside `model`, also the blocks of layers that take one
        (`residual { ... }`)."""
        out: list[Statement] = []
        for st in stmts:
            if depth > MAX_EXPANSION_DEPTH:
                self.diags.append(
                    Diagnostic(
                        f"blocks expand more than {MAX_EXPANSION_DEPTH} levels deep",
                        st.span,
                        "flatten the blocks: define fewer blocks that use other blocks",
                    )
                )
                return ()
            if st.name == "repeat":
                n = st.args[0] if len(st.args) == 1 else None
                if (
                    st.body is None
                    or not isinstance(n, Num)
                    or not isinstance(n.value, int)
                    or not 1 <= n.value <= MAX_REPEAT
                    or st.kwargs
                ):
                    self.diags.append(
                        Diagnostic(
                            f"`repeat` takes a count from 1 to {MAX_REPEAT} and a block",
                            n.span if n is not None and st.body is not None else st.span,
                            "e.g. `repeat 3 { dense 64; relu }`",
                        )
                    )
                    continue
                before = self.count
                inner = self.body(st.body, depth + 1, in_model)
                self.emit((self.count - before) * (n.value - 1), st)
                out.extend(inner * n.value)
            elif st.name in self.blocks:
                if st.name in self.stack:  # an error at the use, not an exponential expansion
                    cycle = " -> ".join(
                        n.split("@")[0] for n in [*self.stack[self.stack.index(st.name) :], st.name]
                    )
                    if st.span in self.cycles:  # reported from an earlier use already
                        continue
                    self.cycles.add(st.span)
                    self.diags.append(
                        Diagnostic(
                            f"block `{st.name}` uses itself ({cycle})",
                            st.span,
                            "a block cannot contain itself; use `repeat N { ... }` to stack layers",
                        )
                    )
                    continue
                b = self.blocks[st.name]
                env = self.bind(b, st)
                if env is None:
                    continue
                self.stack.append(st.name)
                try:
                    for stmt in b.body:
                        out.extend(self.body((_instantiate(stmt, env, st),), depth + 1, in_model))
                finally:
                    self.stack.pop()
            elif st.body is not None and (in_model or st.name == "model"):
                if in_model:
                    self.emit(1, st)
                out.append(replace(st, body=self.body(st.body, depth, in_model=True)))
            else:
                if in_model:
                    self.emit(1, st)
                out.append(st)
        return tuple(out)


def expand(
    statements: tuple[Statement, ...], file: str, sources: dict[str, str] | None = None
) -> tuple[Statement, ...]:
    """Remove `block` definitions and expand their uses and `repeat` inside `model`."""
    ex = Expander()
    rest = []
    for st in statements:
        if st.name == "block":
            ex.define(st)
        else:
            rest.append(st)
    out: list[Statement] = []
    for st in rest:
        if st.name != "model" or st.body is None:
            out.append(st)
            continue
        try:
            out.extend(ex.body((st,)))
        except _TooBig:
            break
    if ex.diags:
        raise DlcError(ex.diags, sources or {})
    return tuple(out)
