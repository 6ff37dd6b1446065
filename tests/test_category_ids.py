"""Issue 12, categorical columns as integer ids: `categorical=[...] categories=index` gives one
column of ids 1..K (sorted values; 0 unknown) that `normalize` leaves alone, an `embedding`
reads, the run keeps (data.json) and `dlc predict` applies."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dlc
from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec

ROWS = "x,weather,y\n" + "".join(
    f"{i % 5},{['rain', 'sun', 'fog'][i % 3]},{i % 5 + 3 * (i % 3)}\n" for i in range(30)
)
SPEC = """data {{
  csv "{csv}" target=y categorical=[weather] categories=index
  input num [x]
  input sky [weather]
  split train=1
  {extra}
}}
model {{
  parallel {{
    branch {{ input num; dense 2 }}
    branch {{ input sky; embedding 3; flatten }}
  }}
  dense 1
}}
loss mse
optimizer adam lr=0.05
train {{ epochs 3; batch 8 }}
"""


def _write(tmp_path: Path, extra: str = "normalize standard") -> Path:
    (tmp_path / "d.csv").write_text(ROWS)
    spec = tmp_path / "s.dl"
    spec.write_text(SPEC.format(csv="d.csv", extra=extra))
    return spec


def test_index_encoding_and_table(tmp_path: Path) -> None:
    from dlc.runtime.data.prepare import prepare

    spec = _write(tmp_path, "normalize none")
    data = prepare(load_spec(spec))
    assert data.feature_names == ["x", "weather"]
    assert data.categories == {"weather": ["fog", "rain", "sun"]}
    x = data.parts["train"][0]
    raw = (tmp_path / "d.csv").read_text().splitlines()[1:]
    want = [{"fog": 1, "rain": 2, "sun": 3}[r.split(",")[1]] for r in raw]
    assert sorted(x[:, 1].tolist()) == sorted(want)  # the rows, shuffled by the split
    assert any("ids 1..3 for the training part's categories" in n for n in data.notes)
    # windows: every day's id column is an id
    spec.write_text(spec.read_text().replace("split train=1", "split train=1\n  window 2"))
    data = prepare(load_spec(spec))
    assert data.input_shape == (4,) and set(data.parts["train"][0][:, [1, 3]].ravel()) == {1, 2, 3}


def test_a_category_only_outside_the_training_part_follows_unseen(tmp_path: Path) -> None:
    from dlc.runtime.data.prepare import prepare

    rows = ROWS + "1,hail,2\n"  # the last row: in the test part with order=time
    (tmp_path / "d.csv").write_text(rows)
    spec = tmp_path / "s.dl"
    text = SPEC.format(csv="d.csv", extra="").replace("split train=1", "split test=0.1 order=time")
    spec.write_text(text)
    with pytest.raises(DlcError) as err:
        prepare(load_spec(spec))
    assert "category `hail`" in err.value.diagnostics[0].message
    spec.write_text(text.replace("categories=index", "categories=index unseen=zero"))
    data = prepare(load_spec(spec))
    assert data.categories == {"weather": ["fog", "rain", "sun"]}
    assert data.parts["test"][0][-1, 1] == 0.0  # hail: id 0


def test_normalize_leaves_ids_and_embedding_reads_them(tmp_path: Path) -> None:
    model = dlc.compile(_write(tmp_path))
    x, _ = model.data.parts["train"]
    assert sorted(set(x[:, 1].tolist())) == [1.0, 2.0, 3.0]  # ids, not standardized
    assert abs(float(x[:, 0].mean())) < 1e-5  # the number is standardized
    assert model.spec.model.layers[0].layers[1].layers[1].vocab == 4  # ids 0..3
    program = model.program(len(x))
    params, _ = program.init(jax.random.PRNGKey(0))
    got = np.asarray(program.apply(params, {}, jnp.asarray(x), train=False)[0])
    p = jax.tree.map(np.asarray, params)
    a = x[:, :1] @ p["00_parallel"]["00_branch"]["01_dense"]["w"]
    a = a + p["00_parallel"]["00_branch"]["01_dense"]["b"]
    b = p["00_parallel"]["01_branch"]["01_embedding"]["embedding"][x[:, 1].astype(int)]
    want = np.concatenate([a, b], 1) @ p["01_dense"]["w"] + p["01_dense"]["b"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_the_run_keeps_the_table_and_predict_applies_it(tmp_path: Path) -> None:
    from dlc.runtime.runs.session import run_spec

    run = run_spec(_write(tmp_path), runs_root=tmp_path / "runs").run.path
    facts = json.loads((run / "data.json").read_text())
    assert facts["categories"] == {"weather": ["fog", "rain", "sun"]}
    (tmp_path / "d.csv").unlink()  # the run predicts without its training data
    model = dlc.load(run)
    got = np.asarray(model.predict({"x": [1, 1, 1], "weather": ["fog", "sun", "fog"]}))
    stats = model.stats
    xs = (1.0 - stats["shift"][0]) / stats["scale"][0]
    assert stats["shift"][1] == 0.0 and stats["scale"][1] == 1.0  # the ids are kept
    ids = np.array([1, 3, 1])
    x = np.stack([np.full(3, xs), ids], 1).astype(np.float32)
    np.testing.assert_allclose(got, model.predict(x, prepared=True), rtol=1e-6)
    assert got[0] == pytest.approx(got[2]) and got[0] != pytest.approx(got[1])
    with pytest.raises(DlcError) as err:  # a category outside the table: unseen=error
        model.predict({"x": [1, 1], "weather": ["fog", "hail"]})
    assert "`hail`" in err.value.diagnostics[0].message
    assert err.value.diagnostics[0].where == "the input table:row 2"


def test_divide_would_scale_the_ids(tmp_path: Path) -> None:
    with pytest.raises(DlcError) as err:
        dlc.compile(_write(tmp_path, "divide 10"))
    d = err.value.diagnostics[0]
    assert "category ids" in d.message and d.span.line == 6
