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
from functools import partial
from typing import Any

import numpy as np

from dlc.compiler.errors import Diagnostic, DlcError
from dlc.compiler.frontend import ResolvedSpec
from dlc.compiler.passes import DataFacts
from dlc.compiler.sources import Table
from dlc.compiler.spec import Data
from dlc.runtime.data.arrays import load_npy_streamed
from dlc.runtime.data.budget import memory_budget
from dlc.runtime.data.features import (
    apply_features,
    fit_normalizer,
    float_features,
    impute_values,
    keep_ids,
    target_scale_warning,
    window,
)
from dlc.runtime.data.held import (
    Share,
    check_streamed_finite,
    held_parts,
    row_loader,
    shared_stats,
    streamed_share,
)
from dlc.runtime.data.loaders import load_source
from dlc.runtime.data.named import attach_inputs
from dlc.runtime.data.raw import RawData
from dlc.runtime.data.stream import RowFile, StreamRows, float32_mb, stream_fill, stream_stats


@dataclass
class Prepared:
    # train / valid / test; x a `stream.StreamRows` when the data is streamed from disk
    parts: dict[str, tuple[Any, np.ndarray]]
    input_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    num_classes: int | None
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)
    ids: dict[str, np.ndarray] = field(default_factory=dict)
    vocab: Any = None  # token data: the vocabulary of the training part (`runtime.text.Vocab`)
    notes: list[str] = field(default_factory=list)  # about the data, printed by `dlc check`
    inputs: dict[str, list[str]] = field(default_factory=dict)  # named inputs: their columns
    # `categories=index`: each categorical column's sorted values (value i has id i + 1)
    categories: dict[str, list[str]] = field(default_factory=dict)
    # named inputs: positions in the model's flat input (`runtime/data/named.py`)
    input_index: dict[str, tuple[int, ...]] | None = None

    @property
    def streamed(self) -> bool:
        """The parts are read from disk as training needs them (`stream.StreamRows`)."""
        return isinstance(self.parts["train"][0], StreamRows)

    def summary(self) -> dict[str, int]:
        return {k: len(v[0]) for k, v in self.parts.items()}

    @property
    def vocab_size(self) -> int | None:
        return None if self.vocab is None else len(self.vocab)

    def facts(self) -> DataFacts:
        """What the compiler's passes need to know of the data (`bind_data`)."""
        width = int(np.prod(self.input_shape)) if self.input_index is not None else None
        vocab = self.vocab_size
        if vocab is None and self.categories:  # category ids for `embedding`: 0..K
            vocab = 1 + max(len(t) for t in self.categories.values())
        return DataFacts(vocab, self.input_index, width, self.class_counts())

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


def _split_index(
    raw: RawData, data: Data, task: str, seed: int, n: int, y: np.ndarray
) -> dict[str, np.ndarray]:
    """Row indices of each part cut from `n` rows with targets `y` (see the `split` rule)."""
    from dlc.runtime.data.datasets import ordered_split, shuffled_split, stratified_split

    if "all" in raw.parts:
        fractions = data.split.fractions()
    else:
        valid = data.split.fractions()["valid"]
        fractions = {"train": 1.0 - valid, "valid": valid}
    order = data.split.order or (
        "time"
        if (data.window or raw.ordered)
        else "stratified"
        if task != "regression"
        else "shuffle"
    )
    fractions = {k: v for k, v in fractions.items() if v > 0}
    if order == "time":
        return ordered_split(n, fractions)
    if order == "stratified":
        return stratified_split(np.asarray(y).reshape(len(y), -1)[:, 0], fractions, seed)
    return shuffled_split(n, fractions, seed)


def _split(
    raw: RawData, data: Data, task: str, seed: int
) -> tuple[dict[str, tuple[Any, Any]], dict[str, np.ndarray]]:
    """(parts, each part's indices into parts["all"] (parts made by the split only))."""
    x, y = raw.parts["all"] if "all" in raw.parts else raw.parts["train"]
    base = {k: v for k, v in raw.parts.items() if k not in ("all", "train")}
    idx = _split_index(raw, data, task, seed, len(x), y)
    kept = {k: i for k, i in idx.items() if len(i)}
    return {**{k: (x[i], y[i]) for k, i in kept.items()}, **base}, kept


def _streamed_split(
    resolved: ResolvedSpec, raw: RawData, task: str, seed: int
) -> dict[str, tuple[Any, Any]] | None:
    """The parts as `stream.StreamRows` (rows read from disk on demand, only the divide
    applied so far) when the loader left the inputs on disk (a `stream.RowFile`:
    `arrays.load_npy_streamed`, `tables.load_table_streamed`); None otherwise."""
    if "all" not in raw.parts or not isinstance(raw.parts["all"][0], RowFile):
        return None
    file, y = raw.parts["all"]
    data = resolved.spec.data
    need = int(np.prod(file.shape, dtype=np.int64)) * 4 + y.nbytes  # float32 features
    budget = memory_budget(resolved.spec.train.memory_mb)
    if data.window is not None:
        raise resolved.error(
            f"a window needs the data in memory, but this {data.source.dl_name} source is "
            "streamed from disk "
            f"({need / 2**20:.3g} MB of data, budget {budget / 2**20:.3g} MB)",
            "window",
            "raise `train { memory_mb N }`, or save the windowed rows as the .npy file",
        )
    raw.notes.append(
        f"streamed from disk: the data takes {need / 2**20:.3g} MB, above the budget of "
        f"{budget / 2**20:.3g} MB (train.memory_mb); training reads it in chunks of steps"
    )
    idx = _split_index(raw, data, task, seed, len(file), y)
    divide = partial(float_features, data=data, stats={})
    return {k: (StreamRows(file, i, divide), y[i]) for k, i in idx.items() if len(i)}


def require_in_memory(data: Prepared, resolved: ResolvedSpec, what: str) -> None:
    """A DlcError at `train.memory_mb` when the data is streamed from disk but `what` (a
    command) needs every row in memory at once."""
    if data.streamed:
        x = data.parts["train"][0]
        raise resolved.error(
            f"{what} needs the whole data in memory, but it is streamed from disk "
            f"({float32_mb(x.file):.3g} MB as float32 in {x.file.path.name}, above "
            "train.memory_mb)",
            "train.memory_mb",
            "raise the budget (`train { memory_mb N }` or --set train.memory_mb=N) if the "
            "machine has the memory; `dlc run` and `fit` stream",
        )


def _load(resolved: ResolvedSpec, share: Share | None) -> tuple[RawData, bool]:
    """(the source's raw data, whether each process reads only its rows). An `npy`, `csv`
    or `parquet` source larger than `train.memory_mb` stays on disk, streamed (or, when it
    cannot stream, a located error); with several processes (`share`) a source with random
    row access (`held.row_loader`) stays on disk too, each process reading its rows later."""
    source = resolved.spec.data.source
    raw: RawData | None = None
    if source.dl_name == "npy":
        budget = memory_budget(resolved.spec.train.memory_mb)
        npy: Any = source  # an `Npy` node (its class is imported only for npy specs)
        raw = load_npy_streamed(npy, resolved.base_dir, budget, check=share is None)
    elif isinstance(source, Table):
        from dlc.runtime.data.tables import Unstreamable, load_table_streamed

        budget = memory_budget(resolved.spec.train.memory_mb)
        try:
            raw = load_table_streamed(source, resolved.base_dir, budget)
        except Unstreamable as exc:
            raise resolved.error(exc.message, "source", exc.hint) from None
    if raw is not None:
        return raw, False
    loader = row_loader(source) if share is not None and resolved.spec.data.window is None else None
    raw = loader(source, resolved.base_dir) if loader is not None else None
    if raw is not None:
        return raw, True
    return load_source(source, resolved.base_dir), False


def prepare(resolved: ResolvedSpec, share: Share | None = None) -> Prepared:
    """Load and prepare the spec's data; data errors also point at the source's line. With
    `share` (one of several processes) a source with random row access is read only where
    this process holds rows (`held.py`)."""
    data = resolved.spec.data
    try:
        raw, by_rows = _load(resolved, share)
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
    seed = data.split.seed if data.split.seed is not None else resolved.spec.train.seed
    # before any copy of the rows
    streamed = None if by_rows else _streamed_split(resolved, raw, task, seed)
    if data.window is not None:
        try:
            raw.parts = {k: window(x, y, data.window.size) for k, (x, y) in raw.parts.items()}
        except ValueError as err:
            raise resolved.error(str(err), "window", "use a smaller window") from None
    index: dict[str, np.ndarray] = {}  # parts made by the split alone: their rows of `all`
    if streamed:
        parts = streamed
    elif by_rows and share is not None:  # the split from the row count; only held rows read
        x, y = raw.parts["all"]
        idx = _split_index(raw, data, task, seed, len(x), y)
        held = held_parts(x, {k: i for k, i in idx.items() if len(i)}, share)
        parts = {k: (held[k], y[i]) for k, i in idx.items() if k in held}
    else:
        parts, index = _split(raw, data, task, seed)
    if raw.pixels:  # float32 only now, after the split's gather (fresh arrays, owned here)
        parts = {k: (x.astype(np.float32), y) for k, (x, y) in parts.items()}
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
    tables: dict[str, list[str]] = {}  # `categories=index`: each column's categories
    if raw.categories:  # the category table: the training part's categories only
        from dlc.runtime.data.categories import training_table

        days = data.window.size if data.window is not None else 1
        rows = raw.rows
        if rows is not None and data.window is not None:
            rows = rows[days:]  # a window's row: the row it predicts
        at = {k: rows[i] for k, i in index.items()} if rows is not None else {}
        parts, names, table_notes = training_table(raw, parts, at, days)
        if getattr(data.source, "categories", "onehot") == "index":  # one id column each
            from dlc.runtime.data.category_ids import as_ids

            parts, names, tables = as_ids(parts, names, list(raw.categories), days)
            count = f"features ({len(names)})"  # the loader counted the one-hot columns
            data_notes = [
                count + n[n.index(")") + 1 :] if n.startswith("features (") else n
                for n in data_notes
            ]
            table_notes = [
                f"categorical `{c}`: ids 1..{len(t)} for the training part's categories "
                "(0: another)"
                for c, t in tables.items()
            ]
        raw.feature_names = names
        data_notes += table_notes
    if task == "regression" and data.normalize_target.method == "none":
        data_notes += target_scale_warning(parts["train"][1])
    vocab = raw.vocab
    if raw.encode is not None:  # token lists -> ids, vocabulary from the training part only
        parts, vocab = raw.encode(parts)
    if tables and data.divide is not None:
        raise resolved.error(
            "`divide` would scale the category ids of `categories=index` columns",
            "divide",
            "remove `divide` (use `normalize standard`, which leaves the ids alone)",
        )
    if streamed:  # statistics in one pass over chunks; rows transformed as they are read
        train = parts["train"][0]
        if share is not None:  # several processes: each passes over its rows, sums merged
            if data.source.dl_name == "npy":  # as `load_npy_streamed` checks a single process
                for x, _ in parts.values():
                    check_streamed_finite(x, share)
            train = streamed_share(train, share)
        fill = stream_fill(train, raw.impute, share)
        filled = train.with_transform(partial(float_features, data=data, stats=fill))
        stats = {**fill, **stream_stats(filled, data.normalize.method, share)}
        transform = partial(float_features, data=data, stats=stats)
        parts = {k: (x.with_transform(transform), y) for k, (x, y) in parts.items()}
    elif by_rows and share is not None:  # statistics merged across the processes
        held_x = parts["train"][0]
        stats = shared_stats(
            held_x.map(partial(float_features, data=data, stats={})), data.normalize.method, share
        )
        transform = partial(apply_features, data=data, stats=stats, inplace=True)
        parts = {k: (x.map(transform), y) for k, (x, y) in parts.items()}
    else:
        fill = impute_values(parts["train"][0], raw.impute)
        stats = {**fill}
        if data.normalize.method != "none":  # statistics of the training features as they go in
            stats |= fit_normalizer(apply_features(parts["train"][0], data, fill), data.normalize)
            keep_ids(stats, raw.feature_names, list(tables))
        own = raw.pixels  # the float32 copies made above: transformed in place
        parts = {k: (apply_features(x, data, stats, inplace=own), y) for k, (x, y) in parts.items()}
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
        categories=tables,
    )
    return attach_inputs(resolved, prepared)
