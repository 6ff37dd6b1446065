"""The front end: spec text (or a path) + command-line overrides -> `ResolvedSpec`.

Example:
    >>> r = load_spec('data { csv "d.csv" target=y }\\nmodel { dense 1 }\\nloss mse\\n'
    ...               'optimizer adam\\n', overrides=["optimizer.lr=0.01", "train.epochs=3"])
    >>> r.spec.optimizer.lr, r.spec.train.epochs
    (0.01, 3)
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dlc.compiler.ast import KwArg, Statement, Value, build_ast
from dlc.compiler.checks import check_grid, check_search, check_spec
from dlc.compiler.errors import Diagnostic, DlcError, Span
from dlc.compiler.expand import expand
from dlc.compiler.options import CompileOptions
from dlc.compiler.parser import parse_text, read_spec_file
from dlc.compiler.paths import Step, apply_model_path, parse_path
from dlc.compiler.resolve import resolve
from dlc.compiler.spec import Spec


@dataclass(frozen=True)
class ResolvedSpec:
    """A validated spec plus where each part came from (for errors in later stages)."""

    spec: Spec
    file: str
    text: str
    base_dir: Path
    spans: dict[str, Span] = field(default_factory=dict)
    origins: dict[str, tuple[Span, ...]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    # choices outside the text that change the compiled program (`CONV_LOWERING`), hashed too
    options: CompileOptions = field(default_factory=CompileOptions)

    @property
    def name(self) -> str:
        return Path(self.file).stem if self.file.endswith(".dl") else "spec"

    def error(self, message: str, key: str, hint: str | None = None) -> DlcError:
        """A DlcError pointing at the statement `key` ("loss", "data.source", "model.layers.2")."""
        span = self.spans.get(key) or self.spans.get(key.split(".")[0]) or Span(self.file, 1, 1)
        notes = tuple(("in the block used here", s) for s in self.origins.get(key, ()))
        return DlcError([Diagnostic(message, span, hint, notes)], self.sources)

    def hash(self) -> str:
        """A hash of the validated spec (its canonical JSON) and of the compile options that
        differ from their defaults (`options.py`), for checkpoints and resuming."""
        from dlc.compiler.explain import canonical_json

        text = canonical_json(self.spec)
        if changed := self.options.changed():
            text += "\0" + json.dumps(changed, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _is_path(source: Any) -> bool:
    if isinstance(source, Path):
        return True
    if not isinstance(source, str) or "\n" in source:
        return False
    try:
        return source.endswith(".dl") or Path(source).exists()
    except (OSError, ValueError):  # e.g. a line of text too long to be a file name
        return False


def _override_statement(text: str, index: int) -> tuple[list[Step], Value, str]:
    """`train.epochs=5` -> (the path's steps, Num(5), the text)."""
    fname = f"--set[{index}]"
    if "=" not in text:
        raise DlcError.single(
            f"override `{text}` has no `=`",
            where=fname,
            hint="write --set section.key=value, e.g. --set train.epochs=5",
        )
    key, _, val = text.partition("=")
    path = parse_path(key, Span(fname, 1, 1, 1, len(key) + 1))
    # the value at its own column, so that carets line up with `text`
    src = " " * (len(key) - 1) + "x " + val
    stmts = build_ast(parse_text(src + "\n", fname), fname)
    if len(stmts) != 1 or len(stmts[0].args) != 1 or stmts[0].kwargs or stmts[0].body:
        raise DlcError.single(
            f"override `{text}` must set one value",
            where=fname,
            hint="e.g. --set optimizer.lr=3e-4 or --set data.features=[a, b]",
        )
    return path, stmts[0].args[0], text


def _apply(
    stmts: tuple[Statement, ...], path: list[str], value: Value, span: Span
) -> tuple[Statement, ...]:
    head, rest = path[0], path[1:]
    found = [i for i, s in enumerate(stmts) if s.name == head]
    if not found:
        if rest:
            new = Statement(head, span, body=_apply((), rest, value, span))
        else:
            new = Statement(head, span, (value,))
        return (*stmts, new)
    i = found[-1]
    st = stmts[i]
    if not rest:  # errors about the new value point at the --set, not at the file's statement
        st = replace(st, span=span, args=(value,), body=None)
    elif st.body is not None:
        st = replace(st, body=_apply(st.body, rest, value, span))
    elif len(rest) == 1:
        kwargs = tuple(k for k in st.kwargs if k.name != rest[0])
        st = replace(st, kwargs=(*kwargs, KwArg(rest[0], span, value)))
    else:
        raise DlcError.single(f"`{head}` has no block to set `{'.'.join(rest)}` in", span=span)
    return (*stmts[:i], st, *stmts[i + 1 :])


def apply_override(
    stmts: tuple[Statement, ...],
    path: list[Step],
    value: Value,
    span: Span,
    path_span: Span | None = None,
) -> tuple[Statement, ...]:
    """One `--set` on the statements as written (before blocks and `repeat` are expanded):
    a `model.` path through `paths.apply_model_path`, any other path to its section's
    statement or keyword (made when missing)."""
    if path[0].name == "model":
        return apply_model_path(stmts, path, value, span, path_span)
    return _apply(stmts, [s.name for s in path], value, span)


def _override_hint(d: Diagnostic, overrides: list[str]) -> Diagnostic:
    """A hint for an error in a `--set` value that has none: where it came from."""
    m = re.fullmatch(r"--set\[(\d+)\]", d.span.file if d.span else "")
    if d.hint is not None or m is None or int(m.group(1)) >= len(overrides):
        return d
    hint = (
        f"this value comes from `--set {overrides[int(m.group(1))]}`; `dlc explain` shows "
        "every setting with its current value"
    )
    return replace(d, hint=hint)


def _trial(stmts: tuple[Statement, ...], file: str) -> Any:
    """`try_set(text)`: the diagnostics of the spec with one more `--set text` (grid values)."""

    def try_set(text: str) -> list[Diagnostic]:
        try:
            path_parts, value, src = _override_statement(text, 0)
            key_span = Span(value.span.file, 1, 1, 1, len(src.partition("=")[0]) + 1)
            changed = apply_override(stmts, path_parts, value, key_span, key_span)
            spec, r = resolve(expand(changed, file, {}), file)
        except DlcError as err:
            return list(err.diagnostics)
        return [] if spec is not None else list(r.diags)

    return try_set


def load_spec(
    source: str | Path,
    *,
    overrides: list[str] | None = None,
    base_dir: str | Path | None = None,
    check_grid_paths: bool = True,
) -> ResolvedSpec:
    """Parse, expand, apply `--set` overrides and validate a spec; raises DlcError.

    `check_grid_paths=False` leaves the experiment's grid (and search) paths unchecked: for a
    spec written out expanded (`dlc explain`, a run folder's `spec.dl`), whose `model.` grid
    paths name the structure of the file it came from (`repeat`, named blocks) that the
    expanded one lacks."""
    if _is_path(source):
        path = Path(source)
        text, file = read_spec_file(path), str(path)
        base = Path(base_dir) if base_dir is not None else path.parent
    else:
        text, file = str(source), "<spec>"
        base = Path(base_dir) if base_dir is not None else Path.cwd()
    sources = {file: text}
    try:
        stmts = build_ast(parse_text(text, file), file)
        if overrides:  # the file's own errors first, then those of the overrides
            expand(stmts, file, sources)
    except DlcError as err:
        raise DlcError(err.diagnostics, {**sources, **err.sources}) from None
    for n, ov in enumerate(overrides or []):
        path_parts, value, src = _override_statement(ov, n)
        sources[value.span.file] = src
        key_end = len(src.partition("=")[0])
        last = len(path_parts[-1].text)
        name_span = Span(value.span.file, 1, key_end - last + 1, 1, key_end + 1)
        key_span = Span(value.span.file, 1, 1, 1, key_end + 1)
        try:
            stmts = apply_override(stmts, path_parts, value, name_span, key_span)
        except DlcError as err:
            raise DlcError(err.diagnostics, {**sources, **err.sources}) from None
    written = stmts  # as written, with the overrides: grid paths apply to it
    try:
        stmts = expand(stmts, file, sources)
    except DlcError as err:
        diags = [_override_hint(d, overrides or []) for d in err.diagnostics]
        raise DlcError(diags, {**sources, **err.sources}) from None
    spec, r = resolve(stmts, file)
    if spec is None:
        # a `repeat` copies a bad statement: its error once
        diags = list(dict.fromkeys(_override_hint(d, overrides or []) for d in r.diags))
        raise DlcError(diags, sources)
    trial = _trial(written, file)
    grids = check_grid(spec, r.spans, trial) if check_grid_paths else []
    searched = check_search(spec, r.spans, trial) if check_grid_paths else []
    if diags := [*check_spec(spec, r.spans), *grids, *searched]:
        raise DlcError([_override_hint(d, overrides or []) for d in diags], sources)
    options = CompileOptions.from_env()
    return ResolvedSpec(spec, file, text, base, r.spans, r.origins, sources, options)
