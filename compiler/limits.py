"""Resource limits checked before anything is allocated: parameters and activation memory
(estimated from the inferred shapes). Each limit has an environment setting that raises it.

- `DLC_MAX_PARAMS` (default 100,000,000): parameters of the model.
- `DLC_MAX_ACTIVATION_BYTES` (default 4 GiB): float32 layer outputs of one training batch,
  summed over the model's layers (a lower bound of what the backward pass keeps).

Example:
    >>> limit("DLC_MAX_PARAMS", 10, {})
    10
    >>> limit("DLC_MAX_PARAMS", 10, {"DLC_MAX_PARAMS": "2e9"})
    2000000000
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from dlc.compiler.errors import DlcError

MAX_PARAMS = 100_000_000
MAX_ACTIVATION_BYTES = 4 << 30


def limit(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    """The limit `name` from the environment (a whole number, `1e9` allowed), else `default`."""
    text = (os.environ if env is None else env).get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 1:
        raise DlcError.single(
            f"{name}={text!r} is not a positive number",
            where=name,
            hint=f"e.g. {name}={default * 4}",
        )
    return int(value)


def size_problem(params: int, activations: int, batch: int) -> tuple[str, str] | None:
    """(message, hint) when the model passes a limit, else None."""
    max_params = limit("DLC_MAX_PARAMS", MAX_PARAMS)
    if params > max_params:
        return (
            f"the model has {params:,} parameters, more than the limit of {max_params:,}",
            "use fewer or smaller layers, or set DLC_MAX_PARAMS to allow it",
        )
    max_act = limit("DLC_MAX_ACTIVATION_BYTES", MAX_ACTIVATION_BYTES)
    if activations > max_act:
        return (
            f"one batch of {batch} needs about {activations / 2**30:,.1f} GiB of layer "
            f"outputs, more than the limit of {max_act / 2**30:,.1f} GiB",
            "use a smaller `batch` or smaller layers, or set DLC_MAX_ACTIVATION_BYTES",
        )
    return None
