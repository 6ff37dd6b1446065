"""Recurrent layers: `rnn`, `lstm` and `gru` over a (positions, features) sequence, each a
`lax.scan` over the positions.

Every step reads the input vector x_t and the state of the step before (h, and c for the
LSTM); `w` (features × gates·units) maps the input, `u` (units × gates·units) the state, `b` is
the bias. The gates, σ the logistic sigmoid, ⊙ the elementwise product:

    rnn:   h = tanh(x·W + h·U + b)
    lstm:  i, f, g, o = split(x·W + h·U + b);  c = σ(f)⊙c + σ(i)⊙tanh(g);  h = σ(o)⊙tanh(c)
    gru:   r, z, n_x = split(x·W + b);  r_h, z_h, n_h = split(h·U)
           r = σ(r + r_h);  z = σ(z + z_h);  n = tanh(n_x + r⊙n_h);  h = (1 - z)⊙n + z⊙h

(the GRU resets after the recurrent product, as cuDNN and Keras do). With the padding mask of
token data, a padded step keeps the state as it was and outputs zeros: the final state is the
one after the last real word, and `bidirectional` runs the backward direction from there.
`return_sequences=true` outputs every step's h, (positions, units), and keeps the mask for the
layers after it; otherwise the final h, (units,). `bidirectional` concatenates a forward and a
backward pass (parameters `bw_w`, `bw_u`, `bw_b`): twice the units.

Example:
    >>> Lstm(units=8).output_shape((20, 4)), Lstm(units=8).param_count((20, 4))
    ((8,), 416)
    >>> Gru(units=8, return_sequences=True, bidirectional=True).output_shape((20, 4))
    (20, 16)
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import PositiveInt

from dlc.compiler.layers.base import Context, Layer, Param, Shape, ShapeError
from dlc.compiler.lazy import jax, jnp
from dlc.compiler.registry import LAYERS, register


class Recurrent(Layer):
    """What `rnn`, `lstm` and `gru` share: parameters, masking, directions, the scan."""

    units: PositiveInt
    return_sequences: bool = False
    bidirectional: bool = False
    positional = ("units",)
    example = ({"units": 3, "return_sequences": True, "bidirectional": True}, (6, 4))
    gates: ClassVar[int] = 1

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 2:
            raise ShapeError(
                f"{self.dl_name} needs a sequence of vectors (positions, features), got {in_shape}",
                "put an `embedding` before it, or `reshape [positions, features]`",
            )
        width = self.units * (2 if self.bidirectional else 1)
        return (in_shape[0], width) if self.return_sequences else (width,)

    def params(self, in_shape: Shape) -> dict[str, Param]:
        declared: dict[str, Param] = {}
        for prefix in ("", "bw_") if self.bidirectional else ("",):
            declared[f"{prefix}w"] = Param((in_shape[-1], self.gates * self.units), "weight")
            declared[f"{prefix}u"] = Param(
                (self.units, self.gates * self.units), "weight", "orthogonal"
            )
            declared[f"{prefix}b"] = Param((self.gates * self.units,), "bias")
        return declared

    def init_carry(self, batch: int) -> tuple[Any, ...]:
        return (jnp.zeros((batch, self.units), jnp.float32),)

    def cell(self, u: Any, carry: tuple[Any, ...], xw: Any) -> tuple[Any, ...]:
        """One step: the new carry (h first) from the old one and x_t·W + b."""
        raise NotImplementedError

    def run(self, params: dict[str, Any], prefix: str, x: Any, mask: Any, reverse: bool) -> Any:
        """(outputs [B, T, units], final h [B, units]) of one direction."""
        xw = jnp.dot(x, params[f"{prefix}w"]) + params[f"{prefix}b"]  # all steps at once
        u = params[f"{prefix}u"]

        def step(carry: tuple[Any, ...], inputs: tuple[Any, Any]) -> tuple[Any, Any]:
            xw_t, m_t = inputs
            new = self.cell(u, carry, xw_t)
            keep = m_t[:, None]
            new = tuple(jnp.where(keep, n, c) for n, c in zip(new, carry, strict=True))
            return new, jnp.where(keep, new[0], 0.0)

        carry = self.init_carry(x.shape[0])
        xs = (jnp.swapaxes(xw, 0, 1), jnp.swapaxes(mask, 0, 1))
        final, ys = jax.lax.scan(step, carry, xs, reverse=reverse)
        return jnp.swapaxes(ys, 0, 1), final[0]

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        mask = jnp.ones(x.shape[:2], bool) if ctx.mask is None else ctx.mask.astype(bool)
        x = x.astype(jnp.float32)
        outs = [self.run(params, "", x, mask, reverse=False)]
        if self.bidirectional:
            outs.append(self.run(params, "bw_", x, mask, reverse=True))
        if self.return_sequences:
            return jnp.concatenate([ys for ys, _ in outs], axis=-1)
        ctx.mask = None  # one vector per example: nothing left to mask
        return jnp.concatenate([h for _, h in outs], axis=-1)


@register(LAYERS, "rnn")
class Rnn(Recurrent):
    """Elman recurrent layer, h = tanh(x·W + h·U + b). E.g. `rnn 32 return_sequences=true`."""

    def cell(self, u: Any, carry: tuple[Any, ...], xw: Any) -> tuple[Any, ...]:
        return (jnp.tanh(xw + jnp.dot(carry[0], u)),)


@register(LAYERS, "lstm")
class Lstm(Recurrent):
    """Long short-term memory: input, forget, cell and output gates, a cell state c besides h.
    E.g. `lstm 64 return_sequences=true bidirectional=true`."""

    gates = 4

    def init_carry(self, batch: int) -> tuple[Any, ...]:
        zeros = jnp.zeros((batch, self.units), jnp.float32)
        return (zeros, zeros)

    def cell(self, u: Any, carry: tuple[Any, ...], xw: Any) -> tuple[Any, ...]:
        h, c = carry
        i, f, g, o = jnp.split(xw + jnp.dot(h, u), 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        return (jax.nn.sigmoid(o) * jnp.tanh(c), c)


@register(LAYERS, "gru")
class Gru(Recurrent):
    """Gated recurrent unit: reset and update gates (reset after the recurrent product).
    E.g. `gru 32`."""

    gates = 3

    def cell(self, u: Any, carry: tuple[Any, ...], xw: Any) -> tuple[Any, ...]:
        h = carry[0]
        rx, zx, nx = jnp.split(xw, 3, axis=-1)
        rh, zh, nh = jnp.split(jnp.dot(h, u), 3, axis=-1)
        r = jax.nn.sigmoid(rx + rh)
        z = jax.nn.sigmoid(zx + zh)
        n = jnp.tanh(nx + r * nh)
        return ((1.0 - z) * n + z * h,)
