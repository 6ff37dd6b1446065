"""The whole process: `dlc run` of a W1 spec (MLP 784-256-256-10 on Fashion-MNIST, batch 128,
one epoch) against a hand-written JAX + Optax script doing the same work, cold and warm.

Each side runs as a fresh process. Cold: an empty cache folder (dlc's `$DLC_CACHE`, the hand
script's JAX compilation cache); warm: the same folder again. The hand script reads the same
idx files, scales the pixels, keeps 10 % for validation, trains one epoch as one jitted
`lax.scan` and prints train/valid/test loss and accuracy; `dlc run` also writes its run folder
(checkpoint, metrics, TensorBoard, parameters, confusion matrix; as `dlc run` does by default,
no PNG plots: they are drawn on demand, `--plots` or `dlc plot`). Wall time and the
children's CPU time (user + system) side by side; rounds alternate the order.

When PyTorch is installed, a third script does the same work in PyTorch eager (the same idx
files, / 255, the same 10 % validation rows, Glorot-uniform weights, `torch.optim.Adam(lr=1e-3)`,
one reshuffled epoch of batches of 128 with the last partial batch dropped, then loss and accuracy
of train, valid and test in one pass each), its child pinned by bench/torch_side.py
(`OMP_WAIT_POLICY=PASSIVE`, `$BENCH_THREADS` or 2 threads). PyTorch has no compilation cache, so
its cold and warm runs differ only by what the OS has cached. `--no-torch` skips it.

Usage:
    python bench/whole_process.py            # 2 rounds of cold + warm
    python bench/whole_process.py --rounds 3
    python bench/whole_process.py --no-torch     # dlc and the hand JAX script only
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from torch_side import child_env

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DLC = str(Path(PY).parent / "dlc")

SPEC = """\
data {
  fashion_mnist
  divide 255
  split valid=0.1
}
model {
  flatten
  dense 256
  relu
  dense 256
  relu
  dense 10
}
loss cross_entropy
optimizer adam lr=1e-3
train { batch 128; epochs 1; seed 0 }
"""

HAND = r"""
import gzip, os, sys
import numpy as np
import jax, jax.numpy as jnp, optax
jax.config.update("jax_compilation_cache_dir", sys.argv[1])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
D = "/usr/share/datasets/fashion-mnist"
def idx(name, off):
    with gzip.open(f"{D}/{name}", "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=off)
x = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
y = idx("train-labels-idx1-ubyte.gz", 8).astype(np.int32)
xt = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
yt = idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int32)
perm = np.random.default_rng(0).permutation(len(x))
nv = len(x) // 10
parts = {"train": (x[perm[nv:]], y[perm[nv:]]), "valid": (x[perm[:nv]], y[perm[:nv]]),
         "test": (xt, yt)}
parts = {k: (jnp.asarray(a), jnp.asarray(b)) for k, (a, b) in parts.items()}
sizes = (784, 256, 256, 10)
tx = optax.adam(1e-3)
@jax.jit
def init(key):
    ps = []
    for k, (i, o) in zip(jax.random.split(key, 3), zip(sizes, sizes[1:])):
        ps.append((jax.nn.initializers.glorot_uniform()(k, (i, o)), jnp.zeros(o)))
    return ps, tx.init(ps)
def logits(ps, xb):
    for w, b in ps[:-1]:
        xb = jax.nn.relu(xb @ w + b)
    return xb @ ps[-1][0] + ps[-1][1]
def loss(ps, xb, yb):
    return optax.softmax_cross_entropy_with_integer_labels(logits(ps, xb), yb).mean()
def epoch(ps, opt, x, y, key):
    nb = x.shape[0] // 128
    order = jax.random.permutation(key, x.shape[0])[: nb * 128].reshape(nb, 128)
    def step(c, ib):
        ps, opt = c
        l, g = jax.value_and_grad(loss)(ps, x[ib], y[ib])
        u, opt = tx.update(g, opt, ps)
        return (optax.apply_updates(ps, u), opt), l
    (ps, opt), ls = jax.lax.scan(step, (ps, opt), order)
    return ps, opt, ls.mean()
@jax.jit
def evaluate(ps, x, y):
    out = logits(ps, x)
    return (optax.softmax_cross_entropy_with_integer_labels(out, y).mean(),
            (out.argmax(-1) == y).mean())
ps, opt = init(jax.random.PRNGKey(0))
ps, opt, l = jax.jit(epoch, donate_argnums=(0, 1))(ps, opt, *parts["train"], jax.random.PRNGKey(1))
print("train loss during the epoch", float(l))
for k, (a, b) in parts.items():
    lo, acc = evaluate(ps, a, b)
    print(k, "loss", float(lo), "accuracy", float(acc))
"""

TORCH = r"""
import gzip, os, sys
import numpy as np
import torch
torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
D = "/usr/share/datasets/fashion-mnist"
def idx(name, off):
    with gzip.open(f"{D}/{name}", "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=off)
x = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
y = idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
xt = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
yt = idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
perm = np.random.default_rng(0).permutation(len(x))
nv = len(x) // 10
parts = {"train": (x[perm[nv:]], y[perm[nv:]]), "valid": (x[perm[:nv]], y[perm[:nv]]),
         "test": (xt, yt)}
parts = {k: (torch.from_numpy(a), torch.from_numpy(b)) for k, (a, b) in parts.items()}
torch.manual_seed(0)
sizes = (784, 256, 256, 10)
layers = []
for i, o in zip(sizes, sizes[1:]):
    lin = torch.nn.Linear(i, o)
    torch.nn.init.xavier_uniform_(lin.weight)
    torch.nn.init.zeros_(lin.bias)
    layers += [lin, torch.nn.ReLU()]
net = torch.nn.Sequential(*layers[:-1])
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
loss_fn = torch.nn.functional.cross_entropy
xtr, ytr = parts["train"]
nb = len(xtr) // 128
total = torch.zeros(())
for ib in torch.randperm(len(xtr))[: nb * 128].view(nb, 128):
    opt.zero_grad()
    loss = loss_fn(net(xtr[ib]), ytr[ib])
    loss.backward()
    opt.step()
    total += loss.detach()
print("train loss during the epoch", float(total) / nb)
with torch.no_grad():
    for k, (a, b) in parts.items():
        out = net(a)
        print(k, "loss", float(loss_fn(out, b)), "accuracy",
              float((out.argmax(-1) == b).float().mean()))
"""


MAIN = "import sys; from dlc.runtime.cli.main import main; sys.exit(main(sys.argv[1:]))"


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), child_cpu()
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{cmd} failed:\n{out.stdout}\n{out.stderr}")
    return time.perf_counter() - w0, child_cpu() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--before", metavar="DIR", help="also run the dlc found in DIR/dlc (e.g. a `git archive`)"
    )
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch script")
    a = ap.parse_args(argv)
    torch = not a.no_torch and importlib.util.find_spec("torch") is not None
    if not torch:
        why = "--no-torch" if a.no_torch else "torch is not installed; dlc does not need it"
        print(f"PyTorch side: skipped ({why})")
    names = ["dlc", "hand", *(["before"] if a.before else []), *(["torch"] if torch else [])]
    print(f"whole process, W1 on Fashion-MNIST, 1 epoch; load {os.getloadavg()}")
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "w1.dl").write_text(SPEC)
        (work / "hand.py").write_text(HAND)
        (work / "torch_mlp.py").write_text(TORCH)
        for r in range(a.rounds):
            for side in names if r % 2 == 0 else names[::-1]:
                cache = work / f"cache-{side}"
                shutil.rmtree(cache, ignore_errors=True)
                env = {**os.environ, "DLC_CACHE": str(cache), "OMP_WAIT_POLICY": "PASSIVE"}
                run = ["run", "w1.dl", "--runs", str(work / "runs"), "--quiet"]
                cmd = {
                    "dlc": [DLC, *run],
                    "hand": [PY, "hand.py", str(cache / "jax")],
                    "torch": [PY, "torch_mlp.py"],
                }.get(side, [PY, "-c", MAIN, *run])
                if side == "before":
                    env["PYTHONPATH"] = str(Path(a.before).resolve())
                if side == "torch":
                    env = child_env(env)
                for phase in ("cold", "warm"):
                    results.setdefault((side, phase), []).append(timed(cmd, env, work))
    print(f"{'':12} {'wall s':>8} {'cpu s':>8} {'wall ratio':>10} {'cpu ratio':>9}")
    for phase in ("cold", "warm"):
        ref = results[("hand", phase)]
        for side in names:
            ts = results[(side, phase)]
            rw = statistics.median(t[0] / h[0] for t, h in zip(ts, ref, strict=True))
            rc = statistics.median(t[1] / h[1] for t, h in zip(ts, ref, strict=True))
            wall = statistics.median(t[0] for t in ts)
            cpu = statistics.median(t[1] for t in ts)
            print(f"{side + ' ' + phase:12} {wall:8.2f} {cpu:8.2f} {rw:10.2f} {rc:9.2f}")
    if torch:
        for phase in ("cold", "warm"):
            ref = results[("torch", phase)]
            for side in ("dlc", "hand"):
                ts = results[(side, phase)]
                rw = statistics.median(t[0] / p[0] for t, p in zip(ts, ref, strict=True))
                rc = statistics.median(t[1] / p[1] for t, p in zip(ts, ref, strict=True))
                print(f"{side} / PyTorch script, {phase}: {rw:.2f} wall, {rc:.2f} CPU")
    print(f"load: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
