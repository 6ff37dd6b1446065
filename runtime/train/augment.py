"""Image augmentation inside the jitted training step (`data { augment ... }`): pure jnp on a
batch of images [B, H, W, C], its randomness from the key it is given (the engine derives it
from the run's key and the step, so every step, and so every epoch, draws anew, and a seed
repeats it exactly). Evaluation and prediction never call it.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from dlc.compiler.spec import Augment
    >>> x = jnp.ones((2, 4, 4, 1))
    >>> augment_images(x, jax.random.PRNGKey(0), Augment(flip=True)).shape
    (2, 4, 4, 1)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from dlc.compiler.spec import Augment


def augment_images(x: jax.Array, key: jax.Array, aug: Augment) -> jax.Array:
    """`x` [B, H, W, C] with each image cropped from a zero-padded copy (`crop`), mirrored
    left-right with probability 1/2 (`flip`) and shifted in brightness (`brightness`)."""
    b, h, w, c = x.shape
    k_crop, k_flip, k_bright = jax.random.split(key, 3)
    if aug.crop:
        p = aug.crop
        padded = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        offsets = jax.random.randint(k_crop, (b, 2), 0, 2 * p + 1)

        def cut(image: jax.Array, at: jax.Array) -> jax.Array:
            return jax.lax.dynamic_slice(image, (at[0], at[1], 0), (h, w, c))

        x = jax.vmap(cut)(padded, offsets)
    if aug.flip:
        flip = jax.random.bernoulli(k_flip, 0.5, (b,))
        x = jnp.where(flip[:, None, None, None], x[:, :, ::-1, :], x)
    if aug.brightness:
        r = aug.brightness
        x = x + jax.random.uniform(k_bright, (b, 1, 1, 1), x.dtype, -r, r)
    return x


def augment_key(key: jax.Array, step: jax.Array) -> jax.Array:
    """The augmentation key of a step: `fold_in(fold_in(key, 2), step)` (dropout uses 1)."""
    return jax.random.fold_in(jax.random.fold_in(key, 2), step)
