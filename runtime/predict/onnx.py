"""`dlc export RUN --format onnx`: the same inference function as the StableHLO export (the
parameters, `divide` and the normalization folded in, batch dimension dynamic) converted with
`jax2onnx`, then run once with onnxruntime against JAX. Needs the `onnx` extra
(`pip install 'dlc[onnx]'`: jax2onnx and onnxruntime).

Example:
    >>> export_onnx(dlc.load("runs/digits_mlp-..."), "exported")   # doctest: +SKIP
    PosixPath('exported/model.onnx')
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.files import atomic_write_bytes
from dlc.runtime.predict.loaded import TrainedModel

EXTRA = "pip install 'dlc[onnx]' (jax2onnx and onnxruntime)"


def _unsupported(model: TrainedModel, exc: Exception) -> DlcError:
    """A conversion error: name the layer (and its line) whose primitive has no ONNX rule."""
    text = str(exc)
    layers = model.spec.model.layers if hasattr(model.spec.model, "layers") else []
    for i, layer in enumerate(layers):
        name = getattr(layer, "dl_name", "")
        if name and name in text:
            return model.resolved.error(
                f"layer `{name}` cannot be exported to ONNX: {text.splitlines()[0]}",
                f"model.layers.{i}",
                "export it with `--format stablehlo` instead",
            )
    return DlcError.single(
        f"the ONNX converter failed: {text.splitlines()[0] if text else type(exc).__name__}",
        where=str(model.run.path),
        hint="export with `--format stablehlo` instead",
    )


def export_onnx(model: TrainedModel, out_dir: str | Path) -> Path:
    """Write `model.onnx` and `model.json` into `out_dir`, checked with onnxruntime."""
    import importlib

    try:  # untyped optional packages: imported by name
        onnxruntime = importlib.import_module("onnxruntime")
        to_onnx = importlib.import_module("jax2onnx").to_onnx
    except ImportError:
        raise DlcError.single(
            "ONNX export needs the `onnx` extra, which is not installed", hint=EXTRA
        ) from None
    import jax

    from dlc.runtime.predict.export import describe, inference_function, input_dtype

    infer = inference_function(model)
    (batch,) = jax.export.symbolic_shape("B")
    spec = jax.ShapeDtypeStruct((batch, *model.data.input_shape), input_dtype(model))
    arg = jax.ShapeDtypeStruct((2, *model.data.input_shape), input_dtype(model))
    try:
        proto = to_onnx(
            infer, [spec], input_names=["x"], output_names=["y"], model_name="dlc_model"
        )
    except Exception as exc:  # the converter's own errors: an unsupported primitive, ...
        raise _unsupported(model, exc) from None
    blob = proto.SerializeToString()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "model.onnx"
    atomic_write_bytes(path, blob)
    x = np.zeros(arg.shape, arg.dtype)
    try:
        session = onnxruntime.InferenceSession(blob, providers=["CPUExecutionProvider"])
        got = session.run(None, {"x": x})[0]
    except Exception as exc:  # onnxruntime's own error types
        raise DlcError.single(
            f"onnxruntime cannot run the converted model: {exc}",
            where=str(path),
            hint="export with `--format stablehlo` instead",
        ) from None
    want = np.asarray(jax.jit(infer)(x))
    doc = describe(model, tuple(want.shape), "onnx (jax2onnx)")
    doc["opset"] = 23
    doc["bytes"] = len(blob)
    doc["check_max_abs_diff"] = float(np.max(np.abs(got - want))) if want.size else 0.0
    atomic_write_bytes(out / "model.json", json.dumps(doc, indent=1).encode())
    return path
