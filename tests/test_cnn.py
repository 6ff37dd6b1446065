"""CNN layers against hand-written references, their shape errors, residual blocks, and CNN
specs that train."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dlc
from dlc import DlcError, load_spec
from dlc.compiler.explain import to_dl
from dlc.compiler.layers.base import Context
from dlc.compiler.layers.conv import Conv1D, Conv2D
from dlc.compiler.layers.pool import AvgPool, GlobalAvgPool, GlobalMaxPool, MaxPool
from dlc.compiler.lower import lower
from dlc.runtime.data.idx import DEBIAN_FASHION_MNIST

RNG = np.random.default_rng(0)
SPECS = Path(__file__).resolve().parents[1] / "specs"


def _same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def conv_reference(x, kernel, stride, dilation, padding):
    """N-D convolution (cross-correlation) by loops over output positions and kernel taps."""
    nd = x.ndim - 2
    ks = kernel.shape[:nd]
    eff = [(k - 1) * d + 1 for k, d in zip(ks, dilation, strict=True)]
    if padding == "same":
        pads = [_same_pads(n, e, s) for n, e, s in zip(x.shape[1:-1], eff, stride, strict=True)]
        x = np.pad(x, [(0, 0), *pads, (0, 0)])
    outs = [(n - e) // s + 1 for n, e, s in zip(x.shape[1:-1], eff, stride, strict=True)]
    y = np.zeros((x.shape[0], *outs, kernel.shape[-1]), np.float64)
    for pos in itertools.product(*map(range, outs)):
        for tap in itertools.product(*map(range, ks)):
            idx = tuple(
                p * s + t * d for p, s, t, d in zip(pos, stride, tap, dilation, strict=True)
            )
            y[(slice(None), *pos)] += x[(slice(None), *idx)] @ kernel[tap]
    return y


def pool_reference(x, size, stride, padding, op):
    """Max or mean over windows, by loops; padded positions are left out."""
    nd = x.ndim - 2
    starts = []
    for n, k, s in zip(x.shape[1:-1], size, stride, strict=True):
        lo = _same_pads(n, k, s)[0] if padding == "same" else 0
        count = -(-n // s) if padding == "same" else (n - k) // s + 1
        starts.append([i * s - lo for i in range(count)])
    y = np.zeros((x.shape[0], *map(len, starts), x.shape[-1]))
    for pos in itertools.product(*(range(len(s)) for s in starts)):
        window = x[
            (
                slice(None),
                *(
                    slice(max(st[p], 0), st[p] + k)
                    for st, p, k in zip(starts, pos, size, strict=True)
                ),
            )
        ]
        y[(slice(None), *pos)] = op(window.reshape(x.shape[0], -1, x.shape[-1]), axis=1)
    assert nd == len(size)
    return y


def layer_sizes(v, n):
    return (v,) * n if isinstance(v, int) else tuple(v)


def _run(layer, x):
    """The layer applied to x with random parameters of its declared shapes (numpy's RNG: no
    XLA compilation of JAX's generator per shape)."""
    shapes = layer.param_shapes(x.shape[1:])
    params = {k: RNG.normal(size=v).astype(np.float32) for k, v in shapes.items()}
    y = layer.apply(params, jnp.asarray(x), Context())
    assert y.shape[1:] == layer.output_shape(x.shape[1:])
    return params, np.asarray(y)


@pytest.mark.parametrize(
    ("kernel", "stride", "dilation", "padding", "size"),
    [
        (3, 1, 1, "same", (7, 6)),
        (3, 1, 1, "valid", (7, 6)),
        ([3, 2], 2, 1, "same", (7, 6)),
        (3, [2, 3], 1, "valid", (9, 8)),
        (3, 1, 2, "same", (7, 7)),
        ([2, 3], 2, [2, 1], "valid", (9, 8)),
        (4, 3, 1, "same", (8, 5)),
    ],
)
@pytest.mark.parametrize("lowering", ["xla", "patches"])
def test_conv2d_equals_loops(
    kernel, stride, dilation, padding, size, lowering, monkeypatch
) -> None:
    monkeypatch.setenv("CONV_LOWERING", lowering)
    layer = Conv2D(filters=4, kernel=kernel, stride=stride, dilation=dilation, padding=padding)
    x = RNG.normal(size=(2, *size, 3)).astype(np.float32)
    params, y = _run(layer, x)
    want = conv_reference(
        x, np.asarray(params["kernel"]), layer_sizes(stride, 2), layer_sizes(dilation, 2), padding
    ) + np.asarray(params["b"])
    np.testing.assert_allclose(y, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("kernel", "stride", "dilation", "padding"),
    [
        (3, 1, 1, "same"),
        (3, 2, 1, "valid"),
        (2, 1, 3, "same"),
        (5, 2, 2, "valid"),
    ],
)
@pytest.mark.parametrize("lowering", ["xla", "patches"])
def test_conv1d_equals_loops(kernel, stride, dilation, padding, lowering, monkeypatch) -> None:
    monkeypatch.setenv("CONV_LOWERING", lowering)
    layer = Conv1D(
        filters=3, kernel=kernel, stride=stride, dilation=dilation, padding=padding, bias=False
    )
    x = RNG.normal(size=(2, 11, 2)).astype(np.float32)
    params, y = _run(layer, x)
    assert set(params) == {"kernel"}
    want = conv_reference(x, np.asarray(params["kernel"]), (stride,), (dilation,), padding)
    np.testing.assert_allclose(y, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("cls", "op"), [(MaxPool, np.max), (AvgPool, np.mean)])
@pytest.mark.parametrize(
    ("size", "stride", "padding", "shape"),
    [
        (2, None, "valid", (6, 4)),  # tiles: reshape lowering
        (2, None, "valid", (7, 5)),  # tiles after dropping the remainder
        (2, None, "same", (7, 5)),  # padded edge windows
        (3, 2, "valid", (7, 6)),  # overlapping windows: reduce_window
        ([3, 2], [1, 2], "same", (5, 6)),
        (3, 1, "same", (9,)),  # 1-D by rank
        (2, None, "valid", (9,)),
    ],
)
def test_pooling_equals_numpy(cls, op, size, stride, padding, shape) -> None:
    layer = cls(size=size, stride=stride, padding=padding)
    x = RNG.normal(size=(2, *shape, 3)).astype(np.float32)
    _, y = _run(layer, x)
    nd = len(shape)
    k = layer_sizes(size, nd)
    want = pool_reference(x, k, k if stride is None else layer_sizes(stride, nd), padding, op)
    np.testing.assert_allclose(y, want, atol=1e-6, rtol=1e-6)


def test_tiling_pool_lowers_to_reshape_and_others_to_reduce_window() -> None:
    x = jnp.zeros((1, 8, 8, 2))
    tiled = str(jax.make_jaxpr(lambda v: MaxPool().apply({}, v, Context()))(x))
    overlapping = str(
        jax.make_jaxpr(lambda v: MaxPool(size=3, stride=2).apply({}, v, Context()))(x)
    )
    assert "reduce_window" not in tiled and "reduce_max" in tiled
    assert "reduce_window_max" in overlapping


def test_global_pools() -> None:
    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(_run(GlobalAvgPool(), x)[1], x.mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(_run(GlobalMaxPool(), x)[1], x.max(axis=(1, 2)), rtol=1e-6)
    x1 = RNG.normal(size=(2, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(_run(GlobalAvgPool(), x1)[1], x1.mean(axis=1), rtol=1e-6)


# -- shape errors --------------------------------------------------------------------------------
def _check_error(model: str, data: str = "digits flat=false") -> DlcError:
    text = f"data {{ {data} }}\nmodel {{\n{model}\n}}\nloss cross_entropy\noptimizer adam\n"
    with pytest.raises(DlcError) as info:
        dlc.compile(text)
    return info.value


def test_conv_on_a_flat_vector_says_where_and_how_to_reshape() -> None:
    err = _check_error("  dense 64\n  conv2d 8 3\n  dense 10", data="digits")
    [d] = err.diagnostics
    assert (d.span.line, d.span.column) == (4, 3)
    assert "conv2d needs input (height, width, channels), got a flat vector" in d.message
    assert d.hint == "add `reshape [8, 8, 1]` before it"


def test_kernel_larger_than_its_valid_input_is_an_error_at_its_line() -> None:
    err = _check_error(
        "  conv2d 8 3 padding=valid\n  maxpool\n  conv2d 8 5 padding=valid\n  flatten\n  dense 10"
    )
    [d] = err.diagnostics
    assert (d.span.line, d.span.column) == (5, 3)
    assert "kernel 5 is larger than the input's 3 along height" in d.message
    assert "padding=same" in d.hint
    err = _check_error(
        "  reshape [64, 1]\n  conv1d 4 3 dilation=5 stride=2 padding=valid\n"
        "  conv1d 4 3 dilation=30 padding=valid\n  flatten\n  dense 10"
    )
    d = err.diagnostics[0]
    assert (
        d.span.line == 5
        and "kernel 3 (dilated to 61) is larger than the input's 27 along length" in d.message
    )


def test_pool_errors() -> None:
    d = _check_error("  maxpool 9\n  flatten\n  dense 10").diagnostics[0]
    assert d.span.line == 3 and d.message.endswith(
        "the pool size 9 is larger than the input's 8 along height"
    )
    d = _check_error("  dense 4\n  global_avgpool\n  dense 10", data="digits").diagnostics[0]
    assert "global_avgpool needs spatial axes" in d.message and d.span.line == 4
    d = _check_error("  reshape [64, 1]\n  maxpool [2, 2]\n  flatten\n  dense 10").diagnostics[0]
    assert d.span.line == 4 and "maxpool got 2 sizes for 1 spatial axes" in d.message


def test_bad_kernel_list_is_a_setting_error() -> None:
    err = _check_error("  conv2d 8 [3, 3, 3]\n  flatten\n  dense 10")
    assert "`kernel` needs 2 size(s)" in str(err) and err.diagnostics[0].span.line == 3


# -- residual blocks -----------------------------------------------------------------------------
def _program(model: str, input_shape: tuple[int, ...], data: str = "digits flat=false"):
    text = f"data {{ {data} }}\nmodel {{\n{model}\n}}\nloss cross_entropy\noptimizer adam\n"
    prog = lower(load_spec(text).spec, input_shape, 1)
    params, state = prog.init(jax.random.PRNGKey(0))
    return prog, params, state


def test_residual_adds_the_skip() -> None:
    prog, params, _ = _program("  residual { dense 8; relu; dense 8 }\n  dense 10", (8,), "digits")
    p = params["00_residual"]
    assert set(p) == {"00_dense", "02_dense"}
    x = jnp.asarray(RNG.normal(size=(5, 8)).astype(np.float32))
    h = jax.nn.relu(x @ p["00_dense"]["w"] + p["00_dense"]["b"])
    want = x + h @ p["02_dense"]["w"] + p["02_dense"]["b"]
    got = prog.layers[0].apply(p, x, Context())
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert prog.infos[0].params == 2 * (8 * 8 + 8)


def test_residual_with_a_projection_maps_the_skip_path() -> None:
    prog, params, _ = _program(
        "  residual projection=linear { conv2d 6 3 stride=2 }\n  flatten\n  dense 10", (8, 8, 3)
    )
    p = params["00_residual"]
    assert prog.infos[0].out_shape == (4, 4, 6) and p["projection"]["w"].shape == (3, 6)
    x = jnp.asarray(RNG.normal(size=(2, 8, 8, 3)).astype(np.float32))
    f = Conv2D(filters=6, kernel=3, stride=2).apply(p["00_conv2d"], x, Context())
    want = x[:, ::2, ::2, :] @ p["projection"]["w"] + f
    np.testing.assert_allclose(prog.layers[0].apply(p, x, Context()), want, atol=1e-5)


def test_residual_shapes_that_differ_are_an_error_at_its_line() -> None:
    err = _check_error("  conv2d 8 3\n  residual {\n    conv2d 16 3\n  }\n  flatten\n  dense 10")
    [d] = err.diagnostics
    assert (d.span.line, d.span.column) == (4, 3)
    assert "output shape (8, 8, 16) differs from its input shape (8, 8, 8)" in d.message
    assert "projection=linear" in d.hint
    err = _check_error("  residual projection=linear { flatten }\n  dense 10")
    assert "no strided 1×1 projection maps (8, 8, 1) to (64,)" in str(err)


def test_an_error_inside_a_residual_points_at_the_inner_layer() -> None:
    err = _check_error("  residual {\n    conv2d 4 3\n    maxpool 9\n  }\n  flatten\n  dense 10")
    [d] = err.diagnostics
    assert (d.span.line, d.span.column) == (5, 5)
    assert d.message.startswith("layer `maxpool` cannot take input of shape (8, 8, 4)")


def test_residual_statement_errors() -> None:
    def message(model: str) -> str:
        with pytest.raises(DlcError) as info:
            load_spec(
                f"data {{ digits }}\nmodel {{\n{model}\n}}\nloss cross_entropy\noptimizer adam\n"
            )
        return str(info.value)

    assert "layer `dense` takes no block" in message("  dense 4 { relu }")
    assert "`residual` needs a block of layers" in message("  residual\n  dense 10")
    assert "`residual` needs a block of layers" in message("  residual { }\n  dense 10")
    assert "did you mean `residual`?" in message("  residul { dense 3 }")
    out = message("  residual { dense 4; rleu }")
    assert "unknown layer `rleu`" in out and "<spec>:3:" in out
    assert "`layers` is given twice" in message("  residual layers=[relu] { relu }")


BLOCKS = """\
block res(c, rate=0.0) {
  residual {
    conv2d c 3
    repeat 2 { batchnorm; relu }
    dropout rate
  }
}
data { digits flat=false }
model {
  conv2d 8 3
  res 8 rate=0.1
  residual projection=linear { res 8; conv2d 12 3 stride=2 }
  global_avgpool
  dense 10
}
loss cross_entropy
optimizer adam
"""


def test_residual_in_blocks_expands_and_round_trips() -> None:
    spec = load_spec(BLOCKS).spec
    res = spec.model.layers[1]
    assert [la.dl_name for la in res.layers] == [
        "conv2d",
        "batchnorm",
        "relu",
        "batchnorm",
        "relu",
        "dropout",
    ]
    assert res.layers[0].filters == 8 and res.layers[-1].rate == 0.1
    assert spec.model.layers[2].layers[0].layers[0].filters == 8
    text = to_dl(spec)
    assert '  residual projection="linear" {\n    residual projection="none" {\n' in text
    assert load_spec(text).spec == spec


@pytest.mark.slow
def test_residual_state_and_rng_nest_and_train() -> None:
    m = dlc.compile(BLOCKS, overrides=["train.epochs=1", "train.batch=256"])
    m.fit()
    state = m.state.model_state
    assert set(state["01_residual"]) == {"01_batchnorm", "03_batchnorm"}
    assert set(state["02_residual"]["00_residual"]) == {"01_batchnorm", "03_batchnorm"}
    assert m.state.params["02_residual"]["projection"]["w"].shape == (8, 12)
    assert np.isfinite(m.evaluate("valid")["valid_loss"])


# -- runtime forms -------------------------------------------------------------------------------
FORMS = """\
data { digits flat=false }
model {
  conv2d 4 3
  batchnorm
  relu
  residual { conv2d 4 3; dropout 0.2 }
  maxpool
  flatten
  dense 10
}
loss cross_entropy
optimizer adam lr=0.01
train { batch 256; epochs 2 }
"""


@pytest.mark.slow
def test_steps_per_call_forms_train_the_same_params() -> None:
    """The whole epoch in one scan, one step per call, and chunks of 4 with a remainder of 2
    (1438 rows, 6 steps an epoch) take the same batches with the same dropout keys."""
    results = {}
    for form in ("all", "1", "4"):
        m = dlc.compile(FORMS, overrides=[f"train.steps_per_call={form}"])
        assert m.functions(1438).steps_per_epoch == 6
        fit = m.fit()
        results[form] = (m.state, [r["train_loss"] for r in fit.history])
    want, want_losses = results["all"]
    assert int(want.step) == 12
    for form in ("1", "4"):
        got, losses = results[form]
        assert int(got.step) == 12
        np.testing.assert_allclose(losses, want_losses, rtol=1e-6)
        for tree_got, tree_want in ((got.params, want.params), (got.model_state, want.model_state)):
            for a, b in zip(jax.tree.leaves(tree_got), jax.tree.leaves(tree_want), strict=True):
                np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)


def test_auto_steps_per_call_is_one_only_for_xla_convolutions_on_cpu(monkeypatch) -> None:
    from dlc.runtime.train.step import chunk_steps

    conv, _, _ = _program("  residual { conv2d 1 3 }\n  flatten\n  dense 10", (8, 8, 1))
    mlp, _, _ = _program("  flatten\n  dense 10", (8, 8, 1))
    monkeypatch.setenv("CONV_LOWERING", "xla")
    assert (chunk_steps(conv, 40, "auto"), chunk_steps(mlp, 40, "auto")) == (1, 40)
    monkeypatch.setenv("CONV_LOWERING", "patches")
    assert chunk_steps(conv, 40, "auto") == 40
    assert (chunk_steps(conv, 40, "all"), chunk_steps(conv, 40, 16)) == (40, 16)


@pytest.mark.slow
def test_l2_penalty_reaches_weights_inside_residual_blocks() -> None:
    text = (
        "data { digits flat=false }\nmodel {\n  residual projection=linear { conv2d 2 3 }\n"
        "  flatten\n  dense 10\n}\nloss cross_entropy\noptimizer adam\n"
        "regularize l2=0.5\n"
    )
    prog = lower(load_spec(text).spec, (8, 8, 1), 1)
    params, _ = prog.init(jax.random.PRNGKey(0))
    res = params["00_residual"]
    weights = [res["00_conv2d"]["kernel"], res["projection"]["w"], params["02_dense"]["w"]]
    want = 0.5 * sum(float(jnp.sum(w * w)) for w in weights)
    np.testing.assert_allclose(float(prog.penalty(params)), want, rtol=1e-6)


@pytest.mark.slow
def test_dlc_run_saves_and_resumes_nested_parameters(tmp_path, specs_dir) -> None:
    from safetensors.numpy import load_file

    from dlc.runtime.cli.main import main

    spec = str(specs_dir / "resnet_small.dl")
    args = ["run", spec, "--runs", str(tmp_path), "--quiet", "--set", "train.epochs=1"]
    assert main(args) == 0
    [run] = list(tmp_path.iterdir())
    params = load_file(run / "params.safetensors")
    assert params["02_residual.00_conv2d.kernel"].shape == (3, 3, 16, 16)
    assert params["05_residual.projection.w"].shape == (16, 32)
    assert main([*args, "--resume", str(run)]) == 0  # restores the nested checkpoint tree
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1


def test_resnet_small_learns_digits_quickly() -> None:
    """The residual CNN on 8×8 digit images: ≥ 0.95 test accuracy in at most 8 epochs."""
    model = dlc.compile(SPECS / "resnet_small.dl", overrides=["train.epochs=8"])
    start = time.perf_counter()
    model.fit()
    seconds = time.perf_counter() - start
    scores = model.evaluate("test")
    assert scores["test_accuracy"] >= 0.95, scores
    assert seconds < 120, f"{seconds:.0f} s (about 15 s on an idle 2-core CPU, compiling included)"


def test_check_lists_the_layers_inside_residual_blocks(specs_dir, capsys, monkeypatch) -> None:
    from dlc.runtime.cli.main import main

    monkeypatch.setenv("COLUMNS", "200")
    assert main(["check", str(specs_dir / "resnet_small.dl")]) == 0
    rows = [
        [c.strip() for c in line.split("│")[1:-1]]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("│")
    ]
    assert ["2", "residual", "(8, 8, 16)", "4,704"] in rows
    assert ["2.3", "conv2d", "(8, 8, 16)", "2,320"] in rows
    assert ["5", "residual", "(4, 4, 32)", f"{4640 + 64 + 9248 + 64 + 16 * 32:,}"] in rows
    assert ["", "total", "", "19,722"] in rows


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(DEBIAN_FASHION_MNIST).is_dir(),
    reason=f"Fashion-MNIST is not installed at {DEBIAN_FASHION_MNIST} "
    "(apt-get install dataset-fashion-mnist)",
)
def test_fashion_cnn_learns_from_a_subset() -> None:
    """specs/fashion_cnn.dl trained on its first 12 000 training images for 2 epochs at a
    constant learning rate (its warm-up would take most of these 188 steps; the full
    run, 54 000 images × 8 epochs, is in specs/README.md), tested on all 10 000 test images."""
    overrides = ["train.epochs=2", "schedule=constant"]
    model = dlc.compile(SPECS / "fashion_cnn.dl", overrides=overrides)
    x, y = model.data.parts["train"]
    assert len(x) == 54000 and x.shape[1:] == (28, 28, 1)
    model.fit(x[:12000], y[:12000], valid=model.data.parts["valid"])
    scores = model.evaluate("test")
    assert scores["test_accuracy"] >= 0.82, scores  # measured 0.841
