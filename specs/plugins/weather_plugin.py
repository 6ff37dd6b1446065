"""An example plugin: a layer, a loss and a metric of your own, for swish_weather.dl.

    dlc run specs/plugins/swish_weather.dl --plugin specs/plugins/weather_plugin.py

dlc runs this file only because the command line names it (see `dlc.compiler.plugins`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from pydantic import Field

import dlc


@dlc.layer("swish")
class Swish(dlc.Layer):
    """x · sigmoid(beta · x) with a learned beta per feature (starting at `beta`): between a
    linear unit (beta → 0) and a ReLU (beta → ∞). E.g. `swish beta=1.0`."""

    beta: float = Field(1.0, gt=0.0)
    example = ({"beta": 1.5}, (5,))  # settings and an input shape for the conformance test

    def params(self, in_shape: tuple[int, ...]) -> dict[str, dlc.Param]:
        return {"beta": dlc.Param((in_shape[-1],), "scale")}  # "scale": ones, not penalized

    def apply(self, params: dict[str, Any], x: Any, ctx: dlc.Context) -> Any:
        return x * jax.nn.sigmoid(self.beta * params["beta"] * x)


@dlc.loss("log_cosh")
class LogCosh(dlc.Loss):
    """mean(log cosh(out - y)): about (out - y)²/2 for small errors, |out - y| - log 2 for
    large ones."""

    def per_example(self, out: Any, y: Any) -> Any:
        err = (out - y).reshape(out.shape[0], -1)
        return jnp.mean(jnp.logaddexp(err, -err) - jnp.log(2.0), axis=-1)


@dlc.metric("within_2")
def within_2(out: Any, y: Any) -> Any:
    """1 when every output is within 2 of its target, else 0: its mean is a hit rate."""
    return jnp.all(jnp.abs(out - y) <= 2.0, axis=-1).astype(jnp.float32)
