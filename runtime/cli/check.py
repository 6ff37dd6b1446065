"""`dlc check FILE.dl`: validate a spec against its data and print the layer table (no JAX).

Example:
    $ dlc check specs/sigmoids.dl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from dlc.runtime.cli.shared import console, esc

HELP = "validate a spec and print its layer table (no training)"
TAKES_SPEC = True
SHORT = True  # reads and prints only: run with the garbage collector off (`main._short`)


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cost",
        action="store_true",
        help="also compile (not run) the training step and print its FLOPs per step and per "
        "example and its peak memory, from XLA's analyses (imports JAX)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout: layers, data sizes, loss, optimizer (and cost)",
    )


def _shape(s: tuple[int, ...]) -> str:
    return str(tuple(s))


def main(args: argparse.Namespace) -> int:
    from rich.table import Table

    from dlc.compiler.frontend import load_spec
    from dlc.compiler.passes import bind_data
    from dlc.compiler.shapes import infer, inner_rows
    from dlc.runtime.data.prepare import prepare

    resolved = load_spec(Path(args.spec), overrides=args.set)
    data = prepare(resolved)
    resolved = bind_data(resolved, data.facts())
    infos = infer(resolved, data.input_shape, data.target_shape, data.num_classes)
    if getattr(args, "json", False):
        doc: dict[str, Any] = {
            "spec": str(resolved.file),
            "ok": True,
            "input_shape": list(data.input_shape),
            "layers": [
                {
                    "index": i.index,
                    "name": i.name,
                    "output_shape": list(i.out_shape),
                    "params": i.params,
                }
                for i in infos
            ],
            "params": sum(i.params for i in infos),
            "data": data.summary(),
            "loss": resolved.spec.loss.dl_name,
            "optimizer": resolved.spec.optimizer.dl_name,
            "inputs": {  # named inputs: their columns and shapes
                k: {"columns": v, "shape": [len((data.input_index or {}).get(k, ()))]}
                for k, v in data.inputs.items()
            },
        }
        if getattr(args, "cost", False):
            from dlc.runtime.analysis.cost import step_cost
            from dlc.runtime.train.model import CompiledModel

            c = step_cost(CompiledModel(resolved, data))
            doc["cost"] = {
                **dataclasses.asdict(c),
                "train_flops_per_example": c.train_flops_per_example,
                "predict_flops_per_example": c.predict_flops_per_example,
                "peak_bytes": c.peak_bytes,
            }
        print(json.dumps(doc, default=str))
        return 0
    table = Table(title=f"{esc(resolved.file)}: model")
    for col, just in (
        ("#", "right"),
        ("layer", "left"),
        ("output shape", "left"),
        ("params", "right"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    table.add_row("", "input", _shape(data.input_shape), "")
    for i in infos:
        table.add_row(str(i.index), i.name, _shape(i.out_shape), f"{i.params:,}")
        for key, sub in inner_rows(resolved.spec.model.layers[i.index], i.in_shape, f"{i.index}."):
            indent = "  " * key.count(".")  # the layers inside a `residual { ... }`
            table.add_row(key, indent + sub.name, _shape(sub.out_shape), f"{sub.params:,}")
    total = sum(i.params for i in infos)
    table.add_section()
    table.add_row("", "total", "", f"{total:,}")
    con = console()
    con.print(table)
    sizes = ", ".join(f"{k} {v}" for k, v in data.summary().items())
    con.print(
        f"data: {sizes} rows; loss {resolved.spec.loss.dl_name}; "
        f"optimizer {resolved.spec.optimizer.dl_name}; ok"
    )
    for note in data.notes:  # e.g. the CSV features used, an undeclared `id` column
        con.print(esc(note))
    for name, cols in data.inputs.items():  # named inputs: their columns and shapes
        n = len((data.input_index or {}).get(name, ()))
        con.print(esc(f"input `{name}` ({n},): {', '.join(cols)}"))
    if getattr(args, "cost", False):
        from dlc.runtime.analysis.cost import describe, step_cost
        from dlc.runtime.train.model import CompiledModel

        for line in describe(step_cost(CompiledModel(resolved, data))):
            con.print(esc(line))
    if (said := check_grid_points(args, resolved, data)) is not None:
        con.print(esc(said))
    return 0


def check_grid_points(args: argparse.Namespace, resolved: Any, data: Any) -> str | None:
    """Every point of the spec's grid resolved and its layer shapes inferred as `dlc check`
    does for the spec (a depth, a width, a layer put in place); an error is at the `grid`
    line that caused it. None without a grid, else a line saying how many points and
    programs there are."""
    exp = resolved.spec.experiment
    if exp is None or not (exp.grid or exp.search):
        return None
    from dlc.compiler.checks import literal
    from dlc.compiler.errors import DlcError
    from dlc.compiler.frontend import load_spec
    from dlc.compiler.passes import bind_data
    from dlc.compiler.shapes import infer
    from dlc.runtime.data.prepare import prepare
    from dlc.runtime.experiment.programs import at_grid, grid_settings, static_key
    from dlc.runtime.experiment.results import Setting

    lines: list[int] = []  # a search: the `param` line of each checked value
    overrides = list(args.set or [])
    prepared = {repr(resolved.spec.data): data}
    axis = "grid"
    if exp.search is not None:  # each searched value's probes (ends, choices), one at a time
        axis, settings = "param", list[Setting]()
        for i, p in enumerate(exp.search.param):
            for v in p.dist.probes():
                extra = [f"{p.key}={literal(v)}"]
                try:
                    point = load_spec(Path(args.spec), overrides=[*overrides, *extra])
                except DlcError as err:
                    raise at_grid(err, resolved, len(overrides), extra, "param", [i]) from None
                settings.append(Setting(len(settings), {p.key: v}, extra, point))
                lines.append(i)
    else:
        settings = grid_settings(Path(args.spec), overrides, resolved)
    for n, s in enumerate(settings):
        key = repr(s.resolved.spec.data)
        try:
            d = prepared.get(key) or prepared.setdefault(key, prepare(s.resolved))
            point = bind_data(s.resolved, d.facts())
            infer(point, d.input_shape, d.target_shape, d.num_classes)
        except DlcError as err:
            at = [lines[n]] if axis == "param" else None
            raise at_grid(err, resolved, len(overrides), s.overrides, axis, at) from None
    if exp.search is not None:
        se = exp.search
        keys = ", ".join(p.key for p in se.param)
        return (
            f"search: {se.method}, {se.trials} trials, {se.batch} at a time, over {keys}; "
            "valid shapes at each range's ends and every choice"
        )
    programs = len({static_key(s.resolved.spec) for s in settings})
    return (
        f"grid: {len(settings)} settings, each with valid shapes; {programs} "
        f"program{'s' if programs != 1 else ''} (settings that change shapes compile separately)"
    )
