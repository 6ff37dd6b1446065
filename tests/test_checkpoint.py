"""Checkpoints: bit-exact round trips, atomic writes under SIGKILL, corruption fallback."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from safetensors.numpy import load_file

from dlc.compiler.errors import DlcError
from dlc.compiler.files import atomic_write_bytes
from dlc.runtime.runs.checkpoint import (
    list_checkpoints,
    load_latest,
    load_pytree,
    save_checkpoint,
    save_pytree,
    spec_hash,
)


def _train_state() -> dict:
    params = {"dense": {"w": jnp.arange(12.0).reshape(3, 4) / 7, "b": jnp.full((4,), 0.1)}}
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)
    grads = jax.tree_util.tree_map(lambda p: p * 0.3 + 1.0, params)
    updates, opt_state = opt.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return {
        "params": params,
        "opt_state": opt_state,
        "rng": jax.random.split(jax.random.PRNGKey(42))[1],
        "typed_key": jax.random.key(7),
        "half": jnp.linspace(0, 1, 5).astype(jnp.bfloat16),
        "epoch": 3,
        "lr": 0.5,
    }


def _fresh_like() -> dict:
    def zero(x: object) -> object:
        if not isinstance(x, jax.Array):
            return x
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.key(0)
        return jnp.zeros_like(x)

    return jax.tree_util.tree_map(zero, _train_state())


def _bits(x: object) -> tuple[str, tuple[int, ...], bytes]:
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    a = np.asarray(x)
    return str(a.dtype), a.shape, a.tobytes()


def test_pytree_round_trip_is_bit_exact(tmp_path: Path) -> None:
    state = _train_state()
    path = tmp_path / "state.safetensors"
    save_pytree(path, state)
    assert path.read_bytes()[8:9] == b"{"  # a safetensors JSON header, not a pickle
    got = load_pytree(path, like=_fresh_like())
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(state)
    adam = got["opt_state"][0]
    assert type(adam) is type(state["opt_state"][0])
    assert int(adam.count) == 1
    flat_want = jax.tree_util.tree_leaves(state)
    flat_got = jax.tree_util.tree_leaves(got)
    assert [_bits(a) for a in flat_got] == [_bits(a) for a in flat_want]
    assert np.asarray(got["rng"]).dtype == np.uint32
    assert got["typed_key"].dtype == state["typed_key"].dtype
    assert got["epoch"] == 3 and type(got["epoch"]) is int
    assert got["lr"] == 0.5 and type(got["lr"]) is float


def test_load_pytree_reports_shape_dtype_and_key_mismatches(tmp_path: Path) -> None:
    path = tmp_path / "p.safetensors"
    save_pytree(path, {"w": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.float32)})
    with pytest.raises(DlcError, match=r"`\['w'\]`: float32\[2, 3\] in file, float32\[3, 2\]"):
        load_pytree(path, like={"w": np.zeros((3, 2), np.float32), "b": np.zeros(3, np.float32)})
    with pytest.raises(DlcError, match=r"`\['b'\]`: float32\[3\] in file, int32\[3\]"):
        load_pytree(path, like={"w": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.int32)})
    with pytest.raises(DlcError, match=r"missing `\['c'\]`.*unexpected `\['b'\]`"):
        load_pytree(path, like={"w": np.zeros((2, 3), np.float32), "c": np.zeros(3, np.float32)})


def test_atomic_write_keeps_old_file_when_the_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"newer")
    assert target.read_bytes() == b"newer"

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "disk on fire")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_bytes(target, b"x" * 1000)
    assert target.read_bytes() == b"newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def _save_steps(run: Path, steps: list[int], h: str = "h1") -> None:
    for s in steps:
        state = {"w": np.full((4, 4), s, np.float32), "k": np.array([0, s], np.uint32)}
        save_checkpoint(run, state=state, epoch=s // 10, step=s, spec_hash=h, extra={"best": s})


LIKE = {"w": np.zeros((4, 4), np.float32), "k": np.zeros(2, np.uint32)}


def test_keeps_newest_three_and_loads_latest(tmp_path: Path) -> None:
    assert load_latest(tmp_path, like=LIKE, spec_hash="h1") is None
    _save_steps(tmp_path, [10, 20, 30, 40, 1000])
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == [f"ckpt-{s:09d}.safetensors" for s in (1000, 40, 30)]
    ck = load_latest(tmp_path, like=LIKE, spec_hash="h1")
    assert ck is not None
    assert (ck.step, ck.epoch, ck.extra, ck.skipped) == (1000, 100, {"best": 1000}, [])
    assert ck.path.name == "ckpt-000001000.safetensors"
    assert np.all(ck.state["w"] == 1000) and ck.state["k"].tolist() == [0, 1000]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda b: b[: len(b) // 2], "unreadable safetensors data"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 0x01]), "SHA-256"),
        (lambda b: b"", "unreadable safetensors data"),
        (lambda b: b[:5], "unreadable safetensors data"),
    ],
    ids=["truncated", "bitflip", "empty", "header-cut"],
)
def test_corrupt_newest_falls_back_to_previous(tmp_path: Path, damage, reason: str) -> None:
    _save_steps(tmp_path, [1, 2, 3])
    newest = list_checkpoints(tmp_path)[0]
    newest.write_bytes(damage(newest.read_bytes()))
    ck = load_latest(tmp_path, like=LIKE, spec_hash="h1")
    assert ck is not None and ck.step == 2 and np.all(ck.state["w"] == 2)
    assert len(ck.skipped) == 1
    assert ck.skipped[0][0] == newest and reason in ck.skipped[0][1]


def test_all_corrupt_raises(tmp_path: Path) -> None:
    _save_steps(tmp_path, [1, 2])
    for p in list_checkpoints(tmp_path):
        p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(DlcError, match="every checkpoint of this run is corrupt") as e:
        load_latest(tmp_path, like=LIKE, spec_hash="h1")
    assert "ckpt-000000002.safetensors" in str(e.value) and "hint" in str(e.value)


def test_spec_hash_mismatch_raises_with_hint(tmp_path: Path) -> None:
    old, new = spec_hash("model m { dense 4 }"), spec_hash("model m { dense 8 }")
    assert old == hashlib.sha256(b"model m { dense 4 }").hexdigest() and old != new
    _save_steps(tmp_path, [5], h=old)
    with pytest.raises(DlcError, match="spec changed since this run started") as e:
        load_latest(tmp_path, like=LIKE, spec_hash=new)
    text = str(e.value)
    assert "start a new run" in text and "ckpt-000000005.safetensors" in text


_WRITER = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from dlc.runtime.runs.checkpoint import save_checkpoint
    # warm up (lazy imports) before forking, so children start writing at once
    save_checkpoint(sys.argv[1], state={"x": np.zeros(1)}, epoch=0, step=0, spec_hash="h", extra={})
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            try:
                step = 0
                while True:
                    step += 1
                    state = {"w": np.full((512, 256), step, np.float32),
                             "k": np.array([0, step], np.uint32)}
                    save_checkpoint(line.strip(), state=state, epoch=step, step=step,
                                    spec_hash="h", extra={"step": step})
            finally:
                os._exit(1)
        print(pid, flush=True)
        os.waitpid(pid, 0)
        print("reaped", flush=True)
    """
)


def test_sigkill_mid_save_always_leaves_a_verified_checkpoint(tmp_path: Path) -> None:
    rng = random.Random(1234)
    trials, mid_write = 20, 0
    like = {"w": np.zeros((512, 256), np.float32), "k": np.zeros(2, np.uint32)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path / "warmup")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for i in range(trials):
            run = tmp_path / f"trial{i}"
            proc.stdin.write(f"{run}\n")
            proc.stdin.flush()
            pid = int(proc.stdout.readline())
            deadline = time.monotonic() + 30
            while not list_checkpoints(run):
                assert time.monotonic() < deadline, "writer never produced a checkpoint"
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.04))
            os.kill(pid, signal.SIGKILL)
            assert proc.stdout.readline().strip() == "reaped"
            mid_write += any(".tmp-" in p.name for p in (run / "checkpoints").iterdir())
            ck = load_latest(run, like=like, spec_hash="h")
            assert ck is not None and ck.skipped == []
            assert ck.extra == {"step": ck.step} and ck.epoch == ck.step
            assert np.all(ck.state["w"] == ck.step) and ck.state["k"].tolist() == [0, ck.step]
            for p in list_checkpoints(run):  # every visible file is complete, not just the newest
                assert load_pytree(p, like=like)["k"][1] == int(p.name[5:14])
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    # resuming sweeps temp files left by the killed writers
    run = tmp_path / "trial0"
    ck = load_latest(run, like=like, spec_hash="h")
    assert ck is not None
    save_checkpoint(run, state=ck.state, epoch=ck.epoch, step=ck.step + 1, spec_hash="h", extra={})
    assert not [p for p in (run / "checkpoints").iterdir() if ".tmp-" in p.name]
    print(f"sigkill trials: {trials}, all verified; killed mid-write: {mid_write}")


# -- one serializer, one atomic write, one cache folder, one spec check -------------------------
def test_params_files_keep_the_dotted_layout(tmp_path: Path) -> None:
    from dlc.runtime.runs import folder, pytree

    params = {
        "00_dense": {"w": np.ones((2, 3), np.float32), "b": np.zeros(3, np.float32)},
        "01_residual": {"00_conv2d": {"kernel": np.full((1, 1, 3, 3), 2.0, np.float32)}},
    }
    assert folder.flatten_params is pytree.flatten_params  # one serializer, two names for it
    flat = pytree.flatten_params(params)
    assert sorted(flat) == ["00_dense.b", "00_dense.w", "01_residual.00_conv2d.kernel"]
    run = folder.RunDir(tmp_path)
    run.save_arrays("params.safetensors", flat)
    assert sorted(load_file(str(tmp_path / "params.safetensors"))) == sorted(flat)
    back = pytree.unflatten_params(run.load_arrays("params.safetensors"))
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_keys_stay_keystr_paths(tmp_path: Path) -> None:
    from dlc.runtime.runs.pytree import to_arrays

    tree = {"train": {"params": {"00_dense": {"w": np.ones(2, np.float32)}}}, "step": 3}
    arrays, views = to_arrays(tree)
    assert sorted(arrays) == ["['step']", "['train']['params']['00_dense']['w']"] and not views
    path = tmp_path / "t.safetensors"
    save_pytree(path, tree)
    assert sorted(load_file(str(path))) == sorted(arrays)


def test_atomic_writer_streams_and_cleans_up(tmp_path: Path) -> None:
    from dlc.compiler.files import atomic_writer

    target = tmp_path / "big.bin"
    with atomic_writer(target) as f:
        for _ in range(3):
            f.write(b"abc")
    assert target.read_bytes() == b"abcabcabc"
    with pytest.raises(RuntimeError), atomic_writer(target) as f:
        f.write(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"abcabcabc"
    assert [p.name for p in tmp_path.iterdir()] == ["big.bin"]


def test_one_cache_folder_honours_dlc_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dlc.compiler import parser
    from dlc.compiler.files import cache_root
    from dlc.runtime.data import idx
    from dlc.runtime.train import jaxsetup

    monkeypatch.setenv("DLC_CACHE", str(tmp_path / "c"))
    assert cache_root() == idx.cache_root() == tmp_path / "c"
    assert jaxsetup.cache_dir() == tmp_path / "c" / "jax"
    assert parser._cache_path() == str(tmp_path / "c" / "grammar-lalr.cache")
    monkeypatch.delenv("DLC_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert jaxsetup.cache_dir() == tmp_path / "xdg" / "dlc" / "jax"


def test_require_spec_names_the_run_in_both_wordings(tmp_path: Path) -> None:
    from dlc.compiler.frontend import load_spec
    from dlc.runtime.runs.folder import RunDir

    text = 'data { csv "x.csv" target=y }\nmodel { dense 1 }\nloss mse\noptimizer sgd lr=0.1\n'
    spec = load_spec(text)
    other = load_spec(text.replace("lr=0.1", "lr=0.2"))
    run = RunDir(tmp_path)
    run.write_spec(spec)
    run.require_spec(spec)
    with pytest.raises(DlcError, match="was trained with a different spec") as e:
        run.require_spec(other)
    assert e.value.diagnostics[0].hint == "pass the same spec and --set values"
    with pytest.raises(DlcError, match=f"the spec changed since run {tmp_path} started"):
        run.require_spec(other, resuming=True)
