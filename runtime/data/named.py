"""Named inputs of the data section (`input temps [temp_max, temp_min]`): each group's feature
columns, chosen by the CSV column rules (names, positions in the feature list, ranges, globs;
a `categorical` column's name picks all its one-hot columns), and their positions in the
model's flat input (with a `window` of N days, each day's, oldest first). Numpy-free.

Example:
    >>> positions(["b"], ["a", "b", "c"], 2)
    (1, 4)
    >>> expand_refs(["weather"], ["wind", "weather=rain", "weather=sun"])
    ['weather=rain', 'weather=sun']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlc.compiler.errors import DlcError
from dlc.runtime.data import columns


def expand_refs(refs: Sequence[str | int], features: Sequence[str]) -> list[str | int]:
    """`refs` with each `categorical` column's name replaced by its one-hot columns."""
    out: list[str | int] = []
    for ref in refs:
        hot = [f for f in features if isinstance(ref, str) and f.startswith(f"{ref}=")]
        out += hot if hot and ref not in features else [ref]
    return out


def positions(names: Sequence[str], features: Sequence[str], days: int) -> tuple[int, ...]:
    """Where the columns `names` sit in the model's input: row-major (day, feature)."""
    width = len(features)
    cols = [features.index(n) for n in names]
    return tuple(d * width + c for d in range(days) for c in cols)


def group_columns(resolved: Any, features: Sequence[str]) -> dict[str, list[str]]:
    """Each named input's feature columns, in the order written; errors at its `input` line."""
    groups: dict[str, list[str]] = {}
    for i, inp in enumerate(resolved.spec.data.input):
        if not features:
            raise resolved.error(
                f"the input `{inp.name}` names columns, but the "
                f"`{resolved.spec.data.source.dl_name}` source has no named feature columns",
                f"input.{i}",
                "named inputs group the columns of a `csv` source; otherwise use "
                "`select [positions]` in the branches",
            )
        try:
            groups[inp.name] = columns.select(
                list(features), expand_refs(inp.columns, features), "the features"
            )
        except DlcError as err:
            d = err.diagnostics[0]
            listed = ", ".join(features[:20]) + (", ..." if len(features) > 20 else "")
            raise resolved.error(
                f"input `{inp.name}`: {d.message.replace('the header', 'the features')}",
                f"input.{i}",
                (d.hint + " " if d.hint else "") + f"the features are: {listed}",
            ) from None
    return groups


def input_positions(
    resolved: Any, groups: dict[str, list[str]], features: Sequence[str], input_shape: Sequence[int]
) -> tuple[dict[str, tuple[int, ...]] | None, int | None]:
    """(name -> positions in the model's flat input, that input's size) for `DataFacts`;
    (None, None) without named inputs."""
    if not groups:
        return None, None
    window = resolved.spec.data.window
    days = window.size if window is not None else 1
    width = 1
    for d in input_shape:
        width *= int(d)
    if len(input_shape) != 1 or width != days * len(features):
        raise resolved.error(
            f"named inputs need one flat row of {days * len(features)} feature values, the "
            f"data gives rows of shape {tuple(input_shape)}",
            "input.0",
        )
    return {k: positions(v, features, days) for k, v in groups.items()}, width


def attach_inputs(resolved: Any, data: Any) -> Any:
    """`data` (a `Prepared`) with its named inputs' columns (`inputs`) and positions
    (`input_index`) filled in from the spec; unchanged without `input` statements."""
    if not resolved.spec.data.input:
        return data
    data.inputs = group_columns(resolved, data.feature_names)
    data.input_index, _ = input_positions(
        resolved, data.inputs, data.feature_names, data.input_shape
    )
    return data
