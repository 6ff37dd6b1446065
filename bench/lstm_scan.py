"""Step time of dlc's `lstm` layer against a hand-written `lax.scan` LSTM.

Both take the gradient of sum(outputs · R) with respect to the parameters and the input, for
a batch of sequences: the same shapes, the same parameters (checked to give the same outputs).
The hand-written form is the plain one: x·W for all steps first, then a scan over
h·U + gates. dlc's layer also applies the padding mask at every step (here a mask of ones, or
`--mask`: the last quarter of each sequence padded).

    .venv/bin/python bench/lstm_scan.py [--batch 32] [--length 40] [--units 64] [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from dlc.compiler.layers.base import Context
from dlc.compiler.layers.recurrent import Lstm


def hand_lstm(params: dict, x: jax.Array) -> jax.Array:
    xw = jnp.dot(x, params["w"]) + params["b"]
    units = params["u"].shape[0]

    def step(carry, xw_t):
        h, c = carry
        i, f, g, o = jnp.split(xw_t + jnp.dot(h, params["u"]), 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    zeros = jnp.zeros((x.shape[0], units), x.dtype)
    _, hs = jax.lax.scan(step, (zeros, zeros), jnp.swapaxes(xw, 0, 1))
    return jnp.swapaxes(hs, 0, 1)


def timed(fn, *args, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=40)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--units", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--mask", action="store_true", help="pad the last quarter of each sequence")
    a = ap.parse_args()
    layer = Lstm(units=a.units, return_sequences=True)
    params = layer.init_params(jax.random.PRNGKey(0), (a.length, a.features))
    x = jax.random.normal(jax.random.PRNGKey(1), (a.batch, a.length, a.features))
    r = jax.random.normal(jax.random.PRNGKey(2), (a.batch, a.length, a.units))
    mask = np.ones((a.batch, a.length), bool)
    if a.mask:
        mask[:, a.length * 3 // 4 :] = False
    mask = jnp.asarray(mask)

    def dlc_loss(p, x):
        return jnp.sum(layer.apply(p, x, Context(mask=mask)) * r)

    def hand_loss(p, x):
        return jnp.sum(hand_lstm(p, x) * r)

    dlc_step = jax.jit(jax.value_and_grad(dlc_loss, argnums=(0, 1)))
    hand_step = jax.jit(jax.value_and_grad(hand_loss, argnums=(0, 1)))
    if not a.mask:
        same = np.abs(layer.apply(params, x, Context()) - hand_lstm(params, x)).max()
        print(f"max |dlc - hand-written| output difference: {float(same):.2e}")
    for fn in (dlc_step, hand_step):  # compile
        jax.block_until_ready(fn(params, x))
    dlc_t: list[float] = []
    hand_t: list[float] = []
    for i in range(a.rounds):  # alternate, so that load from other processes falls on both
        pair = (dlc_step, hand_step) if i % 2 == 0 else (hand_step, dlc_step)
        for fn in pair:
            (dlc_t if fn is dlc_step else hand_t).extend(timed(fn, params, x, rounds=5))
    d, h = statistics.median(dlc_t), statistics.median(hand_t)
    print(
        f"batch {a.batch}, length {a.length}, features {a.features}, units {a.units}"
        f"{', last quarter padded' if a.mask else ''}: forward + backward per step"
    )
    print(f"  dlc lstm      median {d * 1e3:8.3f} ms  best {min(dlc_t) * 1e3:8.3f} ms")
    print(f"  hand-written  median {h * 1e3:8.3f} ms  best {min(hand_t) * 1e3:8.3f} ms")
    print(f"  ratio dlc / hand-written (median): {d / h:.3f}")


if __name__ == "__main__":
    main()
