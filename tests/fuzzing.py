"""Fuzzing every stage (issue 18): generators of specs, data files, command lines and damaged
run folders, and the one judge of an outcome. Used by tests/test_fuzz_stages.py (a quick
budget in `make test`) and tests/fuzz_campaign.py (the long campaign).

An outcome is acceptable when `dlc` ends with status 0, or with status 2 and an error whose
first line names a place (`file:line:col: error:`, `data.csv:row 3: error:`, `dlc: error:`).
Everything else is a failure of one kind: `internal` (the last-resort handler, status 70),
`escaped` (an exception out of `main`), `unlocated` (status 2 without a place), `timeout`,
`status` (any other exit code).

Example:
    >>> rng = random.Random(0)
    >>> "model {" in grammar_spec(rng, "data { digits }\\n")
    True
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import random
import re
import signal
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
HOUSES = DATA / "houses.csv"
LOCATED = re.compile(r"^\S.*: error: ", re.M)
SECONDS = 20  # per input: a spec that passes `check` may still load data and infer shapes


class FuzzTimeout(BaseException):
    """Out of time (a BaseException: the last-resort handler must not swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def on_alarm(signum: int, frame: Any) -> None:
        raise FuzzTimeout

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def judge(argv: list[str], seconds: float = SECONDS) -> tuple[str, str]:
    """Run `dlc argv` in process: (kind, the output's last lines). kind is "ok", "error" or a
    failure kind (see the module docstring)."""
    from dlc.runtime.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with time_limit(seconds), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except FuzzTimeout:
        return "timeout", " ".join(argv)[:300]
    except BaseException as exc:
        return "escaped", f"{type(exc).__name__}: {exc}"[:300]
    text = (out.getvalue() + err.getvalue())[-600:]
    if "Traceback (most recent call last)" in text:
        return "traceback", text
    if code == 0:
        return "ok", ""
    if code == 70:
        return "internal", text
    if code != 2:
        return "status", f"{code}: {text}"
    if not LOCATED.search(err.getvalue()):
        return "unlocated", text
    return "error", ""


FAILURES = ("internal", "escaped", "unlocated", "timeout", "status", "traceback")

# -- specs --------------------------------------------------------------------------------------
DATA_LINES = [
    f'data {{ csv "{HOUSES}" target=price id=id; split valid=0.2 test=0.1 }}\n',
    f'data {{ csv "{HOUSES}" target=price features=[rooms, area] window 2 }}\n',
    "data { digits }\n",
    "data { digits flat=false }\n",
    "data { fizzbuzz train=[101, 400] test=[1, 100] bits=9 }\n",
]
LOSSES = ["mse", "mae", "cross_entropy", "binary_cross_entropy", "huber", "nope"]
OPTIMIZERS = ["sgd", "adam lr=0.01", "adamw", "adam", "rmsprop lr=1e9", "sgd lr=-1", "lion"]
VALUES = [
    "0",
    "1",
    "2",
    "3",
    "8",
    "-1",
    "1e9",
    "0.5",
    "nan",
    "x",
    "true",
    '"s"',
    "[1, 2]",
    "[2, 2, 1]",
    "[]",
    "relu",
    "123456789",
    "2.5",
    "same",
    "valid",
]
SAFE = [
    "dense 8",
    "relu",
    "tanh",
    "dropout 0.1",
    "batchnorm",
    "layernorm",
    "dense 3",
    "gelu",
    "residual { dense 8; relu }",
    "repeat 2 { dense 8; relu }",
    "identity",
    "sigmoid",
]
# per data line: the loss and output width that fit it
FITS = [("mse", 1), ("mse", 1), ("cross_entropy", 10), ("cross_entropy", 10), ("cross_entropy", 4)]
KEYWORDS = [
    "units",
    "rate",
    "filters",
    "kernel",
    "stride",
    "padding",
    "heads",
    "dim",
    "ff",
    "vocab",
    "projection",
    "momentum",
    "size",
    "axis",
    "hidden",
    "bidirectional",
]


def _layer_names() -> list[str]:
    from dlc.compiler.registry import LAYERS

    return sorted(LAYERS.names())


def grammar_layer(rng: random.Random, names: list[str], depth: int = 0) -> str:
    """One random statement of a model block: a registered layer with random arguments, or
    (rarely) `repeat`/`residual` around more layers."""
    r = rng.random()
    if depth < 3 and r < 0.08:
        inner = "; ".join(grammar_layer(rng, names, depth + 1) for _ in range(rng.randint(1, 3)))
        return f"repeat {rng.choice(['1', '2', '3', '0', '5000'])} {{ {inner} }}"
    if depth < 3 and r < 0.16:
        inner = "; ".join(grammar_layer(rng, names, depth + 1) for _ in range(rng.randint(1, 3)))
        extra = rng.choice(["", " projection=linear"])
        return f"residual{extra} {{ {inner} }}"
    if r < 0.6:  # mostly layers that fit anything: specs that pass reach the later stages
        return rng.choice(SAFE)
    name = rng.choice(names)
    args = [rng.choice(VALUES) for _ in range(rng.choice([0, 1, 1, 2]))]
    kwargs = [f"{rng.choice(KEYWORDS)}={rng.choice(VALUES)}" for _ in range(rng.choice([0, 0, 1]))]
    return " ".join([name, *args, *kwargs])


def grammar_spec(rng: random.Random, data: str | None = None) -> str:
    """A random spec the grammar accepts: real data, 1-6 random layers, a loss, an optimizer,
    sometimes a train section."""
    names = _layer_names()
    data = data or rng.choice(DATA_LINES)
    loss, width = FITS[DATA_LINES.index(data)] if data in DATA_LINES else ("cross_entropy", 4)
    layers = [grammar_layer(rng, names) for _ in range(rng.randint(1, 6))]
    if data.startswith("data { digits flat=false") or rng.random() < 0.2:
        layers.insert(0, "flatten")
    if rng.random() < 0.7:
        layers.append(f"dense {width}")
        loss = loss if rng.random() < 0.8 else rng.choice(LOSSES)
    else:
        loss = rng.choice(LOSSES)
    text = data + "model {\n  " + "\n  ".join(layers) + "\n}\n"
    text += f"loss {loss}\noptimizer {rng.choice(OPTIMIZERS)}\n"
    if rng.random() < 0.4:
        text += f"train {{ batch {rng.choice(['1', '16', '0', '100000'])}; epochs 1 }}\n"
    return text


def mutate_text(rng: random.Random, text: str) -> str:
    """`text` with a few characters or tokens deleted, duplicated or replaced."""
    for _ in range(rng.randint(1, 4)):
        if not text:
            break
        i = rng.randrange(len(text))
        j = min(len(text), i + rng.randint(1, 12))
        op = rng.random()
        if op < 0.3:
            text = text[:i] + text[j:]
        elif op < 0.6:
            text = text[:i] + text[i:j] * rng.randint(2, 4) + text[i:]
        else:
            text = text[:i] + rng.choice([*VALUES, "{", "}", "[", "]", "\n", "=", ";"]) + text[j:]
    return text


# -- data files ---------------------------------------------------------------------------------
def _idx_bytes(a: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    header = bytes([0, 0, codes[a.dtype], a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def data_bases() -> dict[str, tuple[bytes, str]]:
    """Per format: a valid file's bytes and the spec data line that reads it (`{path}`)."""
    text = b"".join(
        f"{w} film {i}\t{i % 2}\n".encode() for i, w in enumerate(["good", "bad", "fine"] * 8)
    )
    conllu = b"# s\n1\tThe\tthe\tDET\t_\n2\tcat\tcat\tNOUN\t_\n\n1\tIt\tit\tPRON\t_\n\n" * 6
    return {
        "csv": (HOUSES.read_bytes(), 'csv "{path}" target=price id=id'),
        "csv_classes": (
            b"a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n" * 4,
            'csv "{path}" target=y classes=true',
        ),
        "text": (text, 'text "{path}" length=8'),
        "conllu": (conllu, 'conllu "{path}" length=8'),
        "idx_labels": (_idx_bytes(np.arange(20, dtype=np.uint8) % 10), 'idx "{path}"'),
    }


MODELS = {
    "csv": "model { dense 4; relu; dense 1 }\nloss mse\noptimizer sgd\n",
    "csv_classes": "model { dense 2 }\nloss cross_entropy\noptimizer sgd\n",
    "text": "model { embedding 4; seqpool; dense 2 }\nloss cross_entropy\noptimizer sgd\n",
    "conllu": "model { embedding 4; dense 17 }\nloss cross_entropy\noptimizer sgd\n",
    "idx_labels": "model { flatten; dense 10 }\nloss cross_entropy\noptimizer sgd\n",
}
JUNK = [
    b"nan",
    b"inf",
    b"1e400",
    b"\xff\xfe",
    b"\x00",
    b",,,",
    b"\t\t",
    b"\n\n",
    b'"',
    b"-",
    b"x" * 5000,
    b"\r\n",
    b"\xe9",
    b"1" * 400,
]


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """`data` truncated, spliced with junk, or with bytes flipped."""
    op = rng.random()
    if op < 0.1:
        return data[: rng.randrange(len(data) + 1)]
    out = bytearray(data)
    for _ in range(rng.randint(1, 5)):
        i = rng.randrange(len(out) + 1)
        if rng.random() < 0.5:
            out[i:i] = rng.choice(JUNK)
        elif out:
            out[min(i, len(out) - 1)] = rng.randrange(256)
    return bytes(out)


def write_data_case(rng: random.Random, folder: Path, kind: str) -> Path:
    """A spec in `folder` reading a damaged data file of `kind`; its path."""
    data, line = data_bases()[kind]
    bad = mutate_bytes(rng, data)
    if kind == "idx_labels":  # a folder of four IDX files, the training labels damaged
        sub = folder / "idx"
        sub.mkdir(exist_ok=True)
        images = _idx_bytes(np.zeros((20, 28, 28), np.uint8))
        names = [
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ]
        for name, content in zip(names, [images, bad, images, data], strict=True):
            if rng.random() < 0.2:
                content = gzip.compress(content)[: rng.randint(0, 60)]
            (sub / name).write_bytes(content)
        path = sub
    else:
        path = folder / f"data.{kind}"
        path.write_bytes(bad)
    spec = folder / f"{kind}.dl"
    spec.write_text(f"data {{ {line.format(path=path)} }}\n{MODELS[kind]}")
    return spec


# -- command lines ------------------------------------------------------------------------------
FLAG_VALUES = [
    "0",
    "-1",
    "1",
    "2",
    "nan",
    "inf",
    "1e400",
    "100000",
    "",
    "x",
    ".",  # relative: flags write only inside the work folder (never `/`)
    "a[/b]",
    "pipe",  # a FIFO in the work folder (never /dev/null: a bug could replace it)
    "no/such/dir/f.png",
    "FILE",
    "x" * 300,
]


def random_argv(rng: random.Random, spec: str, folder: Path) -> list[str]:
    """A command line of a command that does not train, with random flags and values."""
    command = rng.choice(["check", "explain", "schedule", "plot", "fmt", "analyze"])
    flags = {
        "check": [],
        "explain": [],
        "schedule": ["--steps-per-epoch", "--plot"],
        "plot": [],
        "fmt": ["--check"],
        "analyze": ["--n", "--span", "--out", "--tol", "--surface", "--at", "--exact-limit"],
    }[command]
    target = rng.choice([spec, spec, str(folder), str(folder / "nope.dl"), "a[/b].dl", "-"])
    argv = [command, target]
    for _ in range(rng.randint(0, 3)):
        if flags and rng.random() < 0.8:
            argv.append(rng.choice(flags))
            if argv[-1] not in ("--check",):
                argv.append(rng.choice(FLAG_VALUES))
        else:
            argv += [
                "--set",
                rng.choice(
                    [
                        "train.epochs=0",
                        "optimizer.lr=nan",
                        "x",
                        "a.b=",
                        "train.batch=[1]",
                        "model.x=1",
                    ]
                ),
            ]
    if command == "analyze":  # cheap points only: never a Hessian of a large model
        argv += ["--at", "origin", "--n", "3"]
    return argv


# -- run folders --------------------------------------------------------------------------------
def damage_run(rng: random.Random, run: Path) -> str:
    """Damage one file of a finished run folder at random; what was done."""
    files = sorted(p for p in run.rglob("*") if p.is_file() and p.name != ".lock")
    target = rng.choice(files)
    op = rng.random()
    if op < 0.15:
        target.unlink()
        return f"deleted {target.name}"
    data = target.read_bytes()
    if target.name == "spec.json" and op < 0.5:
        meta = json.loads(data)
        meta[rng.choice(["hash", "spec", "file"])] = rng.choice([None, 3, "x", [], {}])
        target.write_text(json.dumps(meta))
        return "edited spec.json"
    target.write_bytes(mutate_bytes(rng, data))
    return f"damaged {target.name}"


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
