"""`dlc export RUN --format stablehlo`: the inference function of a trained run as a serialized
`jax.export` artifact (StableHLO with the parameters as constants, the spec's `divide` and the
run's normalization statistics folded in, the batch dimension symbolic) plus `model.json`
describing its input and output. Loading it needs only JAX:

    exp = jax.export.deserialize(open("model.stablehlo", "rb").read())
    probabilities = exp.call(raw_features)          # [N, *input] -> [N, *output]

`--format onnx` goes through `jax2onnx` (the `onnx` extra) and is checked with onnxruntime.

Example:
    >>> export_run(dlc.load("runs/digits_mlp-..."), "exported")      # doctest: +SKIP
    PosixPath('exported/model.stablehlo')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.files import atomic_write_bytes
from dlc.compiler.text_sources import Seq2Seq, TokenSource
from dlc.runtime.predict.loaded import TrainedModel

FORMATS = ("stablehlo", "onnx")


def inference_function(model: TrainedModel) -> Any:
    """raw inputs [N, *input_shape] -> what `predict` gives (probabilities for classification),
    with the parameters, `divide` and the normalization statistics as constants."""
    import jax.numpy as jnp

    state = model.model.state
    params, model_state = state.params, state.model_state
    program = model.model.program(model.n_train)
    divide = model.spec.data.divide
    shift = scale = None
    if model.stats:
        shift, scale = jnp.asarray(model.stats["shift"]), jnp.asarray(model.stats["scale"])
    tokens = isinstance(model.source, TokenSource | Seq2Seq)

    def infer(x: Any) -> Any:
        if not tokens:
            x = x.astype(jnp.float32)
            if divide is not None:
                x = x / jnp.float32(divide)
            if shift is not None:
                x = (x - shift) / scale
        out, _ = program.apply(params, model_state, x, train=False)
        return model.spec.loss.predict(out)

    return infer


def input_dtype(model: TrainedModel) -> Any:
    return np.int32 if isinstance(model.source, TokenSource | Seq2Seq) else np.float32


def describe(model: TrainedModel, out_shape: tuple[Any, ...], fmt: str) -> dict[str, Any]:
    """The JSON description of an exported model's input and output."""
    data = model.spec.data
    window = data.window.size if data.window is not None else None
    task = model.task
    meaning = {
        "regression": "the predicted target values",
        "classification": "the probability of each class (softmax)",
        "binary": "the probability of class 1 (sigmoid)",
    }.get(task, task)
    return {
        "format": fmt,
        "run": str(model.run.path),
        "spec_hash": model.resolved.hash(),
        "task": task,
        "input": {
            "name": "x",
            "shape": ["batch", *model.data.input_shape],
            "dtype": np.dtype(input_dtype(model)).name,
            "raw": True,
            "features": list(model.data.feature_names) or None,
            "window": window,
            "preprocessing": "folded in: "
            + ", ".join(
                [*([f"divide {data.divide:g}"] if data.divide is not None else [])]
                + ([f"normalize {data.normalize.method} (run statistics)"] if model.stats else [])
            )
            if (data.divide is not None or model.stats)
            else "none",
        },
        "output": {
            "name": "y",
            "shape": ["batch", *out_shape[1:]],
            "dtype": "float32",
            "meaning": meaning,
            "classes": model.class_names,
        },
    }


def export_stablehlo(
    model: TrainedModel, out_dir: str | Path, *, platforms: tuple[str, ...] | None = None
) -> Path:
    """Write `model.stablehlo` and `model.json` into `out_dir`; returns the artifact's path."""
    import jax
    from jax import export

    infer = inference_function(model)
    (batch,) = export.symbolic_shape("batch")
    arg = jax.ShapeDtypeStruct((batch, *model.data.input_shape), input_dtype(model))
    try:
        exported = export.export(jax.jit(infer), platforms=platforms)(arg)
        blob = exported.serialize()
    except ImportError as exc:  # serialization needs `flatbuffers`
        raise DlcError.single(
            f"jax.export cannot serialize: {exc}", hint="pip install 'flatbuffers>=25.12,<26'"
        ) from None
    except Exception as exc:  # a layer that does not lower with a symbolic batch size
        raise DlcError.single(
            f"this model cannot be exported with a symbolic batch size: {exc}",
            where=str(model.run.path),
        ) from None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "model.stablehlo"
    atomic_write_bytes(path, bytes(blob))
    doc = describe(model, tuple(exported.out_avals[0].shape), "stablehlo (jax.export)")
    doc["platforms"] = list(exported.platforms)
    doc["jax_version"] = jax.__version__
    doc["bytes"] = len(blob)
    atomic_write_bytes(out / "model.json", json.dumps(doc, indent=1).encode())
    return path


def export_model(
    model: TrainedModel,
    out_dir: str | Path,
    *,
    fmt: str = "stablehlo",
    platforms: tuple[str, ...] | None = None,
) -> Path:
    """Export in `fmt` ("stablehlo" or "onnx"); returns the artifact's path."""
    if fmt == "stablehlo":
        return export_stablehlo(model, out_dir, platforms=platforms)
    if fmt == "onnx":
        from dlc.runtime.predict.onnx import export_onnx

        return export_onnx(model, out_dir)
    raise DlcError.single(
        f"unknown export format `{fmt}`", hint=f"use one of: {', '.join(FORMATS)}"
    )
