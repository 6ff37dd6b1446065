"""Spec-level checks run after `resolve` (by `frontend.load_spec`): settings that validate one by
one but are mistakes together, which would otherwise train silently wrong or crash after
`dlc check`. Each gives a located `Diagnostic` with a hint; none imports JAX.

- `early_stop monitor=` (and `experiment monitor=`) must name a value the loss reports:
  `valid_loss`, `valid_<metric>` (or `train_loss` for early stopping);
- no `softmax`/`sigmoid` as the last layer before a loss that applies it (double softmax);
- `features=[]` is no input at all;
- every `experiment { grid "path" [...] }` value resolves as `--set path=value` would;
- every `input NAME` layer names an input the data section declares, each declared once;
- every `search { param "path" DIST }` resolves at the distribution's ends (and every choice).

Example:
    >>> from dlc.compiler.losses import MSE
    >>> sorted(monitor_choices(MSE(), early_stop=True))
    ['train_loss', 'valid_loss', 'valid_mae']
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from dlc.compiler.errors import Diagnostic, Span, close_matches
from dlc.compiler.losses import Loss
from dlc.compiler.metrics import METRICS
from dlc.compiler.spec import Spec

# metrics each built-in loss reports besides `loss` (`Loss.metrics`; top5 and sequence accuracy
# only for more than 5 classes / per-token outputs, allowed here since shapes are not known yet)
_CLASSIFICATION = ("accuracy", "top5_accuracy", "sequence_accuracy")
LOSS_METRICS: dict[str, tuple[str, ...]] = {
    "mse": ("mae",),
    "mae": ("mse",),
    "huber": ("mae", "mse"),
    "kl_divergence": ("accuracy",),
    "cross_entropy": _CLASSIFICATION,
    "focal": _CLASSIFICATION,
    "binary_cross_entropy": ("accuracy",),
    "hinge": ("accuracy",),
}
# losses that apply a softmax (or sigmoid) to the model's outputs themselves
_APPLIES = {
    "cross_entropy": "softmax",
    "focal": "softmax",
    "kl_divergence": "softmax",
    "binary_cross_entropy": "sigmoid",
}
_SQUASHING = ("softmax", "sigmoid", "hard_sigmoid", "log_softmax")
_PER_CLASS = re.compile(r"(precision|recall|f1)_per_class")


def monitor_choices(loss: Loss, *, early_stop: bool) -> set[str] | None:
    """The names `monitor=` may take for this loss; None: unknown (a plugin loss)."""
    names = LOSS_METRICS.get(loss.dl_name)
    if names is None:
        return None
    metrics = {"loss", *names, *(n for n in loss.report if not _PER_CLASS.fullmatch(n))}
    choices = {f"valid_{m}" for m in metrics}
    return choices | {"train_loss"} if early_stop else choices


def _monitor_ok(name: str, choices: set[str], report: tuple[str, ...]) -> bool:
    if name in choices or (name.startswith("valid_") and name[6:] in METRICS):
        return True
    m = re.fullmatch(r"valid_(precision|recall|f1)_\d+", name)  # `f1_per_class` -> f1_0, ...
    return m is not None and f"{m.group(1)}_per_class" in report


def _did_you_mean(name: str, choices: set[str]) -> str:
    close = close_matches(name, sorted(choices), n=1, cutoff=0.5)
    listed = ", ".join(f"`{c}`" for c in sorted(choices))
    return (f"did you mean `{close[0]}`? " if close else "") + f"the loss reports: {listed}"


def _check_monitors(spec: Spec, at: Callable[[str], Span | None]) -> list[Diagnostic]:
    out = []
    es = spec.train.early_stop
    exp = spec.experiment
    for key, name, early in (
        ("early_stop", es.monitor if es else None, True),
        ("monitor", exp.monitor if exp else None, False),
    ):
        choices = monitor_choices(spec.loss, early_stop=early)
        if name is None or choices is None or _monitor_ok(name, choices, spec.loss.report):
            continue
        what = "early stopping" if early else "the experiment"
        out.append(
            Diagnostic(
                f"{what} monitors `{name}`, which the loss `{spec.loss.dl_name}` does not "
                "report (it would never stop)"
                if early
                else f"{what} selects by `{name}`, which the loss does not report",
                at(key),
                _did_you_mean(name, choices),
            )
        )
    return out


def _last_layer(layers: tuple[Any, ...]) -> tuple[Any, int] | None:
    """The model's last layer (`repeat` is expanded already; a block such as `residual` or
    `parallel` combines its inner outputs, so a softmax inside one is no final softmax)."""
    return (layers[-1], len(layers) - 1) if layers else None


def _check_double_softmax(spec: Spec, at: Callable[[str], Span | None]) -> list[Diagnostic]:
    applies = _APPLIES.get(spec.loss.dl_name)
    found = _last_layer(spec.model.layers)
    if applies is None or found is None or found[0].dl_name not in _SQUASHING:
        return []
    if not getattr(spec.loss, "from_logits", True):  # the loss takes probabilities
        return []
    layer, index = found
    fix = " (or `from_logits=false`: the loss then takes probabilities)"
    return [
        Diagnostic(
            f"`{layer.dl_name}` as the last layer before `loss {spec.loss.dl_name}`, which "
            f"applies the {applies} itself: the outputs would be squashed twice and train worse",
            at(f"model.layers.{index}"),
            f"remove `{layer.dl_name}`: the loss takes the raw scores (logits); `dlc predict "
            "--proba` gives probabilities" + (fix if hasattr(spec.loss, "from_logits") else ""),
        )
    ]


def _check_features(spec: Spec, at: Callable[[str], Span | None]) -> list[Diagnostic]:
    features = getattr(spec.data.source, "features", None)
    if features is None or len(features) > 0:
        return []
    return [
        Diagnostic(
            "`features=[]` gives the model no input",
            at("source"),
            "name at least one column, e.g. `features=[temp_max]`, or leave `features` out "
            "for every numeric column but the target",
        )
    ]


def _input_layers(layers: tuple[Any, ...], key: str) -> Iterator[tuple[Any, str]]:
    """(layer, its span key) of every `input` layer, those inside blocks too."""
    for i, layer in enumerate(layers):
        here = f"{key}.{i}"
        if layer.dl_name == "input":
            yield layer, here
        if layer.block_field is not None:
            yield from _input_layers(layer.children(), f"{here}.{layer.block_field}")


def _check_inputs(spec: Spec, at: Callable[[str], Span | None]) -> list[Diagnostic]:
    out = []
    declared: list[str] = []
    for i, inp in enumerate(spec.data.input):
        if inp.name in declared:
            out.append(
                Diagnostic(
                    f"the input `{inp.name}` is declared twice",
                    at(f"input.{i}"),
                    "give each `input` its own name",
                )
            )
        declared.append(inp.name)
    for layer, key in _input_layers(spec.model.layers, "model.layers"):
        if layer.name in declared:
            continue
        if not declared:
            hint = (
                f"declare it in the data section: `input {layer.name} [column, ...]` "
                "(a group of the source's feature columns)"
            )
        else:
            close = close_matches(layer.name, declared, n=1, cutoff=0.5)
            listed = ", ".join(f"`{n}`" for n in declared)
            hint = (f"did you mean `{close[0]}`? " if close else "") + f"the inputs are: {listed}"
        out.append(
            Diagnostic(
                f"`input {layer.name}`: the data section declares no input `{layer.name}`",
                at(key),
                hint,
            )
        )
    return out


def check_spec(spec: Spec, spans: dict[str, Span]) -> list[Diagnostic]:
    """Every spec-level check's diagnostics, in the order of the spec's sections."""

    def at(key: str) -> Span | None:
        return spans.get(key) or spans.get(key.split(".")[0])

    return [
        *_check_features(spec, at),
        *_check_inputs(spec, at),
        *_check_double_softmax(spec, at),
        *_check_monitors(spec, at),
    ]


def literal(v: Any) -> str:
    """A grid value as `--set` text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v if v.isidentifier() else json.dumps(v)
    return repr(v)


def check_grid(
    spec: Spec, spans: dict[str, Span], try_set: Callable[[str], list[Diagnostic]]
) -> list[Diagnostic]:
    """Each grid axis's values resolved one by one as `--set key=value` (`try_set` gives that
    override's diagnostics); errors point at the axis's `grid` line."""
    if spec.experiment is None:
        return []
    out = []
    for i, g in enumerate(spec.experiment.grid):
        for v in g.values:
            text = f"{g.key}={literal(v)}"
            diags = try_set(text)
            if diags:
                d = diags[0]
                hint = None if d.hint and "--set" in d.hint else d.hint
                out.append(
                    Diagnostic(f"grid value `{text}`: {d.message}", spans.get(f"grid.{i}"), hint)
                )
                break  # one error per axis
    return out


def _axis_error(key: str, taken: set[str]) -> tuple[str, str | None] | None:
    """Why `key` cannot be a searched setting (message, hint), or None."""
    if key == "train.seed":
        return "`train.seed` is not searched", "list seeds with `seeds [0, 1, 2]`"
    if key.split(".")[0] == "experiment":
        return "an experiment cannot vary itself", None
    if key in taken:
        return f"`{key}` is searched already", "remove one of the two lines"
    return None


def check_search(
    spec: Spec, spans: dict[str, Span], try_set: Callable[[str], list[Diagnostic]]
) -> list[Diagnostic]:
    """`experiment { search ... { param "PATH" DIST } }`: no grid beside it; each path once,
    neither `train.seed` nor the experiment; the distribution's `probes()` (both ends, every
    choice) each resolve as `--set PATH=V`. Errors point at the `param` (or `grid`) line."""
    exp = spec.experiment
    if exp is None or exp.search is None:
        return []
    if exp.grid:
        hint = 'turn the grid into `param "PATH" choice([...])` lines of the search'
        return [Diagnostic("`grid` and `search` cannot be combined", spans.get("grid.0"), hint)]
    out, taken = [], set[str]()
    for i, p in enumerate(exp.search.param):
        at = spans.get(f"param.{i}")
        bad = _axis_error(p.key, taken)
        taken.add(p.key)
        if bad:
            out.append(Diagnostic(bad[0], at, bad[1]))
            continue
        for v in p.dist.probes():
            text = f"{p.key}={literal(v)}"
            if diags := try_set(text):
                d = diags[0]
                said = None if d.hint and "--set" in d.hint else d.hint
                out.append(Diagnostic(f"searched value `{text}`: {d.message}", at, said))
                break  # one error per param
    return out
