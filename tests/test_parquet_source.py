"""The `parquet` data source (issue 12): the same columns and rules as a CSV, written from the
shipped CSV here; gaps, repeated names, located errors, predict on a Parquet file, and the dlc
error naming the extra when pyarrow is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.compiler.sources import Csv, Parquet
from dlc.runtime.data.loaders import load_csv
from dlc.runtime.data.prepare import prepare

SPECS = Path(__file__).resolve().parent.parent / "specs"
CSV = SPECS / "data" / "seattle-weather.csv"


def _write(table: dict, path: Path) -> Path:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table(table), path)
    return path


def _from_csv(tmp_path: Path) -> Path:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pacsv.read_csv(
        CSV, convert_options=pacsv.ConvertOptions(column_types={"date": pa.string()})
    )
    out = tmp_path / "weather.parquet"
    pq.write_table(table, out)
    return out


def test_parquet_equals_the_csv_it_was_written_from(tmp_path):
    path = _from_csv(tmp_path)
    rules = dict(
        target="temp_max", features=["precipitation:wind"], categorical=["weather"], id="date"
    )
    a = load_csv(Csv(path=str(CSV), **rules), ".")
    b = load_csv(Parquet(path=str(path), **rules), ".")
    assert a.feature_names == b.feature_names
    np.testing.assert_array_equal(a.parts["all"][0], b.parts["all"][0])
    np.testing.assert_array_equal(a.parts["all"][1], b.parts["all"][1])
    assert a.ids["all"].tolist() == b.ids["all"].tolist()


def test_shipped_parquet_spec_prepares_like_the_csv_spec():
    pytest.importorskip("pyarrow")
    p = prepare(load_spec(SPECS / "parquet_weather.dl"))
    c = prepare(load_spec(SPECS / "csv_columns.dl"))
    assert p.feature_names == c.feature_names and p.summary() == c.summary()
    for k in p.parts:
        np.testing.assert_allclose(p.parts[k][0], c.parts[k][0], rtol=1e-6)


def test_column_rules_gaps_and_repeated_names(tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = ["id", "a", "cli", "cli", "note", "y"]
    arrays = [
        pa.array(["r1", "r2", "r3", "r4"]),
        pa.array([1, 2, 3, 4], pa.int64()),
        pa.array([1.0, None, 3.0, 5.0]),
        pa.array([True, False, True, True]),
        pa.array(["x", None, "z", "w"]),
        pa.array([10.0, 20.0, float("nan"), 40.0]),
    ]
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path)
    raw = load_csv(Parquet(path=str(path), target="y", exclude=["note"], missing="zero"), ".")
    assert raw.feature_names == ["a", "cli", "cli.1"]  # `id` never a default feature
    x, y = raw.parts["all"]
    assert y.ravel().tolist() == [10.0, 20.0, 40.0]  # the NaN target's row drops
    assert np.isnan(x[1, 1]) and x[:, 2].tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(DlcError) as err:
        load_csv(Parquet(path=str(path), target="y", exclude=["note"]), ".")
    d = err.value.diagnostics[0]
    assert d.where.endswith("d.parquet:row 2") and "cli" in d.message and "missing=" in d.hint
    with pytest.raises(DlcError) as err:
        load_csv(Parquet(path=str(path), target="y", features=["clu"], missing="drop"), ".")
    assert "cli" in (err.value.diagnostics[0].hint or "")  # did-you-mean


def test_a_file_that_is_not_parquet_is_located(tmp_path):
    pytest.importorskip("pyarrow")
    bad = tmp_path / "bad.parquet"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DlcError) as err:
        load_csv(Parquet(path=str(bad), target="b"), ".")
    assert "not a readable Parquet file" in err.value.diagnostics[0].message
    assert err.value.diagnostics[0].where == str(bad)
    empty = _write({"a": [], "b": []}, tmp_path / "empty.parquet")
    with pytest.raises(DlcError, match="no rows"):
        load_csv(Parquet(path=str(empty), target="b"), ".")


def test_predict_reads_a_parquet_file(tmp_path):
    import dlc
    from dlc.runtime.runs.session import run_spec

    path = _from_csv(tmp_path)
    spec = tmp_path / "s.dl"
    spec.write_text(
        f'data {{\n  parquet "{path.name}" target=temp_max features=["temp_min"] id=date\n'
        "  split train=1\n}\nmodel { dense 1 }\nloss mse\noptimizer adam\ntrain { epochs 1 }\n"
    )
    run = run_spec(spec, runs_root=tmp_path / "runs").run.path
    model = dlc.load(run)
    a = np.asarray(model.predict(path)).ravel()
    b = np.asarray(model.predict(CSV)).ravel()
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_without_pyarrow_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    with pytest.raises(DlcError) as err:
        load_csv(Parquet(path=str(tmp_path / "d.parquet"), target="y"), ".")
    assert "dlc[parquet]" in (err.value.diagnostics[0].hint or "")
