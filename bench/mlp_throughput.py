"""Training throughput: dlc's jitted epoch against a hand-written JAX + Optax epoch (and PyTorch).

Both train the same MLP (784-256-256-10, ReLU, softmax cross-entropy, Adam lr 1e-3, batch 128)
on 60000 synthetic float32 samples of MNIST's shape, each as one jitted `lax.scan` per epoch with
the data on the device and the training state donated. After a warm-up (compile) epoch each,
epochs are timed alternately (dlc, hand-written, hand-written, dlc, ...) with two 2048x2048
float32 matmuls after each pair, so that load from other processes hits all of them alike; the
matmul gives this machine's practical peak GFLOP/s. Besides wall-clock time the process's CPU
time (all threads) is recorded: on a shared machine it is much less disturbed by other processes.

When PyTorch is installed, a third side trains the same MLP in PyTorch eager (Glorot-uniform
weights, zero biases, `torch.optim.Adam(lr=1e-3)`, a reshuffled epoch of batches of 128 with the
last partial batch dropped, a Python loop as a PyTorch user writes it), pinned by
bench/torch_side.py (`OMP_WAIT_POLICY=PASSIVE`, `$BENCH_THREADS` or 2 threads); the three take
turns in each round and the ratios to it are printed as time per sample. `--no-torch` skips it.

Usage:
    python bench/mlp_throughput.py            # 10 timed epochs each (1-3 minutes on 2 cores)
    python bench/mlp_throughput.py --quick    # 2 timed epochs each
    python bench/mlp_throughput.py --epochs 20 --verbose   # more rounds, each one printed
    python bench/mlp_throughput.py --quick --no-torch      # without the PyTorch side
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from torch_side import load_torch

import dlc

N_TRAIN = 60_000
BATCH = 128
SIZES = (784, 256, 256, 10)
LR = 1e-3
TARGET_RATIO = 0.95

SPEC = """\
# The benchmark MLP; the CSV only gives the input shape and the classes.
data {{
  csv "{csv}" target=label classes=true
  split valid=0 test=0
}}
model {{
  dense 256
  relu
  dense 256
  relu
  dense 10
}}
loss cross_entropy
optimizer adam lr={lr}
train {{ batch {batch}; epochs 1; seed 0 }}
"""


def flops_per_step(batch: int = BATCH) -> float:
    """Forward + backward of the MLP's matmuls: 3 x 2 x batch x (sum of weight sizes)."""
    return 3 * 2 * batch * weights_total()


def needed_flops_per_step(batch: int = BATCH) -> float:
    """The matmul FLOPs the step really needs: no gradient for the input (first layer x2)."""
    first = SIZES[0] * SIZES[1]
    return 2 * 2 * batch * first + 3 * 2 * batch * (weights_total() - first)


def weights_total() -> int:
    return sum(a * b for a, b in itertools.pairwise(SIZES))


def synthetic_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs in [0, 1) of MNIST's shape; labels from a random linear teacher (learnable)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, SIZES[0]), dtype=np.float32)
    teacher = rng.standard_normal((SIZES[0], SIZES[-1])).astype(np.float32)
    y = np.argmax((x - 0.5) @ teacher, axis=1).astype(np.int32)
    return x, y


def write_shape_csv(folder: Path, rows: int = 20) -> Path:
    """A tiny CSV with 784 feature columns and a `label` column holding all 10 classes."""
    x, _ = synthetic_data(rows, seed=1)
    labels = np.arange(rows) % SIZES[-1]
    header = ",".join([*(f"p{i}" for i in range(SIZES[0])), "label"])
    lines = [header] + [
        ",".join([*(f"{v:.4f}" for v in row), str(lab)]) for row, lab in zip(x, labels, strict=True)
    ]
    path = folder / "mnist_shape.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


# -- hand-written JAX + Optax -------------------------------------------------------------------
def hand_init(key: Any) -> list[tuple[Any, Any]]:
    """Glorot-uniform weights and zero biases, as dlc's `dense` does."""
    params = []
    for k, (fan_in, fan_out) in zip(
        jax.random.split(key, len(SIZES) - 1), itertools.pairwise(SIZES), strict=True
    ):
        w = jax.nn.initializers.glorot_uniform()(k, (fan_in, fan_out), jnp.float32)
        params.append((w, jnp.zeros((fan_out,), jnp.float32)))
    return params


def hand_loss(params: list[tuple[Any, Any]], xb: Any, yb: Any) -> Any:
    h = xb
    for w, b in params[:-1]:
        h = jax.nn.relu(h @ w + b)
    w, b = params[-1]
    return optax.softmax_cross_entropy_with_integer_labels(h @ w + b, yb).mean()


def make_hand_epoch(n: int, batch: int) -> tuple[Callable[..., Any], Any]:
    """The best hand-written form: one jitted scan per epoch over reshuffled minibatches
    (the last partial batch dropped), data as arguments, params and optimizer state donated."""
    tx = optax.adam(LR)
    nb = n // batch

    def epoch(params: Any, opt_state: Any, x: Any, y: Any, key: Any) -> tuple[Any, Any, Any]:
        idx = jax.random.permutation(key, n)[: nb * batch].reshape(nb, batch)

        def step(carry: tuple[Any, Any], ib: Any) -> tuple[tuple[Any, Any], Any]:
            params, opt_state = carry
            xb, yb = jnp.take(x, ib, axis=0), jnp.take(y, ib, axis=0)
            loss, grads = jax.value_and_grad(hand_loss)(params, xb, yb)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), idx)
        return params, opt_state, jnp.mean(losses)

    return jax.jit(epoch, donate_argnums=(0, 1)), tx


# -- PyTorch eager --------------------------------------------------------------------------------
def make_torch_epoch(torch: Any, x_np: np.ndarray, y_np: np.ndarray) -> Callable[[], float]:
    """One reshuffled epoch of the same MLP in PyTorch eager; returns its mean train loss."""
    torch.manual_seed(0)
    layers: list[Any] = []
    for fan_in, fan_out in itertools.pairwise(SIZES):
        lin = torch.nn.Linear(fan_in, fan_out)
        torch.nn.init.xavier_uniform_(lin.weight)
        torch.nn.init.zeros_(lin.bias)
        layers += [lin, torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np.astype(np.int64))
    nb = len(x_np) // BATCH

    def epoch() -> float:
        order = torch.randperm(len(x_np))[: nb * BATCH].view(nb, BATCH)
        total = torch.zeros(())
        for ib in order:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[ib]), y[ib])
            loss.backward()
            opt.step()
            total += loss.detach()
        return float(total) / nb

    return epoch


# -- measurements -------------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, process CPU seconds, result) of `fn()`, waiting for the device."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(fn())
    return time.perf_counter() - t0, time.process_time() - c0, out


def make_matmul(size: int = 2048) -> tuple[Callable[[], Any], float]:
    """A jitted, warmed-up size x size float32 matmul, and its FLOPs."""
    ka, kb = jax.random.split(jax.random.PRNGKey(0))
    a = jax.random.normal(ka, (size, size), jnp.float32)
    b = jax.random.normal(kb, (size, size), jnp.float32)
    mm = jax.jit(jnp.matmul)
    mm(a, b).block_until_ready()
    return lambda: mm(a, b), 2.0 * size**3


def per_sample_ratios(
    a: list[tuple[float, float]], na: int, b: list[tuple[float, float]], nb: int
) -> tuple[float, float]:
    """Time per sample of side a over side b, wall and CPU: medians of the per-round ratios."""
    med = statistics.median
    return (
        med((ta / na) / (tb / nb) for (ta, _), (tb, _) in zip(a, b, strict=True)),
        med((ca / na) / (cb / nb) for (_, ca), (_, cb) in zip(a, b, strict=True)),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=None, help="timed epochs per side (default 10)")
    ap.add_argument("--quick", action="store_true", help="2 timed epochs each")
    ap.add_argument("--verbose", action="store_true", help="print every round's times")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch eager side")
    args = ap.parse_args(argv)
    rounds = args.epochs or (2 if args.quick else 10)
    t_start = time.perf_counter()
    print(
        f"jax {jax.__version__} ({jax.default_backend()}), optax {optax.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    x_np, y_np = synthetic_data(N_TRAIN)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)

    # dlc, through the public API: compile the spec, initialize, fit one epoch (compiles it)
    with tempfile.TemporaryDirectory() as tmp:
        csv = write_shape_csv(Path(tmp))
        m = dlc.compile(SPEC.format(csv=csv, lr=LR, batch=BATCH))
    fns = m.functions(N_TRAIN)
    init_s, _, state = timed(lambda: fns.init(m.spec.train.seed))
    first_s, _, _ = timed(lambda: m.fit(x_np, y_np, state=state).state)
    dlc_state, dlc_steps = m.state, fns.steps_per_epoch

    # hand-written: initialize, one epoch (compiles it)
    hand_epoch, tx = make_hand_epoch(N_TRAIN, BATCH)
    hand_steps = N_TRAIN // BATCH
    base_key = jax.random.PRNGKey(1)
    params = hand_init(jax.random.PRNGKey(0))
    opt_state = tx.init(params)
    hand_first_s, _, (params, opt_state, hand_loss_v) = timed(
        lambda: hand_epoch(params, opt_state, x, y, base_key)
    )
    matmul, matmul_flops = make_matmul()
    torch = load_torch(args.no_torch)
    torch_epoch = None if torch is None else make_torch_epoch(torch, x_np, y_np)
    torch_first = "" if torch_epoch is None else f"; PyTorch epoch 1 {timed(torch_epoch)[0]:.2f} s"
    print(
        f"warm-up: dlc init {init_s:.2f} s (first call) + fit() epoch 1 {first_s:.2f} s "
        f"(copy to device, compile, run); hand-written epoch 1 {hand_first_s:.2f} s "
        f"(compile, run){torch_first}"
    )

    # steady state: rounds of a dlc epoch, a hand-written epoch and a PyTorch epoch (their
    # order rotating) and two matmuls
    stats: Any = None
    torch_loss = math.nan

    def run_dlc(i: int) -> tuple[float, float]:
        nonlocal dlc_state, stats
        wall, cpu, (dlc_state, stats) = timed(lambda: fns.epoch(dlc_state, x, y, jnp.int32(i)))
        return wall, cpu

    def run_hand(i: int) -> tuple[float, float]:
        nonlocal params, opt_state, hand_loss_v
        key = jax.random.fold_in(base_key, i)
        wall, cpu, (params, opt_state, hand_loss_v) = timed(
            lambda: hand_epoch(params, opt_state, x, y, key)
        )
        return wall, cpu

    def run_torch(i: int) -> tuple[float, float]:
        nonlocal torch_loss
        assert torch_epoch is not None
        wall, cpu, torch_loss = timed(torch_epoch)
        return wall, cpu

    runners = {"dlc": run_dlc, "hand-written": run_hand}
    if torch_epoch is not None:
        runners["PyTorch"] = run_torch
    names = list(runners)
    tcs: dict[str, list[tuple[float, float]]] = {k: [] for k in names}
    mm_tc: list[tuple[float, float]] = []
    for i in range(1, rounds + 1):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            tcs[name].append(runners[name](i))
        mm_tc += [timed(matmul)[:2] for _ in range(2)]
        if args.verbose:
            mms = " / ".join(f"{matmul_flops / t / 1e9:.1f}" for t, _ in mm_tc[-2:])
            sides = ", ".join(
                f"{k} {v[-1][0]:.3f} s (CPU {v[-1][1]:.2f} s)" for k, v in tcs.items()
            )
            print(f"  round {i}: {sides}, matmul {mms} GFLOP/s")
    dlc_tc, hand_tc = tcs["dlc"], tcs["hand-written"]

    med = statistics.median
    per_step, needed = flops_per_step(), needed_flops_per_step()
    peak = matmul_flops / med(t for t, _ in mm_tc) / 1e9
    peak_cpu = matmul_flops / med(c for _, c in mm_tc) / 1e9
    print(
        f"\n{rounds} timed epochs each, interleaved; {N_TRAIN} samples, batch {BATCH}: "
        f"dlc {dlc_steps} steps/epoch (last batch padded), hand-written and PyTorch "
        f"{hand_steps} (last partial batch dropped)"
    )
    print(
        f"training step: 3 x 2 x batch x weights = {per_step / 1e6:.1f} MFLOP (the matmuls "
        f"really needed: {needed / 1e6:.1f}, as no input gradient is taken)"
    )
    print(
        f"matmul 2048x2048 float32: {peak:.1f} GFLOP/s (median of {len(mm_tc)}), best "
        f"{matmul_flops / min(t for t, _ in mm_tc) / 1e9:.1f}; {peak_cpu:.1f} GFLOP per CPU second"
    )
    print(
        f"{'':13}{'epoch median':>13}{'best':>8}{'samples/s':>10}{'GFLOP/s':>8}{'of peak':>8}"
        f"{'CPU s/epoch':>12}{'of peak per CPU s':>18}"
    )
    samples_of = {"dlc": N_TRAIN, "hand-written": hand_steps * BATCH, "PyTorch": hand_steps * BATCH}
    steps_of = {"dlc": dlc_steps, "hand-written": hand_steps, "PyTorch": hand_steps}
    sps: dict[str, float] = {}
    cpu_s: dict[str, float] = {}
    for name, tc in tcs.items():
        steps, samples = steps_of[name], samples_of[name]
        wall, best, cpu = med(t for t, _ in tc), min(t for t, _ in tc), med(c for _, c in tc)
        gflops = steps * per_step / wall / 1e9
        sps[name], cpu_s[name] = samples / wall, cpu / samples
        print(
            f"{name:13}{wall:>11.3f} s{best:>6.3f} s{samples / wall:>10,.0f}{gflops:>8.1f}"
            f"{gflops / peak:>8.2f}{cpu:>10.2f} s{steps * per_step / cpu / 1e9 / peak_cpu:>18.2f}"
        )
    ratio = sps["dlc"] / sps["hand-written"]
    paired = med(
        (N_TRAIN / d) / (hand_steps * BATCH / h)
        for (d, _), (h, _) in zip(dlc_tc, hand_tc, strict=True)
    )
    cpu_ratio = cpu_s["hand-written"] / cpu_s["dlc"]
    print(
        f"counting only the FLOPs really needed, the shares of peak are "
        f"{needed / per_step:.2f} x the above"
    )
    print(
        f"ratio dlc / hand-written samples/s: {paired:.3f} (median of the per-round ratios), "
        f"{ratio:.3f} (of the median epochs); per CPU second: {cpu_ratio:.3f}"
    )
    if "PyTorch" in tcs:
        for name in ("dlc", "hand-written"):
            wr, cr = per_sample_ratios(
                tcs[name], samples_of[name], tcs["PyTorch"], hand_steps * BATCH
            )
            print(
                f"time per sample, {name} / PyTorch eager: {wr:.3f} wall, {cr:.3f} CPU "
                f"(medians of the per-round ratios; below 1 = faster than PyTorch)"
            )
    verdict = "meets" if paired >= TARGET_RATIO else "MISSES"
    print(f"{verdict} the >= {TARGET_RATIO} target (per-round ratio)")
    dlc_loss, hand_loss_f = float(stats["loss"]), float(hand_loss_v)
    print(
        f"last epoch's mean train loss: dlc {dlc_loss:.4f}, hand-written {hand_loss_f:.4f}"
        + ("" if torch_epoch is None else f", PyTorch {torch_loss:.4f}")
    )
    print(f"total {time.perf_counter() - t_start:.0f} s; load average now {os.getloadavg()[0]:.2f}")
    return 0 if math.isfinite(dlc_loss) and math.isfinite(hand_loss_f) else 1


if __name__ == "__main__":
    sys.exit(main())
