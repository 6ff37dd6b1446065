"""Named inputs of the data section (`input temps [temp_max, temp_min]`): each group's feature
columns, chosen by the CSV column rules (names, positions in the feature list, ranges, globs;
a `categorical` column's name picks all its one-hot columns; a source without column names,
such as `npz`, names its flat features `#1`, `#2`, ...), and their positions in the model's
flat input (with a `window` of N days, each day's, oldest first). Numpy-free.

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
                f"`{resolved.spec.data.source.dl_name}` source gives no feature columns "
                "(token ids or images)",
                f"input.{i}",
                "named inputs group feature columns: of a table by name, of other flat rows by "
                'position ("#1:#8"); for images or tokens use the layers in the branches',
            )
        try:
            groups[inp.name] = columns.select(
                list(features), expand_refs(inp.columns, features), "the features"
            )
        except DlcError as err:
            d = err.diagnostics[0]
            listed = ", ".join(features[:20]) + (", ..." if len(features) > 20 else "")
            message = d.message.replace("the header's", "the feature list's")
            hint = d.hint + (" " if d.hint.endswith("?") else "; ") if d.hint else ""
            raise resolved.error(
                f"input `{inp.name}`: {message.replace('the header', 'the features')}",
                f"input.{i}",
                hint + f"the features are: {listed}",
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
    features = list(data.feature_names) or _positions_as_names(resolved, data)
    data.inputs = group_columns(resolved, features)
    data.input_index, _ = input_positions(resolved, data.inputs, features, data.input_shape)
    return data


def _positions_as_names(resolved: Any, data: Any) -> list[str]:
    """A source of flat numeric rows without column names (`npz`, `npy`, `digits`, ...): its
    features named by position, `#1` .. `#F` (so `input a ["#1:#8"]` works); [] for token ids
    and images (`group_columns` then says why)."""
    window = resolved.spec.data.window
    days = window.size if window is not None else 1
    shape = tuple(data.input_shape)
    if data.vocab is not None or len(shape) != 1 or shape[0] % days:
        return []
    return [f"#{i}" for i in range(1, shape[0] // days + 1)]
