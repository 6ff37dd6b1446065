"""Training throughput of specs/fashion_cnn.dl's CNN: dlc's compiled epoch against hand-written JAX.

The model is fashion_cnn.dl's: conv2d 32 3 (same) → relu → 2×2 max-pool → conv2d 64 3 → relu →
max-pool → flatten → dropout 0.3 → dense 128 → relu → dense 10, softmax cross-entropy, Adam
lr 1e-3, batch 128, on synthetic (28, 28, 1) images with learnable labels. The hand-written
side is written here without any dlc code, in two forms a JAX user would write:

  textbook   `lax.conv_general_dilated` + `lax.reduce_window` max-pool, one jitted step per
             minibatch called from a Python loop (the form of the Flax/JAX tutorials; inside a
             `lax.scan` XLA's CPU convolution is many times slower, see cnn_lowering.py);
  im2col     each convolution as one matmul over explicit patches, the pool as reshape + max,
             the whole epoch in one jitted `lax.scan` (the fastest form found on CPU).

dlc runs the spec's own compiled epoch (`make_functions(...).epoch`, as `dlc run` does, with
`steps_per_call auto`). After a warm-up (compile) epoch each, epochs are timed in turns with the
order rotating each round, so that load from other processes hits all alike. The ratio reported
is dlc's samples/s over the faster hand-written form's, the median of the per-round ratios,
in wall time and in process CPU time (all threads; steadier on a shared machine).

When PyTorch is installed, one more side trains the same CNN in PyTorch eager, as its tutorials
write it: `nn.Conv2d(padding=1)` / `nn.MaxPool2d(2)` / `nn.Dropout(0.3)` / `nn.Linear` in
NCHW, Glorot-uniform weights and zero biases, `torch.optim.Adam(lr=1e-3)`, a Python loop over a
reshuffled epoch of batches of 128. It is pinned by bench/torch_side.py (`OMP_WAIT_POLICY=PASSIVE`,
`$BENCH_THREADS` or 2 threads), takes its turn in every round, and the time ratios of dlc and
of the faster hand-written form to it are printed. `--no-torch` skips it.

Usage:
    python bench/cnn_throughput.py                # 32 steps per epoch, 5 rounds (~2 min, 2 cores)
    python bench/cnn_throughput.py --steps 64 --rounds 9
    python bench/cnn_throughput.py --no-torch     # without the PyTorch side
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from torch_side import load_torch

from dlc.compiler.frontend import load_spec
from dlc.compiler.lower import lower
from dlc.runtime.train.step import make_functions

BATCH = 128
SHAPE = (28, 28, 1)
LR = 1e-3
DROP = 0.3
TARGET_RATIO = 0.95
SPEC_PATH = Path(__file__).resolve().parents[1] / "specs" / "fashion_cnn.dl"


def synthetic_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images in [0, 1); labels from a random linear teacher on the pixels (learnable)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, *SHAPE), dtype=np.float32)
    teacher = rng.standard_normal((int(np.prod(SHAPE)), 10)).astype(np.float32)
    y = np.argmax((x.reshape(n, -1) - 0.5) @ teacher, axis=1).astype(np.int32)
    return x, y


# -- dlc ------------------------------------------------------------------------------------------
def dlc_epoch(n: int, steps: int) -> tuple[Callable[..., Any], Any]:
    """specs/fashion_cnn.dl's compiled epoch (its data section only gives the input shape, so
    the spec is lowered for (28, 28, 1) directly), and its initial state."""
    spec = load_spec(SPEC_PATH).spec
    program = lower(spec, SHAPE, total_steps=10 * steps)
    fns = make_functions(program, n, BATCH, True, spec.train.steps_per_call)
    return fns.epoch, fns.init(0)


# -- hand-written ---------------------------------------------------------------------------------
def hand_init(key: Any) -> dict[str, Any]:
    """Glorot-uniform kernels and zero biases (dlc's defaults for conv2d and dense)."""
    glorot = jax.nn.initializers.glorot_uniform()
    k = jax.random.split(key, 4)
    return {
        "c1": (glorot(k[0], (3, 3, 1, 32)), jnp.zeros(32)),
        "c2": (glorot(k[1], (3, 3, 32, 64)), jnp.zeros(64)),
        "d1": (glorot(k[2], (7 * 7 * 64, 128)), jnp.zeros(128)),
        "d2": (glorot(k[3], (128, 10)), jnp.zeros(10)),
    }


def conv_xla(x: Any, w: Any) -> Any:
    return jax.lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def pool_xla(x: Any) -> Any:
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def conv_im2col(x: Any, w: Any) -> Any:
    """3×3 'same' convolution as one matmul: the 9 shifted views side by side, times w."""
    h, wd = x.shape[1:3]
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    views = [xp[:, i : i + h, j : j + wd, :] for i, j in itertools.product(range(3), range(3))]
    return jnp.concatenate(views, axis=-1) @ w.reshape(-1, w.shape[-1])


def pool_reshape(x: Any) -> Any:
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def make_loss(conv: Callable[..., Any], pool: Callable[..., Any]) -> Callable[..., Any]:
    def loss(params: dict[str, Any], xb: Any, yb: Any, key: Any) -> Any:
        h = pool(jax.nn.relu(conv(xb, params["c1"][0]) + params["c1"][1]))
        h = pool(jax.nn.relu(conv(h, params["c2"][0]) + params["c2"][1]))
        h = h.reshape(h.shape[0], -1)
        keep = jax.random.bernoulli(key, 1.0 - DROP, h.shape)
        h = jnp.where(keep, h / (1.0 - DROP), 0.0)
        h = jax.nn.relu(h @ params["d1"][0] + params["d1"][1])
        logits = h @ params["d2"][0] + params["d2"][1]
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    return loss


def make_step(loss: Callable[..., Any], tx: Any) -> Callable[..., Any]:
    def step(params: Any, opt_state: Any, xb: Any, yb: Any, key: Any) -> tuple[Any, Any, Any]:
        value, grads = jax.value_and_grad(loss)(params, xb, yb, key)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return step


def textbook_epoch(n: int, tx: Any) -> Callable[..., Any]:
    """A Python loop over a jitted step; each minibatch gathered on the device."""
    step = make_step(make_loss(conv_xla, pool_xla), tx)

    @jax.jit
    def one(params: Any, opt_state: Any, x: Any, y: Any, ib: Any, key: Any) -> Any:
        return step(params, opt_state, jnp.take(x, ib, axis=0), jnp.take(y, ib, axis=0), key)

    perm = jax.jit(lambda key: jax.random.permutation(key, n).reshape(-1, BATCH))

    def epoch(params: Any, opt_state: Any, x: Any, y: Any, key: Any) -> Any:
        idx = perm(key)
        for i in range(idx.shape[0]):
            params, opt_state, value = one(
                params, opt_state, x, y, idx[i], jax.random.fold_in(key, i)
            )
        return params, opt_state, value

    return epoch


def im2col_epoch(n: int, tx: Any) -> Callable[..., Any]:
    """The whole epoch in one jitted `lax.scan`, the state donated."""
    step = make_step(make_loss(conv_im2col, pool_reshape), tx)

    def epoch(params: Any, opt_state: Any, x: Any, y: Any, key: Any) -> Any:
        idx = jax.random.permutation(key, n).reshape(-1, BATCH)

        def body(carry: Any, args: Any) -> Any:
            i, ib = args
            p, s, _ = step(
                *carry, jnp.take(x, ib, axis=0), jnp.take(y, ib, axis=0), jax.random.fold_in(key, i)
            )
            return (p, s), None

        (params, opt_state), _ = jax.lax.scan(
            body, (params, opt_state), (jnp.arange(idx.shape[0]), idx)
        )
        return params, opt_state, jnp.zeros(())

    return jax.jit(epoch, donate_argnums=(0, 1))


# -- PyTorch eager --------------------------------------------------------------------------------
def torch_epoch(torch: Any, x_np: np.ndarray, y_np: np.ndarray) -> Callable[[], float]:
    """One reshuffled epoch of the same CNN in PyTorch eager (NCHW); returns the last loss."""
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(DROP),
        nn.Linear(7 * 7 * 64, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )
    for layer in net:
        if isinstance(layer, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    x = torch.from_numpy(np.ascontiguousarray(x_np.transpose(0, 3, 1, 2)))
    y = torch.from_numpy(y_np.astype(np.int64))

    def epoch() -> float:
        for ib in torch.randperm(len(x)).view(-1, BATCH):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(x[ib]), y[ib])
            loss.backward()
            opt.step()
        return float(loss.detach())

    return epoch


# -- measurement ----------------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=32, help="minibatches per timed epoch")
    ap.add_argument("--rounds", type=int, default=5, help="timed epochs per side")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch eager side")
    args = ap.parse_args(argv)
    n = args.steps * BATCH
    print(
        f"jax {jax.__version__} on {jax.default_backend()}, optax {optax.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"{args.steps} steps of {BATCH} per epoch"
    )
    x_np, y_np = synthetic_data(n)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)
    tx = optax.adam(LR)

    epoch_fn, dlc_state = dlc_epoch(n, args.steps)
    box: dict[str, Any] = {"dlc": dlc_state}
    hands = {"textbook": textbook_epoch(n, tx), "im2col": im2col_epoch(n, tx)}
    for name in hands:
        params = hand_init(jax.random.PRNGKey(0))
        box[name] = (params, tx.init(params))

    torch = load_torch(args.no_torch)
    torch_run = None if torch is None else torch_epoch(torch, x_np, y_np)

    def run(name: str, i: int) -> Any:
        if name == "PyTorch":
            assert torch_run is not None
            return torch_run()
        if name == "dlc":
            box["dlc"], stats = epoch_fn(box["dlc"], x, y, jnp.int32(i))
            return stats
        params, opt_state, value = hands[name](*box[name], x, y, jax.random.PRNGKey(i))
        box[name] = (params, opt_state)
        return value

    names = ["dlc", *hands, *(["PyTorch"] if torch_run else [])]
    first = {name: timed(lambda name=name: run(name, 0))[0] for name in names}
    print("first epoch (compile + run): " + ", ".join(f"{k} {v:.1f} s" for k, v in first.items()))
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    for r in range(1, args.rounds + 1):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            w, c = timed(lambda name=name, r=r: run(name, r))
            wall[name].append(w)
            cpu[name].append(c)

    med = statistics.median
    print(f"\n{'':10}{'ms/step':>9}{'CPU ms/step':>13}{'samples/s':>11}")
    for name in names:
        print(
            f"{name:10}{med(wall[name]) / args.steps * 1e3:>9.1f}"
            f"{med(cpu[name]) / args.steps * 1e3:>13.1f}{n / med(wall[name]):>11,.0f}"
        )
    best = min(hands, key=lambda k: med(wall[k]))
    ratio = med(h / d for d, h in zip(wall["dlc"], wall[best], strict=True))
    cpu_ratio = med(h / d for d, h in zip(cpu["dlc"], cpu[best], strict=True))
    print(
        f"\nratio dlc / {best} (the faster hand-written form) samples/s: {ratio:.3f} wall, "
        f"{cpu_ratio:.3f} per CPU second (medians of the per-round ratios)"
    )
    if torch_run is not None:
        for name in ("dlc", best):
            tw = med(a / b for a, b in zip(wall[name], wall["PyTorch"], strict=True))
            tc = med(a / b for a, b in zip(cpu[name], cpu["PyTorch"], strict=True))
            print(
                f"time per epoch, {name} / PyTorch eager: {tw:.3f} wall, {tc:.3f} CPU "
                f"(medians of the per-round ratios; below 1 = faster than PyTorch)"
            )
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(
        f"{verdict} the >= {TARGET_RATIO} target (wall); load average now {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
