"""The statistics `normalize standard|minmax` needs (count, mean, sum of squared deviations,
minimum, maximum per feature) gathered over chunks of rows and merged by Chan et al.'s rule:
chunks read from disk one after another (`stream.stream_stats`) or the rows each of several
processes holds (`held.shared_stats`). Float64 throughout; the statistics equal
`features.fit_normalizer`'s on all rows at once to float32 rounding.

Example:
    >>> a = np.arange(12.0).reshape(6, 2)
    >>> m = Moments.of(a[:2]).merge(Moments.of(a[2:]))
    >>> m.stats("standard")["shift"].tolist(), m.stats("minmax")["scale"].tolist()
    ([5.0, 6.0], [10.0, 10.0])
    >>> Moments.unpack(m.pack(), (2,)).count
    6
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


def feature_rows(block: np.ndarray) -> np.ndarray:
    """`block` (rows first) as float64 rows of the values one statistic covers: each row's
    features, or each position's channels for rank 3+ (images: one statistic per channel),
    as `fit_normalizer` reduces them."""
    a = np.asarray(block, np.float64)
    return a.reshape(-1, a.shape[-1]) if a.ndim > 2 else a.reshape(len(a), -1)


def feature_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The statistics' shape for rows of `shape` (rows first)."""
    return tuple(shape[1:]) if len(shape) <= 2 else tuple(shape[-1:])


@dataclass(frozen=True)
class Moments:
    """Count, mean, sum of squared deviations (`m2`), minimum and maximum of each feature."""

    count: int
    mean: np.ndarray
    m2: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    shape: tuple[int, ...]  # the statistics' shape (`feature_shape`)

    @classmethod
    def of(cls, block: np.ndarray, shape: tuple[int, ...] | None = None) -> Moments:
        """The moments of the rows of `block` (its statistics' shape from `block` itself
        unless given: an empty block has no rows to tell)."""
        shape = feature_shape(np.shape(block)) if shape is None else shape
        if len(block) == 0:
            w = int(np.prod(shape, dtype=np.int64))
            z = np.zeros(w)
            return cls(0, z, z, np.full(w, np.inf), np.full(w, -np.inf), shape)
        a = feature_rows(block)
        mean = a.mean(axis=0)
        m2 = ((a - mean) ** 2).sum(axis=0)
        return cls(len(a), mean, m2, a.min(axis=0), a.max(axis=0), shape)

    @classmethod
    def of_blocks(cls, blocks: Iterable[np.ndarray], shape: tuple[int, ...]) -> Moments:
        """The moments of all rows of `blocks`, merged in order."""
        total = cls.of(np.zeros((0, *shape)), shape)
        for block in blocks:
            total = total.merge(cls.of(block, shape))
        return total

    def merge(self, other: Moments) -> Moments:
        """The moments of both sets of rows (Chan et al.: exact up to float rounding)."""
        n_b = other.count
        total = self.count + n_b
        if n_b == 0:
            return self
        delta = other.mean - self.mean
        mean = self.mean + delta * (n_b / total)
        m2 = self.m2 + other.m2 + delta**2 * (self.count * n_b / total)
        lo, hi = np.minimum(self.lo, other.lo), np.maximum(self.hi, other.hi)
        return Moments(total, mean, m2, lo, hi, self.shape)

    def pack(self) -> np.ndarray:
        """One float64 vector (count, mean, m2, lo, hi): what processes exchange."""
        return np.concatenate([[float(self.count)], self.mean, self.m2, self.lo, self.hi])

    @classmethod
    def unpack(cls, vector: np.ndarray, shape: tuple[int, ...]) -> Moments:
        w = int(np.prod(shape, dtype=np.int64))
        v = np.asarray(vector, np.float64)
        mean, m2, lo, hi = (v[1 + i * w : 1 + (i + 1) * w] for i in range(4))
        return cls(round(float(v[0])), mean, m2, lo, hi, shape)

    def stats(self, method: str) -> dict[str, np.ndarray]:
        """{"shift", "scale"} (float32) for `method` (`standard` or `minmax`; {} for `none`);
        a feature that never varies gets scale 1."""
        if method == "none":
            return {}
        if method == "minmax":
            shift, scale = self.lo, self.hi - self.lo
        else:
            shift, scale = self.mean, np.sqrt(self.m2 / max(self.count, 1))
        shift, scale = shift.reshape(self.shape), scale.reshape(self.shape)
        scale = np.where(scale > 0, scale, 1.0)
        return {"shift": shift.astype(np.float32), "scale": scale.astype(np.float32)}
