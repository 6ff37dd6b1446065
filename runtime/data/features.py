"""The pure feature functions of data preparation (NumPy only): windows of a series, the
normalizer's statistics and their application, missing-value fills, and the target-scale
warning. `prepare.prepare` applies them to the training, validation and test parts; `predict`
applies the saved statistics with `apply_features`.

Example:
    >>> import numpy as np
    >>> x, y = window(np.arange(5.0).reshape(5, 1), np.arange(5.0), 2)
    >>> x.tolist(), y.tolist()
    ([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]], [2.0, 3.0, 4.0])
"""

from __future__ import annotations

import numpy as np

from dlc.compiler.spec import Data, Normalize


def window(x: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row t's features are rows t-size..t-1 of `x` (flattened, oldest first); its target y[t]."""
    n = len(x)
    if n <= size:
        raise ValueError(f"a window of {size} needs more than {size} rows, the data has {n}")
    idx = np.arange(size)[None, :] + np.arange(n - size)[:, None]
    return x[idx].reshape(n - size, -1), y[size:]


def fit_normalizer(x: np.ndarray, norm: Normalize) -> dict[str, np.ndarray]:
    if norm.method == "none":
        return {}
    axes = tuple(range(x.ndim - 1)) if x.ndim > 2 else (0,)
    if norm.method == "standard":
        shift, scale = x.mean(axis=axes), x.std(axis=axes)
    else:
        shift, scale = x.min(axis=axes), x.max(axis=axes) - x.min(axis=axes)
    scale = np.where(scale > 0, scale, 1.0)
    return {"shift": shift.astype(np.float32), "scale": scale.astype(np.float32)}


def apply_features(
    x: np.ndarray, data: Data, stats: dict[str, np.ndarray], *, inplace: bool = False
) -> np.ndarray:
    """The feature transform of the spec (divide, then normalize with saved statistics).
    `inplace`: `x` (float32) is the caller's own copy and may be overwritten (the same
    values, without allocating a second array of the data's size)."""
    if x.dtype.kind in "iu":  # token ids are never scaled
        return x
    x = x.astype(np.float32, copy=False)  # the divide or shift below makes the copy
    if "fill" in stats:  # `missing=zero|mean|median`: the gaps, filled
        x, inplace = np.where(np.isnan(x), stats["fill"], x).astype(np.float32), True
    if data.divide is not None:
        x = np.divide(x, np.float32(data.divide), out=x if inplace else None)
        inplace = True
    if "shift" in stats:
        shift, scale = stats["shift"], stats["scale"]
        if inplace and shift.dtype == scale.dtype == np.float32:
            x = np.divide(np.subtract(x, shift, out=x), scale, out=x)
        else:
            x = (x - shift) / scale
    return x


def float_features(x: np.ndarray, data: Data, stats: dict[str, np.ndarray]) -> np.ndarray:
    """`apply_features` on rows of an `npy` file, read as float32 (as `npz` arrays are)."""
    return apply_features(np.asarray(x, np.float32), data, stats)


def keep_ids(stats: dict[str, np.ndarray], features: list[str], id_columns: list[str]) -> None:
    """`normalize` leaves category-id columns (`categories=index`) as they are: shift 0 and
    scale 1 at their positions (every day's, with a window: features repeat in the row).

    Example:
        >>> st = {"shift": np.array([5.0, 2, 5, 2]), "scale": np.array([2.0, 3, 2, 3])}
        >>> keep_ids(st, ["a", "c"], ["c"])
        >>> st["shift"].tolist(), st["scale"].tolist()
        ([5.0, 0.0, 5.0, 0.0], [2.0, 1.0, 2.0, 1.0])
    """
    if "shift" not in stats or not id_columns or not features:
        return
    cols = [i for i, f in enumerate(features) if f in id_columns]
    width = len(features)
    for key, value in (("shift", 0.0), ("scale", 1.0)):
        arr = stats[key]
        if arr.ndim != 1 or arr.shape[0] % width:
            continue
        arr = arr.copy()
        for d in range(arr.shape[0] // width):
            arr[[d * width + c for c in cols]] = value
        stats[key] = arr.astype(np.float32)


def impute_values(x: np.ndarray, rule: str | None) -> dict[str, np.ndarray]:
    """{"fill": one value per feature column} for a CSV's `missing=zero|mean|median`, from the
    training part's rows (NaN: the gaps); a column with no value at all fills with 0.

    Example:
        >>> impute_values(np.array([[1.0, np.nan], [3.0, np.nan], [np.nan, 2.0]]), "mean")
        {'fill': array([2., 2.], dtype=float32)}
    """
    if rule is None:
        return {}
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    empty = np.isnan(x).all(axis=0)
    if rule == "zero" or len(x) == 0:
        fill = np.zeros(x.shape[1])
    else:
        safe = np.where(empty, 0.0, x)  # an all-NaN column would warn
        fill = np.nanmean(safe, axis=0) if rule == "mean" else np.nanmedian(safe, axis=0)
    return {"fill": fill.astype(np.float32)}


def target_scale_warning(y: np.ndarray, limit: float = 10.0) -> list[str]:
    """A `dlc check` warning when a regression target's training mean or standard deviation
    passes `limit`: an untrained network's outputs are near 0 and of scale about 1, so such a
    target needs many steps at a default learning rate before the loss says anything.

    Example:
        >>> target_scale_warning(np.array([[100.0], [120.0]]))[0][:41]
        'warning: the target has training mean 110'
        >>> target_scale_warning(np.array([[0.5], [-1.0]]))
        []
    """
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0 or not np.isfinite(y).all():
        return []
    mean, std = float(np.abs(y.mean(axis=0)).max()), float(y.std(axis=0).max())
    if max(mean, std) <= limit:
        return []
    return [
        f"warning: the target has training mean {mean:.4g} and standard deviation {std:.4g}; "
        "a new network predicts values near 0, so training at the default learning rate "
        "starts far off: add `normalize_target standard` to the data block"
    ]
