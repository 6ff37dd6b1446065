"""Data preparation (numpy only): load the source, window a series, split, scale, normalize.

Normalization statistics come from the training part only and are kept for `predict`.

Example:
    >>> from dlc.compiler.frontend import load_spec
    >>> r = load_spec('data { fizzbuzz }\\nmodel { dense 4 }\\nloss cross_entropy\\n'
    ...               'optimizer adam\\n')
    >>> d = prepare(r)
    >>> d.input_shape, d.num_classes, len(d.parts["test"][0])
    ((10,), 4, 100)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlc.compiler.errors import Diagnostic, DlcError
from dlc.compiler.frontend import ResolvedSpec
from dlc.compiler.passes import DataFacts
from dlc.compiler.spec import Data, Normalize
from dlc.runtime.data.loaders import load_source
from dlc.runtime.data.named import attach_inputs
from dlc.runtime.data.raw import RawData


@dataclass
class Prepared:
    parts: dict[str, tuple[np.ndarray, np.ndarray]]  # train / valid / test
    input_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    num_classes: int | None
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)
    ids: dict[str, np.ndarray] = field(default_factory=dict)
    vocab: Any = None  # token data: the vocabulary of the training part (`runtime.text.Vocab`)
    notes: list[str] = field(default_factory=list)  # about the data, printed by `dlc check`
    inputs: dict[str, list[str]] = field(default_factory=dict)  # named inputs: their columns
    # named inputs: positions in the model's flat input (`runtime/data/named.py`)
    input_index: dict[str, tuple[int, ...]] | None = None

    def summary(self) -> dict[str, int]:
        return {k: len(v[0]) for k, v in self.parts.items()}

    @property
    def vocab_size(self) -> int | None:
        return None if self.vocab is None else len(self.vocab)

    def facts(self) -> DataFacts:
        """What the compiler's passes need to know of the data (`bind_data`)."""
        width = int(np.prod(self.input_shape)) if self.input_index is not None else None
        return DataFacts(self.vocab_size, self.input_index, width, self.class_counts())

    def class_counts(self) -> tuple[int, ...] | None:
        """Training labels per class (`class_weights=balanced`); None for regression."""
        k = self.num_classes
        if k is None or "train" not in self.parts:
            return None
        y = np.asarray(self.parts["train"][1])
        if y.ndim == 2 and y.shape[1] == k > 1 and y.dtype.kind == "f":  # one-hot rows
            return tuple(round(float(c)) for c in y.sum(axis=0))
        labels = y.reshape(-1)
        labels = np.rint(labels[labels >= 0]).astype(np.int64)
        return tuple(int(c) for c in np.bincount(labels, minlength=k)[:k])


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


def apply_features(x: np.ndarray, data: Data, stats: dict[str, np.ndarray]) -> np.ndarray:
    """The feature transform of the spec (divide, then normalize with saved statistics)."""
    if x.dtype.kind in "iu":  # token ids are never scaled
        return x
    x = x.astype(np.float32, copy=False)  # the divide or shift below makes the copy
    if "fill" in stats:  # `missing=zero|mean|median`: the gaps, filled
        x = np.where(np.isnan(x), stats["fill"], x).astype(np.float32)
    if data.divide is not None:
        x = x / np.float32(data.divide)
    if "shift" in stats:
        x = (x - stats["shift"]) / stats["scale"]
    return x


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


def _split(
    raw: RawData, data: Data, task: str, seed: int
) -> tuple[dict[str, tuple[Any, Any]], dict[str, np.ndarray]]:
    """(parts, each part's indices into parts["all"] (parts made by the split only))."""
    from dlc.runtime.data.datasets import ordered_split, shuffled_split, stratified_split

    if "all" in raw.parts:
        x, y = raw.parts["all"]
        fractions = data.split.fractions()
        base: dict[str, tuple[Any, Any]] = {}
    else:
        x, y = raw.parts["train"]
        valid = data.split.fractions()["valid"]
        fractions = {"train": 1.0 - valid, "valid": valid}
        base = {k: v for k, v in raw.parts.items() if k != "train"}
    order = data.split.order or (
        "time"
        if (data.window or raw.ordered)
        else "stratified"
        if task != "regression"
        else "shuffle"
    )
    fractions = {k: v for k, v in fractions.items() if v > 0}
    if order == "time":
        idx = ordered_split(len(x), fractions)
    elif order == "stratified":
        idx = stratified_split(np.asarray(y).reshape(len(y), -1)[:, 0], fractions, seed)
    else:
        idx = shuffled_split(len(x), fractions, seed)
    kept = {k: i for k, i in idx.items() if len(i)}
    return {**{k: (x[i], y[i]) for k, i in kept.items()}, **base}, kept


def prepare(resolved: ResolvedSpec) -> Prepared:
    """Load and prepare the spec's data; data errors also point at the source's line."""
    data = resolved.spec.data
    try:
        raw = load_source(data.source, resolved.base_dir)
    except DlcError as err:
        span = resolved.spans.get("source")
        notes = (("the data source is declared here", span),) if span else ()
        diags = [
            Diagnostic(d.message, d.span, d.hint, d.notes + notes, d.where) for d in err.diagnostics
        ]
        raise DlcError(diags, {**resolved.sources, **err.sources}) from None
    for name, (x, _) in raw.parts.items():
        if len(x) == 0:
            part = "" if name == "all" else f" (the {name} part)"
            raise resolved.error(
                f"the data source has no rows{part}",
                "source",
                "check that the file holds data in the expected format",
            )
    task = resolved.spec.loss.task
    if task != "regression" and raw.num_classes is None:
        raise resolved.error(
            f"loss `{resolved.spec.loss.dl_name}` needs class labels but the "
            "data source gives numeric targets",
            "loss",
            "for a CSV, add classes=true to the `csv` line, or use `loss mse`",
        )
    if task == "regression" and raw.num_classes is not None:
        raise resolved.error(
            f"loss `{resolved.spec.loss.dl_name}` is for numeric targets but the "
            f"data has {raw.num_classes} classes",
            "loss",
            "use `loss cross_entropy`",
        )
    if data.window is not None:
        try:
            raw.parts = {k: window(x, y, data.window.size) for k, (x, y) in raw.parts.items()}
        except ValueError as err:
            raise resolved.error(str(err), "window", "use a smaller window") from None
    seed = data.split.seed if data.split.seed is not None else resolved.spec.train.seed
    parts, index = _split(raw, data, task, seed)
    if "train" not in parts:
        raise resolved.error("the split leaves no training rows", "split")
    if resolved.spec.train.early_stop is not None and "valid" not in parts:
        key = "early_stop" if "early_stop" in resolved.spans else "split"
        raise resolved.error(
            "early_stop needs a validation part, but the split leaves none",
            key,
            "add valid=F to the `split` line (e.g. split valid=0.1), or remove early_stop",
        )
    data_notes = list(raw.notes)
    if raw.categories:  # the category table: the training part's categories only
        from dlc.runtime.data.categories import training_table

        days = data.window.size if data.window is not None else 1
        rows = raw.rows
        if rows is not None and data.window is not None:
            rows = rows[days:]  # a window's row: the row it predicts
        at = {k: rows[i] for k, i in index.items()} if rows is not None else {}
        parts, names, table_notes = training_table(raw, parts, at, days)
        raw.feature_names = names
        data_notes += table_notes
    if task == "regression" and data.normalize_target.method == "none":
        data_notes += target_scale_warning(parts["train"][1])
    vocab = raw.vocab
    if raw.encode is not None:  # token lists -> ids, vocabulary from the training part only
        parts, vocab = raw.encode(parts)
    fill = impute_values(parts["train"][0], raw.impute)
    stats = {**fill}
    if data.normalize.method != "none":  # statistics of the training features as they go in
        stats |= fit_normalizer(apply_features(parts["train"][0], data, fill), data.normalize)
    parts = {k: (apply_features(x, data, stats), y) for k, (x, y) in parts.items()}
    if data.normalize_target.method != "none":
        if task != "regression":
            raise resolved.error(
                "normalize_target is for numeric (regression) targets, not class labels",
                "normalize_target",
                "remove the normalize_target line",
            )
        y_stats = fit_normalizer(np.asarray(parts["train"][1], np.float64), data.normalize_target)
        stats = {**stats, "target_shift": y_stats["shift"], "target_scale": y_stats["scale"]}
    x_train, y_train = parts["train"]
    if data.augment is not None and x_train.ndim != 4:
        raise resolved.error(
            f"augment is for images of shape (height, width, channels); the inputs have "
            f"shape {tuple(x_train.shape[1:])}",
            "augment",
            "use an `images` source (or `npz` arrays of shape (N, H, W, C)), or remove augment",
        )
    prepared = Prepared(
        parts,
        tuple(x_train.shape[1:]),
        tuple(y_train.shape[1:]),
        raw.num_classes,
        stats,
        raw.feature_names,
        raw.ids,
        vocab,
        data_notes,
    )
    return attach_inputs(resolved, prepared)
