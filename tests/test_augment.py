"""Image augmentation in the jitted training step (issue 12): each transform exactly, drawn
from the step's key (deterministic per seed, different per step and so per epoch), off at
evaluation, old spec hashes unchanged, and a spec using it trains."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.explain import canonical_json
from dlc.compiler.frontend import load_spec
from dlc.compiler.spec import Augment
from dlc.runtime.train import engine
from dlc.runtime.train.augment import augment_images, augment_key
from dlc.runtime.train.model import CompiledModel

SPECS = Path(__file__).resolve().parent.parent / "specs"
KEY = jax.random.PRNGKey(0)


def _images(b: int = 6, h: int = 5, w: int = 7, c: int = 2) -> jax.Array:
    return jnp.asarray(np.random.default_rng(0).normal(size=(b, h, w, c)), jnp.float32)


def test_a_flip_of_a_symmetric_image_is_the_same():
    x = _images()
    symmetric = (x + x[:, :, ::-1, :]) / 2
    out = augment_images(symmetric, KEY, Augment(flip=True))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(symmetric))
    flipped = np.asarray(augment_images(x, KEY, Augment(flip=True)))
    for a, b in zip(np.asarray(x), flipped, strict=True):  # each image as it was, or mirrored
        assert np.array_equal(a, b) or np.array_equal(a[:, ::-1], b)


def test_crop_is_a_window_of_the_zero_padded_image():
    x = np.asarray(_images())
    out = np.asarray(augment_images(jnp.asarray(x), KEY, Augment(crop=2)))
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    offsets = set()
    for i in range(len(x)):
        found = [
            (r, c)
            for r in range(5)
            for c in range(5)
            if np.array_equal(padded[i, r : r + 5, c : c + 7], out[i])
        ]
        assert found, f"image {i} is not a window of its padded copy"
        offsets.add(found[0])
    assert len(offsets) > 1  # the offsets are drawn per image


def test_brightness_adds_one_value_per_image_within_the_bound():
    x = _images()
    out = augment_images(x, KEY, Augment(brightness=0.2))
    d = np.asarray(out - x).reshape(len(x), -1)
    np.testing.assert_allclose(d, d[:, :1] * np.ones_like(d), atol=1e-6)
    assert np.abs(d).max() <= 0.2 and len(set(np.round(d[:, 0], 6))) == len(x)


def test_deterministic_per_key_and_different_per_step():
    x, aug = _images(), Augment(crop=1, flip=True, brightness=0.1)
    a = augment_images(x, augment_key(KEY, jnp.int32(3)), aug)
    b = augment_images(x, augment_key(KEY, jnp.int32(3)), aug)
    c = augment_images(x, augment_key(KEY, jnp.int32(4)), aug)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


SPEC = """
data {{
  images "{folder}"
  divide 240
  {augment}
  split valid=0.2 test=0.2
}}
model {{ flatten; dense 10 }}
loss cross_entropy
optimizer adam lr=3e-3
train {{ batch 16; epochs {epochs}; seed {seed}; shuffle false }}
"""


def _model(augment: str, epochs: int = 1, seed: int = 0) -> CompiledModel:
    text = SPEC.format(
        folder=SPECS / "data" / "digits" / "digits_png", augment=augment, epochs=epochs, seed=seed
    )
    return CompiledModel(load_spec(text), _prepared(text))


def _prepared(text: str):  # type: ignore[no-untyped-def]
    from dlc.runtime.data.prepare import prepare

    return prepare(load_spec(text))


@pytest.mark.slow
def test_training_draws_per_step_repeats_per_seed_and_evaluation_is_off(monkeypatch):
    aug = "augment crop=1 flip=true brightness=0.1"
    drawn: list[int] = []
    real = engine.augment_images

    seen: list[float] = []  # a checksum of every augmented batch, in step order

    def counting(x, key, a):  # type: ignore[no-untyped-def]
        drawn.append(1)  # counted when traced: the step is traced once per program
        out = real(x, key, a)
        jax.debug.callback(lambda v: seen.append(float(v)), jnp.sum(out * out), ordered=True)
        return out

    monkeypatch.setattr(engine, "augment_images", counting)
    m1, m2, m3 = _model(aug, epochs=2), _model(aug, epochs=2), _model(aug, seed=1)
    sums = []
    for m in (m1, m2, m3):
        seen.clear()
        m.fit()
        jax.effects_barrier()
        sums.append(list(seen))
    assert drawn, "the training step never called the augmentation"
    steps = m1.functions(len(m1.data.parts["train"][0])).steps_per_epoch
    assert len(sums[0]) == 2 * steps and sums[0] == sums[1]  # same seed: the same draws
    # no shuffling here, so the batches are the same rows each epoch: only the draws differ
    assert all(a != b for a, b in zip(sums[0][:steps], sums[0][steps:], strict=True))
    leaves = [jax.tree.leaves(m.state.params) for m in (m1, m2, m3)]
    for a, b in zip(leaves[0], leaves[1], strict=True):  # same seed: the same run, exactly
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert any(
        not np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(leaves[0], leaves[2], strict=True)
    )
    # evaluation never augments: the same parameters evaluate alike without `augment`
    monkeypatch.setattr(engine, "augment_images", None)  # would fail if evaluation called it
    plain = _model("")
    plain.fit()
    assert any(  # and augmented training differs from plain training
        not np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(leaves[0], jax.tree.leaves(plain.state.params), strict=True)
    )
    plain.state = m1.state
    got, want = m1.evaluate(), plain.evaluate()
    assert got.keys() == want.keys()
    for k in got:
        assert got[k] == pytest.approx(want[k], rel=1e-6, abs=1e-7), k
    x = m1.data.parts["test"][0][:4]
    np.testing.assert_array_equal(m1.predict(x), m1.predict(x))


def test_augment_keeps_old_spec_hashes_and_refuses_non_images():
    plain = load_spec(SPECS / "images_digits.dl")
    with_aug = load_spec(SPECS / "images_digits.dl", overrides=["data.augment.flip=true"])
    assert plain.spec.data.augment is None and with_aug.spec.data.augment == Augment(flip=True)
    assert plain.hash() != with_aug.hash()
    assert '"augment"' not in canonical_json(plain.spec)  # old specs keep their hashes
    with pytest.raises(DlcError, match="augment needs crop=P"):
        load_spec(
            "data {\n digits\n augment\n}\nmodel { dense 10 }\nloss cross_entropy\noptimizer sgd\n"
        )
    from dlc.runtime.data.prepare import prepare

    text = (
        "data {\n digits\n augment flip=true\n}\nmodel { dense 10 }\n"
        "loss cross_entropy\noptimizer sgd\n"
    )
    with pytest.raises(DlcError) as err:
        prepare(load_spec(text))
    d = err.value.diagnostics[0]
    assert "images of shape (height, width, channels)" in d.message and d.span.line == 3


@pytest.mark.slow
def test_images_augment_spec_trains():
    m = CompiledModel.from_source(SPECS / "images_augment.dl")
    m.fit()
    scores = m.evaluate()
    assert scores["valid_accuracy"] >= 0.8 and scores["test_accuracy"] >= 0.8, scores
