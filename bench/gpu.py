"""GPU readiness (issue 16, item 6): samples/s and model FLOPs utilization (MFU) of dlc
against a hand-written JAX + Optax loop in this same script, in float32 and bfloat16, for

- W1: the MLP 784-256-256-10 (ReLU, softmax cross-entropy, Adam 1e-3), batch 128;
- a transformer encoder classifier: a dense projection of float sequences, two pre-norm
  `encoder_block`s (multi-head self-attention + GELU feed-forward), a layernorm, a mean over
  positions and a dense 10 (`SPEC_TRANSFORMER`), batch 64.

dlc trains through its own compiled epoch (`CompiledModel.functions(...).epoch`, what
`fit` and `dlc run` call) with `train { precision bf16 }` for bfloat16; the hand-written side
is one jitted `lax.scan` per epoch over the same shapes, casting parameters and inputs to
bfloat16 inside the loss for bf16 (float32 master weights, as dlc). Each side trains one
warm-up epoch (compile), then `--epochs` timed epochs; samples/s is from the median epoch.

MFU = samples/s x model FLOPs per sample / peak FLOP/s. Model FLOPs per sample are XLA's
count (`cost_analysis`) for one hand-written float32 training step, divided by the batch: the
same number for both sides. Two peaks: a large matmul of the same dtype measured here (the
practical peak), and, on GPUs in `DATASHEET`, NVIDIA's dense tensor-core figure (TF32 for
float32: JAX's default matmul precision on recent GPUs; BF16 for bfloat16).

Without a GPU the script says so and runs a tiny smoke version of everything on the CPU
(small sizes, one timed epoch): the figures then mean nothing, but every path is exercised.

Usage:
    python bench/gpu.py                  # on a GPU machine: full sizes, 5 timed epochs
    python bench/gpu.py --smoke          # tiny sizes anywhere (what a CPU-only machine runs)
    python bench/gpu.py --json out.json  # also write the figures as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import dlc

LR = 1e-3
# NVIDIA data sheets (SXM parts), dense tensor-core FLOP/s: (TF32, BF16)
DATASHEET = {"H100": (494.7e12, 989.4e12), "H200": (494.7e12, 989.4e12), "A100": (156e12, 312e12)}

SPEC_W1 = """\
data {{ npy x="{x}" y="{y}" classes=10; split valid=0 test=0 }}
model {{ dense 256; relu; dense 256; relu; dense 10 }}
loss cross_entropy
optimizer adam lr={lr}
train {{ batch {batch}; epochs 1; seed 0 }}
"""

SPEC_TRANSFORMER = """\
data {{ npy x="{x}" y="{y}" classes=10; split valid=0 test=0 }}
model {{
  dense {d}
  encoder_block heads={heads} ff={ff}
  encoder_block heads={heads} ff={ff}
  layernorm
  seqpool mean
  dense 10
}}
loss cross_entropy
optimizer adam lr={lr}
train {{ batch {batch}; epochs 1; seed 0 }}
"""


@dataclass(frozen=True)
class Sizes:
    w1_rows: int = 60_000
    tf_rows: int = 16_384
    length: int = 128  # positions per sequence
    features: int = 64  # input features per position
    d: int = 256
    heads: int = 8
    ff: int = 1024
    tf_batch: int = 64
    matmul: int = 8192


SMOKE = Sizes(
    w1_rows=1024, tf_rows=128, length=8, features=8, d=32, heads=4, ff=64, tf_batch=32, matmul=512
)


# -- hand-written models ------------------------------------------------------------------------
def _dense(key: Any, n_in: int, n_out: int) -> dict[str, Any]:
    w = jax.nn.initializers.glorot_uniform()(key, (n_in, n_out), jnp.float32)
    return {"w": w, "b": jnp.zeros((n_out,), jnp.float32)}


def _ln(d: int) -> dict[str, Any]:
    return {"g": jnp.ones((d,), jnp.float32), "b": jnp.zeros((d,), jnp.float32)}


def mlp_init(key: Any) -> Any:
    sizes = (784, 256, 256, 10)
    keys = jax.random.split(key, 3)
    return [_dense(k, a, b) for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)]


def mlp_apply(params: Any, x: Any) -> Any:
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def tf_init(key: Any, s: Sizes) -> Any:
    k = iter(jax.random.split(key, 20))
    blocks = []
    for _ in range(2):
        blocks.append(
            {
                **{n: _dense(next(k), s.d, s.d) for n in ("q", "k", "v", "o")},
                "ff1": _dense(next(k), s.d, s.ff),
                "ff2": _dense(next(k), s.ff, s.d),
                "ln1": _ln(s.d),
                "ln2": _ln(s.d),
            }
        )
    return {
        "inp": _dense(next(k), s.features, s.d),
        "blocks": blocks,
        "ln": _ln(s.d),
        "out": _dense(next(k), s.d, 10),
    }


def _layer_norm(p: Any, x: Any) -> Any:
    mean, var = jnp.mean(x, -1, keepdims=True), jnp.var(x, -1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + 1e-5) * p["g"] + p["b"]


def tf_apply(params: Any, x: Any, heads: int) -> Any:
    x = x @ params["inp"]["w"] + params["inp"]["b"]
    for blk in params["blocks"]:
        h = _layer_norm(blk["ln1"], x)
        b, t, d = h.shape
        q, k, v = (
            (h @ blk[n]["w"] + blk[n]["b"]).reshape(b, t, heads, d // heads).transpose(0, 2, 1, 3)
            for n in ("q", "k", "v")
        )
        att = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(d // heads), axis=-1)
        o = (att @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
        x = x + (o @ blk["o"]["w"] + blk["o"]["b"])
        h = _layer_norm(blk["ln2"], x)
        h = jax.nn.gelu(h @ blk["ff1"]["w"] + blk["ff1"]["b"], approximate=False)
        x = x + (h @ blk["ff2"]["w"] + blk["ff2"]["b"])
    x = jnp.mean(_layer_norm(params["ln"], x), axis=1)
    return x @ params["out"]["w"] + params["out"]["b"]


def hand_step(apply: Callable[[Any, Any], Any], bf16: bool) -> Callable[..., Any]:
    """One Adam step of `apply`'s softmax cross-entropy; bf16: the model computes in
    bfloat16 from float32 master weights (the loss in float32)."""
    tx = optax.adam(LR)

    def loss(params: Any, xb: Any, yb: Any) -> Any:
        if bf16:
            params = jax.tree.map(lambda a: a.astype(jnp.bfloat16), params)
            xb = xb.astype(jnp.bfloat16)
        logits = apply(params, xb).astype(jnp.float32)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def step(carry: tuple[Any, Any], batch: tuple[Any, Any]) -> tuple[tuple[Any, Any], Any]:
        params, opt_state = carry
        value, grads = jax.value_and_grad(loss)(params, *batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), value

    return step


def hand_epoch(step: Callable[..., Any], n: int, batch: int) -> Callable[..., Any]:
    nb = n // batch

    def epoch(params: Any, opt_state: Any, x: Any, y: Any, key: Any) -> Any:
        idx = jax.random.permutation(key, n)[: nb * batch].reshape(nb, batch)

        def body(carry: Any, ib: Any) -> Any:
            return step(carry, (jnp.take(x, ib, axis=0), jnp.take(y, ib, axis=0)))

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), idx)
        return params, opt_state, losses.mean()

    return jax.jit(epoch, donate_argnums=(0, 1))


def step_flops(step: Callable[..., Any], params: Any, x: Any, y: Any, batch: int) -> float:
    """XLA's FLOP count of one training step on a batch (float32), per sample."""
    opt_state = optax.adam(LR).init(params)
    compiled = jax.jit(step).lower((params, opt_state), (x[:batch], y[:batch])).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get("flops", 0.0)) / batch


# -- the two sides ------------------------------------------------------------------------------
def timed_epochs(run: Callable[[int], Any], epochs: int) -> float:
    """Median seconds of `epochs` epochs after one warm-up epoch (compile)."""
    jax.block_until_ready(run(0))
    times = []
    for e in range(1, epochs + 1):
        t0 = time.perf_counter()
        jax.block_until_ready(run(e))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def dlc_samples_per_s(spec: str, x: np.ndarray, y: np.ndarray, bf16: bool, epochs: int) -> float:
    m = dlc.compile(spec, overrides=[f"train.precision={'bf16' if bf16 else 'f32'}"])
    n = len(x)
    fns = m.functions(n, None, False)
    xd, yd = jnp.asarray(x), jnp.asarray(y)
    box = {"state": fns.init(0)}

    def run(e: int) -> Any:
        box["state"], stats = fns.epoch(box["state"], xd, yd, np.int32(e))
        return stats

    return n / timed_epochs(run, epochs)


def hand_samples_per_s(
    step: Callable[..., Any], params: Any, x: np.ndarray, y: np.ndarray, batch: int, epochs: int
) -> float:
    n = len(x)
    epoch = hand_epoch(step, n, batch)
    xd, yd = jnp.asarray(x), jnp.asarray(y)
    box = {"p": params, "o": optax.adam(LR).init(params)}

    def run(e: int) -> Any:
        box["p"], box["o"], loss = epoch(box["p"], box["o"], xd, yd, jax.random.PRNGKey(e))
        return loss

    return (n // batch) * batch / timed_epochs(run, epochs)


def matmul_peak(size: int, dtype: Any) -> float:
    """FLOP/s of a jitted size x size matmul in `dtype` (median of 5 after a warm-up)."""
    a = jax.random.normal(jax.random.PRNGKey(0), (size, size), dtype)
    mm = jax.jit(jnp.matmul)
    jax.block_until_ready(mm(a, a))
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        jax.block_until_ready(mm(a, a))
        times.append(time.perf_counter() - t0)
    return 2.0 * size**3 / statistics.median(times)


def datasheet_peak(bf16: bool) -> float | None:
    kind = jax.devices()[0].device_kind
    for name, (tf32, bf) in DATASHEET.items():
        if name in kind:
            return bf if bf16 else tf32
    return None


def write_npy(folder: Path, name: str, shape: tuple[int, ...]) -> tuple[Path, Path]:
    """Tiny shape-giving files for the spec (20 rows, all 10 classes)."""
    px, py = folder / f"{name}_x.npy", folder / f"{name}_y.npy"
    np.save(px, np.zeros((20, *shape), np.float32))
    np.save(py, np.arange(20) % 10)
    return px, py


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one timed epoch")
    ap.add_argument("--epochs", type=int, default=None, help="timed epochs (default 5)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    gpu = jax.default_backend() == "gpu"
    smoke = args.smoke or not gpu
    sizes = SMOKE if smoke else Sizes()
    epochs = args.epochs or (1 if smoke else 5)
    device = jax.devices()[0]
    print(f"jax {jax.__version__}, device {device.device_kind} ({jax.default_backend()})")
    if not gpu:
        print("no GPU: a tiny smoke run on the CPU follows; its figures are not GPU figures")
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(784, 10)).astype(np.float32)
    x1 = rng.random((sizes.w1_rows, 784), dtype=np.float32)
    y1 = np.argmax((x1 - 0.5) @ teacher, axis=1).astype(np.int32)
    s = sizes
    x2 = rng.normal(size=(s.tf_rows, s.length, s.features)).astype(np.float32)
    y2 = np.argmax(x2.mean(axis=1) @ teacher[: s.features], axis=1).astype(np.int32)
    rows = []
    with tempfile.TemporaryDirectory(prefix="dlc-gpu-") as tmp:
        px, py = write_npy(Path(tmp), "w1", (784,))
        w1 = SPEC_W1.format(x=px, y=py, lr=LR, batch=128)
        px, py = write_npy(Path(tmp), "tf", (s.length, s.features))
        tf = SPEC_TRANSFORMER.format(
            x=px, y=py, d=s.d, heads=s.heads, ff=s.ff, lr=LR, batch=s.tf_batch
        )
        workloads = [
            ("W1 MLP 784-256-256-10", w1, x1, y1, 128, mlp_apply, mlp_init),
            (
                f"transformer encoder (2 blocks, d={s.d}, T={s.length})",
                tf,
                x2,
                y2,
                s.tf_batch,
                lambda p, x: tf_apply(p, x, s.heads),
                lambda k: tf_init(k, s),
            ),
        ]
        for name, spec, x, y, batch, apply, init in workloads:
            params = init(jax.random.PRNGKey(0))
            flops = step_flops(hand_step(apply, False), params, x, y, batch)
            for bf16 in (False, True):
                dtype = jnp.bfloat16 if bf16 else jnp.float32
                peak = matmul_peak(s.matmul, dtype)
                sheet = datasheet_peak(bf16)
                d_sps = dlc_samples_per_s(spec, x, y, bf16, epochs)
                h_sps = hand_samples_per_s(
                    hand_step(apply, bf16), init(jax.random.PRNGKey(0)), x, y, batch, epochs
                )
                rows.append(
                    {
                        "workload": name,
                        "precision": "bf16" if bf16 else "f32",
                        "dlc_samples_per_s": d_sps,
                        "hand_samples_per_s": h_sps,
                        "ratio": d_sps / h_sps,
                        "flops_per_sample": flops,
                        "matmul_peak": peak,
                        "mfu_dlc": d_sps * flops / peak,
                        "mfu_hand": h_sps * flops / peak,
                        "datasheet_peak": sheet,
                        "mfu_dlc_datasheet": None if sheet is None else d_sps * flops / sheet,
                        "mfu_hand_datasheet": None if sheet is None else h_sps * flops / sheet,
                    }
                )
    print(f"timed epochs {epochs}; load average {os.getloadavg()[0]:.1f}")
    head = "workload | precision | dlc samples/s | hand samples/s | dlc/hand | MFU dlc | MFU hand"
    print(head + " (vs measured matmul peak; data sheet in brackets)")
    for r in rows:

        def mfu(key: str, r: dict[str, Any] = r) -> str:
            sheet = r[f"{key}_datasheet"]
            return f"{r[key]:.3f}" + ("" if sheet is None else f" [{sheet:.3f}]")

        print(
            f"{r['workload']} | {r['precision']} | {r['dlc_samples_per_s']:.0f} | "
            f"{r['hand_samples_per_s']:.0f} | {r['ratio']:.2f} | {mfu('mfu_dlc')} | "
            f"{mfu('mfu_hand')}"
        )
    if args.json:
        payload = {"device": device.device_kind, "smoke": smoke, "epochs": epochs, "rows": rows}
        args.json.write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
