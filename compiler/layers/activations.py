"""Activation layers. Formulas are in grammar/README.md; definitions follow jax.nn.

Example:
    >>> import jax.numpy as jnp
    >>> HardSigmoid().fn(jnp.array([-4.0, 0.0, 4.0])).tolist()
    [0.0, 0.5, 1.0]
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dlc.compiler.layers.base import Activation
from dlc.compiler.lazy import jax, jnp
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "identity")
class Identity(Activation):
    """f(x) = x."""

    def fn(self, x: Any) -> Any:
        return x


@register(LAYERS, "sigmoid")
class Sigmoid(Activation):
    """f(x) = 1 / (1 + exp(-x))."""

    def fn(self, x: Any) -> Any:
        return jax.nn.sigmoid(x)


@register(LAYERS, "hard_sigmoid")
class HardSigmoid(Activation):
    """min(max((x + 3) / 6, 0), 1), as jax.nn.hard_sigmoid, PyTorch and Keras 3."""

    def fn(self, x: Any) -> Any:
        return jnp.clip((x + 3.0) / 6.0, 0.0, 1.0)


@register(LAYERS, "relu")
class Relu(Activation):
    """f(x) = max(x, 0)."""

    def fn(self, x: Any) -> Any:
        return jax.nn.relu(x)


@register(LAYERS, "leaky_relu")
class LeakyRelu(Activation):
    """f(x) = x if x >= 0 else alpha * x."""

    alpha: float = Field(0.01, ge=0)
    positional = ("alpha",)

    def fn(self, x: Any) -> Any:
        return jnp.where(x >= 0, x, self.alpha * x)


@register(LAYERS, "elu")
class Elu(Activation):
    """f(x) = x if x > 0 else alpha * (exp(x) - 1)."""

    alpha: float = Field(1.0, gt=0)
    positional = ("alpha",)

    def fn(self, x: Any) -> Any:
        return jax.nn.elu(x, self.alpha)


@register(LAYERS, "selu")
class Selu(Activation):
    """f(x) = scale * (x if x > 0 else alpha * (exp(x) - 1)), scale ≈ 1.0507, alpha ≈ 1.6733
    (Klambauer et al. 2017); a `dense` right before it gets lecun_normal init by default."""

    def fn(self, x: Any) -> Any:
        return jax.nn.selu(x)


@register(LAYERS, "gelu")
class Gelu(Activation):
    """f(x) = x * Phi(x) (Phi: the standard normal CDF; tanh approximation if
    `approximate`)."""

    approximate: bool = False

    def fn(self, x: Any) -> Any:
        return jax.nn.gelu(x, approximate=self.approximate)


@register(LAYERS, "tanh")
class Tanh(Activation):
    """f(x) = tanh(x)."""

    def fn(self, x: Any) -> Any:
        return jnp.tanh(x)


@register(LAYERS, "softplus")
class Softplus(Activation):
    """f(x) = log(1 + exp(x))."""

    def fn(self, x: Any) -> Any:
        return jax.nn.softplus(x)


@register(LAYERS, "softmax")
class Softmax(Activation):
    """f(x)_i = exp(x_i) / sum_j exp(x_j) over the last axis. Losses take logits: do not end a
    model with it before `cross_entropy`."""

    def fn(self, x: Any) -> Any:
        return jax.nn.softmax(x, axis=-1)
