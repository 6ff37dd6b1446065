"""Raw inputs of a trained model, read as the spec's data source reads them, then preprocessed
with the run's statistics: CSV rows (or a table of raw columns), a series cut into windows
(each prediction aligned to the row it predicts), image / digit arrays (.npy, .npz, IDX, CSV of
numbers), fizzbuzz numbers, sentences (one per line), seq2seq source strings.

Example:
    >>> got = read_inputs(model, "specs/data/seattle-weather.csv", labelled=True)  # doctest: +SKIP
    >>> got.x.shape, got.rows[:2]                                                   # doctest: +SKIP
    ((1454, 28), [8, 9])
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.sources import Csv, FizzBuzz, Images, Npz, Table
from dlc.compiler.text_sources import Conllu, Seq2Seq, Text
from dlc.runtime.data.columns import name_of
from dlc.runtime.data.features import apply_features
from dlc.runtime.data.loaders import category_ids, category_name


@dataclass
class Inputs:
    x: np.ndarray  # preprocessed, [N, *input_shape]
    y: np.ndarray | None = None  # labels (labelled inputs only)
    ids: list[str] | None = None  # the id column, one per prediction
    rows: list[int] | None = None  # windowed series: the data row (1-based) each one predicts
    texts: list[str] | None = None  # token data: the input lines
    decoded: list[str] | None = None  # seq2seq: the greedy outputs
    targets: list[str] | None = None  # seq2seq, labelled: the expected outputs
    pieces: list[tuple[int, list[str]]] | None = None  # tagging: (line, words) per row of x


def _table(
    inputs: Any, delimiter: str, missing: bool = False
) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """(columns, the same columns as text) of a CSV or Parquet (`.parquet`, `.pq`) path or a
    mapping of raw columns."""
    if isinstance(inputs, Mapping):
        cols = {str(k): np.asarray(v) for k, v in inputs.items()}
        return cols, {k: [str(v) for v in c.tolist()] for k, c in cols.items()}
    from dlc.runtime.data.columns import unique_header
    from dlc.runtime.data.datasets import read_csv

    path = Path(inputs)
    if not path.is_file():
        raise DlcError.single(f"input file {path} does not exist", where=str(path))
    if path.suffix.lower() in (".parquet", ".pq"):
        from dlc.runtime.data.parquet import read_parquet

        _, cols = read_parquet(path, missing=missing)
        return cols, {k: [category_name(v) for v in c.tolist()] for k, c in cols.items()}
    _, cols = read_csv(path, delimiter=delimiter, missing=missing)
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = [[v.strip() for v in row] for row in csv.reader(f, delimiter=delimiter) if row]
    header = unique_header(rows[0])  # repeated names: `cli`, `cli.1`, ... as in read_csv
    text = {name: [r[i] if i < len(r) else "" for r in rows[1:]] for i, name in enumerate(header)}
    return cols, text


def _need(cols: Mapping[str, Any], names: list[str], where: str, what: str) -> None:
    missing = [c for c in names if c not in cols]
    if missing:
        raise DlcError.single(
            f"{where} lacks {what} column(s) {', '.join(missing)}",
            where=where,
            hint=f"the model needs: {', '.join(names)}",
        )


def _labels(model: Any, values: np.ndarray, where: str) -> np.ndarray:
    """Target values -> class indices (by name), or float targets for regression."""
    if model.class_names is None:
        try:
            return values.astype(np.float32).reshape(len(values), -1)
        except ValueError:
            raise DlcError.single(
                f"{where}: the target column is not numeric", where=where
            ) from None
    from dlc.runtime.data.classes import number_name

    index = {n: i for i, n in enumerate(model.class_names)}
    names = [number_name(v) for v in values.tolist()]
    unknown = sorted(set(names) - set(index))
    if unknown:
        raise DlcError.single(
            f"{where}: labels {unknown[:5]} are not classes of the model",
            where=where,
            hint=f"the classes are: {', '.join(model.class_names)}",
        )
    return np.array([index[n] for n in names], np.int32)


def _rows_table(inputs: Any, names: list[str]) -> dict[str, np.ndarray]:
    """An array of rows of feature values (in the spec's feature order) as a table."""
    try:
        arr = np.asarray(inputs, np.float64)
    except (ValueError, TypeError):
        arr = np.zeros(0)
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise DlcError.single(
            f"the input rows have shape {tuple(arr.shape)}; each row must hold the "
            f"{len(names)} feature values {', '.join(names)}",
            where="the input array",
            hint="or pass a table: column name -> values",
        )
    return {n: arr[:, i] for i, n in enumerate(names)}


def named_table(inputs: Mapping[str, Any], groups: Mapping[str, list[str]]) -> dict[str, Any]:
    """A table whose entries may be named inputs (`{"temps": rows of (temp_max, temp_min)}`)
    as a table of columns: each named input's array [N, k] split into its k columns.

    Example:
        >>> named_table({"t": [[1, 2], [3, 4]], "w": [5, 6]}, {"t": ["a", "b"]})["b"].tolist()
        [2, 4]
    """
    out: dict[str, Any] = {}
    for key, value in inputs.items():
        if key not in groups or key in groups[key]:
            out[key] = value
            continue
        cols = groups[key]
        arr = np.asarray(value)
        arr = arr.reshape(len(arr), -1) if arr.ndim else arr
        if arr.ndim != 2 or arr.shape[1] != len(cols):
            raise DlcError.single(
                f"the named input `{key}` has shape {tuple(arr.shape)}; it needs one row of "
                f"{len(cols)} values ({', '.join(cols)}) per example",
                where="the input table",
                hint="pass each named input as an array [N, columns], or the columns by name",
            )
        out.update({c: arr[:, j] for j, c in enumerate(cols)})
    return out


def _one_hot(
    cols: dict[str, np.ndarray], names: list[str], source: Table, where: str, first_row: int
) -> None:
    """`categorical` columns into `cols`: `column=value` is 1 where the cell is value, by the
    run's category table (its feature names); another category follows `unseen=`."""
    table: dict[str, list[str]] = {}
    for name in names:
        col, _, value = name.partition("=")
        if name not in cols and value and col in cols:
            table.setdefault(col, []).append(value)
    for col, values in table.items():
        cells = np.array([category_name(v) for v in cols[col].tolist()], dtype=str)
        for value in values:
            cols[f"{col}={value}"] = (cells == value).astype(np.float64)
        other = np.flatnonzero(~np.isin(cells, values))
        if len(other) and source.unseen == "error":
            i = int(other[0])
            raise _unseen(
                cells[i],
                col,
                values,
                f"{where}:row {i + first_row}",
                "row's one-hot columns are all 0",
            )


def _category_ids(
    cols: dict[str, np.ndarray],
    names: list[str],
    tables: Mapping[str, list[str]],
    source: Table,
    where: str,
    first_row: int,
) -> None:
    """`categories=index` columns into `cols`: each cell's id by the run's category table
    (1 + its place; another category follows `unseen=`: an error, or `zero`: id 0)."""
    for name in names:
        if name not in tables or name not in cols:
            continue
        ids = category_ids(cols[name], tables[name])
        other = np.flatnonzero(ids == 0)
        if len(other) and source.unseen == "error":
            i = int(other[0])
            cell = category_name(cols[name][i])
            raise _unseen(cell, name, tables[name], f"{where}:row {i + first_row}", "row gets id 0")
        cols[name] = ids


def _unseen(cell: str, col: str, table: list[str], where: str, what: str) -> DlcError:
    """A category outside the run's table under `unseen=error`; `what`: what unseen=zero does."""
    return DlcError.single(
        f"category `{cell}` of column `{col}` is not in the run's category table "
        f"(the training part's: {', '.join(table)})",
        where=where,
        hint=f"with unseen=zero on the source line such a {what}",
    )


def _csv_inputs(model: Any, source: Table, inputs: Any, labelled: bool) -> Inputs:
    names = list(model.data.feature_names)
    if isinstance(inputs, Mapping) and model.data.inputs:
        inputs = named_table(inputs, model.data.inputs)
    if not isinstance(inputs, Mapping | str | Path):
        inputs = _rows_table(inputs, names)
    where = str(inputs) if not isinstance(inputs, Mapping) else "the input table"
    delimiter = source.delimiter if isinstance(source, Csv) else ","
    cols, text = _table(inputs, delimiter, source.missing != "error")
    first = 2 if isinstance(inputs, str | Path) else 1  # a file's header is its row 1
    _one_hot(cols, names, source, where, first_row=first)
    _category_ids(cols, names, getattr(model.data, "categories", {}), source, where, first)
    _need(cols, names, where, "feature")
    target = name_of(source.target, list(cols))  # a position: in the input file's header
    ident = name_of(source.id, list(cols)) if source.id is not None else None
    if labelled:
        _need(cols, [target], where, "target")
    n = len(cols[names[0]]) if names else len(cols.get(target, []))
    try:
        x = np.stack([cols[c] for c in names], axis=1) if names else np.zeros((n, 0))
        x = x.astype(np.float32)
    except ValueError:
        raise DlcError.single(f"{where}: a feature column is not numeric", where=where) from None
    y = _labels(model, cols[target], where) if labelled else None
    ids = text.get(ident) if ident else None
    window = model.spec.data.window
    rows: list[int] | None = None
    if window is not None:
        size = window.size
        if n < size:
            raise DlcError.single(
                f"{where} has {n} rows; a window needs {size}",
                where=where,
                hint=f"pass at least {size} consecutive rows of the series",
            )
        ends = range(size, n + (0 if labelled else 1))  # the row each window predicts
        x = np.stack([x[t - size : t].reshape(-1) for t in ends]) if len(ends) else x[:0]
        rows = [t + 1 for t in ends]  # 1-based data rows; n + 1: the row after the series
        y = y[size:] if y is not None else None
        if ids is not None:
            ids = [ids[t] if t < n else "" for t in ends]
    x = apply_features(x, model.spec.data, model.stats)
    return Inputs(x, y, ids, rows)


def _read_pngs(paths: list[Path]) -> np.ndarray:
    """Grayscale PNGs as pixels 0..255 (like IDX images): [N, H, W]."""
    from matplotlib.image import imread

    images = []
    for p in paths:
        try:
            a = np.asarray(imread(p), np.float32)
        except (OSError, ValueError, SyntaxError) as exc:
            raise DlcError.single(f"{p} is not a readable PNG image: {exc}", where=str(p)) from None
        a = a * 255 if a.max(initial=0) <= 1 else a  # matplotlib reads 8-bit PNGs as 0..1
        if a.ndim == 3:  # RGB(A) -> luminance
            a = a[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
        images.append(a)
    if len({im.shape for im in images}) > 1:
        raise DlcError.single(
            f"the images have different sizes: {sorted({im.shape for im in images})}",
            where=str(paths[0].parent),
        )
    return np.stack(images)


def _arrays(
    inputs: Any, labelled: bool, keys: tuple[str, str] = ("x", "y")
) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """(x, y, ids) of array-like raw inputs: .npy, .npz (`keys`, else x, y), IDX files or
    folder, CSV, PNG images (a file or a folder of them; the file names are the ids)."""
    if not isinstance(inputs, str | Path):
        return np.asarray(inputs), None, None
    path = Path(inputs)
    name = path.name
    pngs = sorted(path.glob("*.png")) if path.is_dir() else [path] * name.endswith(".png")
    if pngs:
        return _read_pngs(pngs), None, [p.name for p in pngs]
    if path.is_dir():
        from dlc.runtime.data.idx import load_idx_folder

        parts = load_idx_folder(path)
        x, y = parts["test"] if "test" in parts else parts["train"]
        return x, y, None
    if not path.is_file():
        raise DlcError.single(f"input file {path} does not exist", where=str(path))
    if name.endswith(".npy"):
        return np.load(path, allow_pickle=False), None, None
    if name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            kx, ky = keys
            x = z[kx] if kx in z else z["x"] if "x" in z else z[z.files[0]]
            labels: np.ndarray | None = z[ky] if ky in z else z.get("y")
        return x, labels, None
    if name.endswith(".txt"):  # numbers, one row per line (e.g. fizzbuzz's numbers)
        try:
            return np.loadtxt(path, ndmin=1), None, None
        except ValueError as exc:
            raise DlcError.single(
                f"{path}: not a table of numbers: {exc}", where=str(path)
            ) from None
    if "idx" in name and "ubyte" in name:
        from dlc.runtime.data.idx import read_idx

        return read_idx(path), None, None
    from dlc.runtime.data.datasets import read_csv

    _, cols = read_csv(path)
    ids = [str(v) for v in cols.pop("id").tolist()] if "id" in cols else None
    labels = cols.pop("label") if "label" in cols else None
    x = np.stack(list(cols.values()), axis=1) if cols else np.zeros((0, 0))
    return x, labels, ids


def _image_inputs(model: Any, source: Images, inputs: Any, labelled: bool) -> Inputs:
    """Image files read as the `images` source read them in training (size, colour mode)."""
    from dlc.runtime.data.images import read_image_inputs

    where = str(inputs)
    x, names, ids = read_image_inputs(Path(inputs), source, tuple(model.data.input_shape))
    y = None
    if labelled:
        hint = "give a folder with one sub-folder of images per class, as in training"
        y = _required_labels(model, None if names is None else np.array(names), where, hint)
    return Inputs(apply_features(x, model.spec.data, model.stats), y, ids)


def _array_inputs(model: Any, inputs: Any, labelled: bool) -> Inputs:
    where = str(inputs) if isinstance(inputs, str | Path) else "the input array"
    source = model.source
    if isinstance(source, Images) and isinstance(inputs, str | Path):
        suffix = Path(inputs).suffix.lower()
        if Path(inputs).is_dir() or suffix in (".png", ".jpg", ".jpeg"):
            return _image_inputs(model, source, inputs, labelled)
    keys = (source.x, source.y) if isinstance(source, Npz) else ("x", "y")
    x, y, ids = _arrays(inputs, labelled, keys)
    if isinstance(source, FizzBuzz):  # raw inputs are the numbers themselves
        n = np.asarray(x, np.int64).reshape(-1)
        x = ((n[:, None] >> np.arange(source.bits)) & 1).astype(np.float32)
    shape = tuple(model.data.input_shape)
    try:
        x = np.asarray(x, np.float32)
    except (ValueError, TypeError):
        raise DlcError.single(f"{where}: the inputs are not numbers", where=where) from None
    per_row = int(np.prod(shape))
    if x.ndim >= 2 and int(np.prod(x.shape[1:])) == per_row:
        x = x.reshape(len(x), *shape)  # e.g. IDX images [N, 8, 8] for rows of 64 pixels
    elif x.ndim == 1 and x.size == per_row:
        x = x.reshape(1, *shape)  # one input
    else:
        raise DlcError.single(
            f"{where}: inputs of shape {tuple(x.shape)} cannot be rows of shape {shape}",
            where=where,
            hint=f"give one row of {per_row} values per input",
        )
    if labelled:
        hint = "pass a .npz with `x` and `y`, an IDX folder, or a CSV with a `label` column"
        y = _required_labels(model, None if y is None else np.asarray(y), where, hint)
    return Inputs(apply_features(x, model.spec.data, model.stats), y, ids)


def _required_labels(model: Any, y: np.ndarray | None, where: str, hint: str) -> np.ndarray:
    """The targets of labelled inputs (`dlc evaluate`), read by `_labels`; none: an error."""
    if y is None:
        raise DlcError.single(f"{where} has no labels", where=where, hint=hint)
    return _labels(model, y, where)


def _lines(inputs: Any) -> list[str]:
    if (isinstance(inputs, str | Path) and not isinstance(inputs, str)) or (
        isinstance(inputs, str) and "\n" not in inputs and Path(inputs).is_file()
    ):
        return [
            ln.strip() for ln in Path(inputs).read_text(encoding="utf-8").split("\n") if ln.strip()
        ]
    if isinstance(inputs, str):
        if "\n" in inputs:
            return [ln.strip() for ln in inputs.split("\n") if ln.strip()]
        raise DlcError.single(f"input file {inputs} does not exist", where=inputs)
    return [str(s) for s in inputs]


def _pairs(model: Any, lines: list[str], where: str) -> Inputs:
    from dlc.runtime.data.seqtasks import encode_pairs

    pairs = [ln.split("\t") if "\t" in ln else ln.split() for ln in lines]
    bad = [i + 1 for i, p in enumerate(pairs) if len(p) != 2]
    if bad:
        raise DlcError.single(
            f"{where}: line(s) {bad[:5]} are not `source<TAB>target`",
            where=where,
            hint="one pair per line: the source string, a tab, the expected output",
        )
    length = model.data.input_shape[-1]
    long = [i + 1 for i, (s, t) in enumerate(pairs) if len(s) > length or len(t) + 1 > length]
    if long:
        raise DlcError.single(
            f"{where}: line(s) {long[:5]} are longer than the model's {length} positions",
            where=where,
        )
    sources, targets = [p[0] for p in pairs], [p[1] for p in pairs]
    x, y = encode_pairs(model.vocab, sources, targets, length)
    return Inputs(x, y, texts=sources, targets=targets)


def _token_inputs(model: Any, inputs: Any, labelled: bool) -> Inputs:
    from dlc.runtime.data.tokens import _objects, _read_text, split_line, token_features, token_ids

    source = model.source
    if isinstance(source, Seq2Seq):
        if labelled:  # `source<TAB>target` per line: teacher-forced loss and metrics
            return _pairs(model, _lines(inputs), str(inputs))
        from dlc.runtime.predict.sequences import decode_with

        lines = _lines(inputs)
        program = model.model.program(model.n_train)
        st = model.model.state
        out = decode_with(
            program, st.params, st.model_state, model.vocab, model.data.input_shape[-1], lines
        )
        return Inputs(np.zeros((len(lines), 0)), texts=lines, decoded=out)
    if isinstance(source, Conllu):
        from dlc.runtime.data.text import chunks

        if labelled:
            from dlc.runtime.data.tokens import _read_conllu

            words, y = _read_conllu(source, [Path(inputs)])
            x = token_ids(source, token_features(source, words), model.vocab)
            return Inputs(x, y)
        lines = _lines(inputs)
        toks = [split_line(source, ln) for ln in lines]
        pieces = [(i, c) for i, t in enumerate(toks) for c in chunks(t, source.length)]
        x = token_ids(source, token_features(source, _objects([c for _, c in pieces])), model.vocab)
        return Inputs(x, texts=lines, pieces=pieces)
    assert isinstance(source, Text)
    if labelled:
        tokens, labels = _read_text(source, [Path(inputs)])
        x = token_ids(source, token_features(source, tokens), model.vocab)
        return Inputs(x, _labels(model, np.asarray(labels), str(inputs)))
    lines = _lines(inputs)
    x = token_ids(
        source, token_features(source, [split_line(source, ln) for ln in lines]), model.vocab
    )
    return Inputs(x, texts=lines)


def read_inputs(model: Any, inputs: Any, *, labelled: bool) -> Inputs:
    """Raw inputs of a `TrainedModel` -> preprocessed arrays (and labels when `labelled`)."""
    source = model.source
    if isinstance(source, Table):
        return _csv_inputs(model, source, inputs, labelled)
    if isinstance(source, Text | Conllu | Seq2Seq):
        return _token_inputs(model, inputs, labelled)
    return _array_inputs(model, inputs, labelled)
