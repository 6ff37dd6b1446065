"""Time to the first training step, by stage: dlc (spec, data, init, trace, XLA compile, one
epoch's first step) against a hand-written JAX script for W1, each in a fresh process.

Each side runs in a new interpreter with an empty JAX compilation cache (cold) and then again
with the cache filled (warm). The child prints its stage times; the parent adds the interpreter
start-up and imports (time from launch to the child's first line). "first step" = everything
before the epoch program plus one step's share of the first epoch (the epoch is one program).

Usage:
    python bench/first_step.py                       # W1 (Fashion-MNIST MLP), dlc vs hand JAX
    python bench/first_step.py --spec specs/pos_tagging.dl   # stage breakdown of a spec only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from whole_process import HAND, SPEC  # noqa: E402  (the same W1 spec and hand-written script)

DLC_CHILD = r"""
import json, sys, time
t = {"start": time.perf_counter()}
import jax
from dlc.runtime.train.jaxsetup import enable_compilation_cache
from dlc.runtime.train.model import CompiledModel
from dlc.compiler.frontend import load_spec
from dlc.runtime.data.prepare import prepare
from dlc.runtime.train.step import to_device
import jax.numpy as jnp
enable_compilation_cache()
t["imports"] = time.perf_counter()
resolved = load_spec(sys.argv[1])
t["spec"] = time.perf_counter()
data = prepare(resolved)
m = CompiledModel(resolved, data)
x, y = to_device(*m.data.parts["train"])
jax.block_until_ready(x)
t["data"] = time.perf_counter()
fns = m.functions(len(x))
state = jax.block_until_ready(fns.init(m.spec.train.seed))
t["init"] = time.perf_counter()
lowered = fns.epoch.lower(state, x, y, jnp.int32(0))
t["trace"] = time.perf_counter()
compiled = lowered.compile()
t["compile"] = time.perf_counter()
state, stats = compiled(state, x, y, jnp.int32(0))
jax.block_until_ready(stats)
t["epoch"] = time.perf_counter()
t["steps"] = fns.steps_per_epoch
print(json.dumps(t))
"""

HAND_CHILD = HAND.replace(
    "import gzip, os, sys\n",
    "import gzip, os, sys, time, json\nt = {'start': time.perf_counter()}\n",
).replace('D = "/usr/share', 't["imports"] = t["spec"] = time.perf_counter()\nD = "/usr/share')
HAND_CHILD = (
    HAND_CHILD.replace(
        "sizes = (784,",
        'jax.block_until_ready(parts)\nt["data"] = time.perf_counter()\nsizes = (784,',
    ).split("ps, opt = init(")[0]
    + r"""
ps, opt = jax.block_until_ready(init(jax.random.PRNGKey(0)))
t["init"] = time.perf_counter()
epoch_j = jax.jit(epoch, donate_argnums=(0, 1))
lowered = epoch_j.lower(ps, opt, *parts["train"], jax.random.PRNGKey(1))
t["trace"] = time.perf_counter()
compiled = lowered.compile()
t["compile"] = time.perf_counter()
jax.block_until_ready(compiled(ps, opt, *parts["train"], jax.random.PRNGKey(1)))
t["epoch"] = time.perf_counter()
t["steps"] = parts["train"][0].shape[0] // 128
print(json.dumps(t))
"""
)

STAGES = ("imports", "spec", "data", "init", "trace", "compile")


def run_child(code: str, args: list[str], cache: Path) -> dict[str, float]:
    env = {**os.environ, "DLC_CACHE": str(cache), "OMP_WAIT_POLICY": "PASSIVE"}
    w0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    t = json.loads(out.stdout.strip().splitlines()[-1])
    total = time.perf_counter() - w0
    launch = total - (t["epoch"] - t["start"])  # interpreter start-up + process exit
    stages = {"python": launch}
    prev = t["start"]
    for s in STAGES:
        stages[s] = t[s] - prev
        prev = t[s]
    stages["1 step"] = (t["epoch"] - t["compile"]) / t["steps"]
    stages["first step"] = sum(stages.values())
    return stages


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", help="a spec to break down (no hand-written side)")
    a = ap.parse_args(argv)
    print(f"time to the first step; load {os.getloadavg()}")
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        spec = Path(a.spec).resolve() if a.spec else work / "w1.dl"
        if not a.spec:
            spec.write_text(SPEC)
        sides = {"dlc": (DLC_CHILD, [str(spec)])}
        if not a.spec:
            sides["hand"] = (HAND_CHILD, [str(work / "cache-hand" / "jax")])
        for phase in ("cold", "warm"):
            for side, (code, args) in sides.items():
                rows[f"{side} {phase}"] = run_child(code, args, work / f"cache-{side}")
    names = list(next(iter(rows.values())))
    print(f"{'':10}" + "".join(f"{n:>11}" for n in names))
    for label, st in rows.items():
        print(f"{label:10}" + "".join(f"{st[n]:11.2f}" for n in names))
    if not a.spec:
        for phase in ("cold", "warm"):
            r = rows[f"dlc {phase}"]["first step"] / rows[f"hand {phase}"]["first step"]
            print(f"ratio dlc / hand, {phase}: {r:.2f}")
    print(f"load: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
