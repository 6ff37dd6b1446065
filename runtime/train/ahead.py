"""Compile ahead: a cold run's first-epoch program (and its evaluation programs) compiled in a
background thread while the main thread compiles and runs the initializer.

XLA compiles each program on one core, so on a machine with two or more cores the epoch
program's compile (the largest) overlaps the initializer's instead of following it. The
thread compiles with the same abstract arguments the run later passes; the run's own call then
finds the executable in JAX's persistent compilation cache (which `dlc run` turns on), and the
main thread waits for the epoch program before it trains, so nothing is compiled twice. Only
the one-device, in-memory path with one epoch per call is compiled ahead; anything else, or
any failure in the thread, leaves the run to compile as before.

Example:
    >>> wait = compile_ahead(model, fns, seed=0)    # doctest: +SKIP
    >>> state = fns.init(0); wait(); model.fit(state=state)   # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import jax
import numpy as np


def _abstract(a: Any) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(a.shape, jax.dtypes.canonicalize_dtype(a.dtype))


def _nothing() -> None:
    return None


def compile_ahead(model: Any, fns: Any, seed: int, mesh: Any = None) -> Callable[[], None]:
    """Start compiling `fns`' first-epoch program, then the validation and final evaluation
    programs, in a daemon thread; return a function that waits until the epoch program is
    compiled (call it before training). A no-op (returns at once) unless JAX's persistent
    cache is on and the run trains on one device from memory, one epoch per call."""
    if not getattr(jax.config, "jax_compilation_cache_dir", None):  # no cache: nothing to find
        return _nothing
    if model.data.streamed or mesh is not None:
        return _nothing
    if fns.epochs is not None or not hasattr(fns.epoch, "lower"):
        return _nothing
    parts = {k: tuple(_abstract(a) for a in v) for k, v in model.data.parts.items()}
    state = jax.eval_shape(fns.init, seed)  # the init's trace, reused by the real call
    ready = threading.Event()

    def work() -> None:
        try:
            fns.epoch.lower(state, *parts["train"], np.int32(0)).compile()
            ready.set()
            params, model_state = state.params, state.model_state
            if "valid" in parts:
                fns.evaluate.lower(params, model_state, *parts["valid"]).compile()
            fns.evaluate_many.lower(params, model_state, parts).compile()
        except Exception:  # the run compiles for itself
            pass
        finally:
            ready.set()

    threading.Thread(target=work, name="dlc-compile-ahead", daemon=True).start()

    def wait() -> None:
        ready.wait()

    return wait
