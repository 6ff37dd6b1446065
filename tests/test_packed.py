"""One transfer for an epoch call's results: `packed.Packer` round-trips every dtype the stats
use exactly (bit-cast integers and bools, float32 and bfloat16 floats)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlc.runtime.train.packed import Packer, host_results


def test_every_value_comes_back_exact() -> None:
    tree = {
        "loss": np.array([0.1, np.nan, -np.inf, 3e38], np.float32),
        "step": np.array([0, 1, 2**31 - 1, -(2**31)], np.int32),
        "finite": np.array([True, False, True, False]),
        "lr": np.float32(1e-45),  # a subnormal
        "half": np.array([1.5, -2.25], jnp.bfloat16),
        "key": np.array([2**32 - 1, 5], np.uint32),
    }
    p = Packer()
    got = p.unpack(np.asarray(jax.jit(p.pack)(tree)))
    assert jax.tree.structure(got) == jax.tree.structure(tree)
    for k, want in tree.items():
        have = got[k]
        assert have.dtype == np.asarray(want).dtype and have.shape == np.shape(want), k
        assert np.asarray(have).tobytes() == np.asarray(want).tobytes(), k


def test_host_results_returns_the_same_trees_with_one_array_fetched() -> None:
    def fn(state: jax.Array, x: jax.Array) -> tuple[jax.Array, dict[str, jax.Array], jax.Array]:
        return state + 1, {"loss": x.sum(), "step": jnp.int32(3)}, x * 2

    call = host_results(fn, donate_argnums=(0,))
    state, stats, doubled = call(jnp.zeros(2), jnp.arange(3.0))
    assert isinstance(state, jax.Array) and state.tolist() == [1.0, 1.0]
    assert isinstance(stats["loss"], np.ndarray) and float(stats["loss"]) == 3.0
    assert stats["step"].dtype == np.int32 and doubled.tolist() == [0.0, 2.0, 4.0]
    out = jax.eval_shape(call.jitted, jnp.zeros(2), jnp.arange(3.0))  # type: ignore[attr-defined]
    assert out[1].shape == (5,)  # one float32 vector: 1 + 1 + 3 numbers


def test_wide_types_are_refused() -> None:
    with pytest.raises(TypeError, match="exactly"):
        jax.jit(Packer().pack)({"n": jnp.complex64(1j)})
