"""The training toolbox, checked against Optax and the formulas: optimizers x schedules step by
step, the forward pass, batchnorm, dropout, activations, L1/L2, bad input and `dlc schedule`."""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.compiler.layers.base import Activation
from dlc.compiler.lower import Program, lower
from dlc.compiler.registry import LAYERS
from dlc.runtime import cli
from dlc.runtime.data.prepare import prepare
from dlc.runtime.train.model import CompiledModel
from dlc.runtime.train.step import make_functions

N_ROWS, N_IN, N_OUT = 8, 4, 3
STEPS = 5


def spec_text(
    model: str,
    *,
    optimizer: str = "sgd",
    schedule: str = "constant",
    loss: str = "mse",
    extra: str = "",
) -> str:
    """A spec whose data section is never loaded (the tests lower it against their own arrays)."""
    return (
        f"data {{ digits }}\nmodel {{ {model} }}\nloss {loss}\noptimizer {optimizer}\n"
        f"schedule {schedule}\n{extra}\n"
    )


def program(
    model: str, input_shape: tuple[int, ...] = (N_IN,), total_steps: int = STEPS, **kw: str
) -> Program:
    return lower(load_spec(spec_text(model, **kw)).spec, input_shape, total_steps)


def regression_data(seed: int = 0) -> tuple[jax.Array, jax.Array]:
    kx, ky = jax.random.split(jax.random.PRNGKey(seed))
    return (jax.random.normal(kx, (N_ROWS, N_IN)), jax.random.normal(ky, (N_ROWS, N_OUT)))


def copy_tree(tree):
    return jax.tree.map(lambda a: np.array(a, copy=True), tree)


def close(a, b, tol: float = 1e-6) -> None:
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=tol, atol=tol), a, b)


# -- optimizers x schedules: dlc's compiled training == the same steps written with Optax -------

MLP = "dense 5; tanh; dense 3"


def mlp_forward(p, x):
    h = jnp.tanh(x @ p["00_dense"]["w"] + p["00_dense"]["b"])
    return h @ p["02_dense"]["w"] + p["02_dense"]["b"]


def mlp_loss(p, x, y):
    return jnp.mean((mlp_forward(p, x) - y) ** 2)


def decayed(wd, tx):
    return optax.chain(optax.add_decayed_weights(wd), tx)


# (dlc optimizer line, lr, lr-schedule -> the same optimizer written directly with Optax)
OPTIMIZERS = {
    "sgd": ("sgd lr=0.1", lambda lr: optax.sgd(lr)),
    "momentum": ("sgd lr=0.1 momentum=0.9", lambda lr: optax.sgd(lr, momentum=0.9)),
    "nesterov": (
        "sgd lr=0.1 momentum=0.9 nesterov=true",
        lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True),
    ),
    "adagrad": ("adagrad lr=0.1", lambda lr: optax.adagrad(lr, 0.1, 1e-7)),
    "rmsprop": ("rmsprop lr=0.01", lambda lr: optax.rmsprop(lr, decay=0.9, eps=1e-8)),
    "rmsprop_momentum": (
        "rmsprop lr=0.01 decay=0.8 momentum=0.5",
        lambda lr: optax.rmsprop(lr, decay=0.8, eps=1e-8, momentum=0.5),
    ),
    "adam": ("adam lr=0.01", lambda lr: optax.adam(lr)),
    "adam_betas": (
        "adam lr=0.01 b1=0.8 b2=0.95 eps=1e-6",
        lambda lr: optax.adam(lr, b1=0.8, b2=0.95, eps=1e-6),
    ),
    "adamw": ("adamw lr=0.01 weight_decay=0.1", lambda lr: optax.adamw(lr, weight_decay=0.1)),
    "sgd_decay": ("sgd lr=0.1 weight_decay=0.01", lambda lr: decayed(0.01, optax.sgd(lr))),
    "momentum_decay": (
        "sgd lr=0.1 momentum=0.9 weight_decay=0.01",
        lambda lr: decayed(0.01, optax.sgd(lr, momentum=0.9)),
    ),
    "adagrad_decay": (
        "adagrad lr=0.1 weight_decay=0.01",
        lambda lr: decayed(0.01, optax.adagrad(lr, 0.1, 1e-7)),
    ),
    "rmsprop_decay": (
        "rmsprop lr=0.01 weight_decay=0.01",
        lambda lr: decayed(0.01, optax.rmsprop(lr, decay=0.9, eps=1e-8)),
    ),
    "adam_decay": ("adam lr=0.01 weight_decay=0.01", lambda lr: decayed(0.01, optax.adam(lr))),
    "sgd_clip": (
        "sgd lr=0.5 momentum=0.9 clip=0.1",
        lambda lr: optax.chain(optax.clip_by_global_norm(0.1), optax.sgd(lr, momentum=0.9)),
    ),
    "adamw_clip": (
        "adamw lr=0.01 weight_decay=0.1 clip=0.5",
        lambda lr: optax.chain(optax.clip_by_global_norm(0.5), optax.adamw(lr, weight_decay=0.1)),
    ),
}


def _warmup_cosine(t):
    # warmup over 2 steps, then half a cosine over the remaining 3 of 5 steps
    return jnp.where(t < 2, t / 2, 0.5 * (1 + jnp.cos(math.pi * jnp.minimum(t - 2, 3) / 3)))


# (dlc schedule line, the multiplier of lr at step t written out, for 5 steps in all)
SCHEDULES = {
    "constant": ("constant", lambda t: jnp.ones_like(t)),
    "constant_half": ("constant(0.5)", lambda t: 0.5 * jnp.ones_like(t)),
    "warmup_cosine": ("warmup(2) then cosine", _warmup_cosine),
    "exponential": ("exponential(0.5, every=2)", lambda t: 0.5 ** (t / 2)),
    "exponential_staircase": (
        "exponential(0.5, every=2, staircase=true)",
        lambda t: 0.5 ** jnp.floor(t / 2),
    ),
    "step": ("step([2, 4], factor=0.5)", lambda t: 0.5 ** (jnp.int32(t >= 2) + jnp.int32(t >= 4))),
    "constant_warmup": ("constant_warmup(2, factor=0.1)", lambda t: jnp.where(t < 2, 0.1, 1.0)),
    "constant_warmup_then_cosine": (
        "constant_warmup(1, factor=0.2) then cosine",
        lambda t: jnp.where(t < 1, 0.2, 0.5 * (1 + jnp.cos(math.pi * (t - 1) / 4))),
    ),
}


def runtime_training(prog: Program, x, y, steps: int = STEPS):
    """`steps` steps of the runtime's jitted epoch (one full batch per epoch: order-free);
    (initial params, trained params, the lr each epoch reports)."""
    fns = make_functions(prog, n_train=len(x), batch=len(x), shuffle=False)
    assert fns.steps_per_epoch == 1
    state = fns.init(0)
    initial = copy_tree(state.params)
    lrs = []
    for epoch in range(steps):
        state, stats = fns.epoch(state, x, y, jnp.int32(epoch))
        lrs.append(float(stats["lr"]))
    return initial, state.params, lrs


def program_training(prog: Program, params, x, y, steps: int = STEPS):
    """`steps` steps driven by hand with `Program.loss` and `Program.optimizer()`."""
    tx, w = prog.optimizer(), jnp.ones(len(x))
    opt_state = tx.init(params)
    for _ in range(steps):
        grads, _ = jax.grad(prog.loss, has_aux=True)(params, {}, x, y, w, None)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return params


def optax_training(tx, params, x, y, steps: int = STEPS):
    """The same steps on the hand-written forward pass and loss, with an Optax optimizer."""
    opt_state = tx.init(params)
    for _ in range(steps):
        grads = jax.grad(mlp_loss)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return params


BASE = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
VARIANTS = tuple(o for o in OPTIMIZERS if o not in BASE)  # weight decay, clipping, settings
# (op-by-op steps are cheap: the grid is wide; the jitted runtime is checked per optimizer)
GRID = [
    (o, s)
    for o in BASE
    for s in ("constant", "warmup_cosine", "exponential", "step", "constant_warmup")
]
GRID += [(o, s) for o in VARIANTS for s in ("constant", "warmup_cosine")]
GRID += [
    ("momentum", s)
    for s in ("constant_half", "exponential_staircase", "constant_warmup_then_cosine")
]


@pytest.mark.parametrize(("opt", "sched"), GRID)
def test_optimizer_x_schedule_steps_equal_optax(opt, sched):
    opt_line, reference = OPTIMIZERS[opt]
    sched_line, multiplier = SCHEDULES[sched]
    prog = program(MLP, optimizer=opt_line, schedule=sched_line)
    lr = prog.spec.optimizer.lr
    x, y = regression_data()
    initial, _ = prog.init(jax.random.PRNGKey(0))
    trained = program_training(prog, initial, x, y)
    close(trained, optax_training(reference(lambda t: lr * multiplier(t)), initial, x, y))
    # the parameters moved (a test that trains nothing would pass the comparison trivially)
    assert not np.allclose(trained["00_dense"]["w"], initial["00_dense"]["w"], atol=1e-5)


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_runtime_epochs_equal_optax(opt):
    """The runtime's jitted epochs == Optax directly == the compiler's own `reference`."""
    opt_line, reference = OPTIMIZERS[opt]
    sched_line, multiplier = SCHEDULES["warmup_cosine"]
    prog = program(MLP, optimizer=opt_line, schedule=sched_line)
    lr = prog.spec.optimizer.lr
    x, y = regression_data(1)
    initial, trained, lrs = runtime_training(prog, x, y)
    close(trained, optax_training(reference(lambda t: lr * multiplier(t)), initial, x, y))
    close(trained, optax_training(prog.spec.optimizer.reference(prog.schedule()), initial, x, y))
    # each epoch reports the learning rate of the step after it
    np.testing.assert_allclose(
        lrs, [lr * float(multiplier(jnp.float32(t))) for t in range(1, STEPS + 1)], rtol=1e-6
    )
    assert not np.allclose(trained["00_dense"]["w"], initial["00_dense"]["w"], atol=1e-5)


@pytest.mark.parametrize("sched", list(SCHEDULES))
def test_schedule_multipliers_match_formulas(sched):
    sched_line, multiplier = SCHEDULES[sched]
    prog = program(MLP, schedule=sched_line)
    fn = prog.schedule()
    got = [float(fn(t)) for t in range(STEPS)]
    np.testing.assert_allclose(
        got, [float(multiplier(jnp.float32(t))) for t in range(STEPS)], rtol=1e-6, atol=1e-7
    )


# -- forward pass --------------------------------------------------------------------------------


def test_forward_pass_equals_handwritten_mlp():
    prog = program("dense 16; relu; dense 8; sigmoid; dense 3", input_shape=(6,))
    params, state = prog.init(jax.random.PRNGKey(3))
    params = jax.tree.map(lambda a: a + 0.1, params)  # nonzero biases
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(4), (10, 6)), np.float64)
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    h = np.maximum(x @ p["00_dense"]["w"] + p["00_dense"]["b"], 0.0)
    h = 1.0 / (1.0 + np.exp(-(h @ p["02_dense"]["w"] + p["02_dense"]["b"])))
    expected = h @ p["04_dense"]["w"] + p["04_dense"]["b"]
    for train in (False, True):
        out, _ = prog.apply(params, state, jnp.asarray(x, jnp.float32), train=train)
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    fns = make_functions(prog, n_train=10, batch=10)
    np.testing.assert_allclose(
        fns.predict(params, state, jnp.asarray(x, jnp.float32)), expected, rtol=1e-6, atol=1e-6
    )
    assert [k for k in params] == ["00_dense", "02_dense", "04_dense"]
    assert params["00_dense"]["w"].shape == (6, 16)


def test_dense_before_selu_gets_lecun_normal():
    prog = program(
        "dense 256; selu; dense 256; relu; dense 256 init=glorot_normal; selu; dense 1",
        input_shape=(400,),
    )
    assert [getattr(layer, "init", None) for layer in prog.layers[::2]] == [
        "lecun_normal",
        "glorot_uniform",
        "glorot_normal",
        "glorot_uniform",
    ]
    params, _ = prog.init(jax.random.PRNGKey(0))
    # lecun_normal: std sqrt(1/fan_in); glorot_uniform here: std sqrt(2/(fan_in+fan_out))
    assert float(jnp.std(params["00_dense"]["w"])) == pytest.approx(math.sqrt(1 / 400), rel=0.05)
    assert float(jnp.std(params["02_dense"]["w"])) == pytest.approx(math.sqrt(2 / 512), rel=0.05)


# -- batchnorm -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5,), (4, 5)])
def test_batchnorm_train_and_eval(shape):
    m, eps = 0.8, 1e-3
    prog = program(f"batchnorm momentum={m} eps={eps}", input_shape=shape)
    params, state = prog.init(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(state["00_batchnorm"]["mean"], np.zeros(5))
    np.testing.assert_array_equal(state["00_batchnorm"]["var"], np.ones(5))
    params = {"00_batchnorm": {"gamma": jnp.arange(1.0, 6.0), "beta": jnp.arange(5.0) - 2}}
    x = np.asarray(3.0 + 2.0 * jax.random.normal(jax.random.PRNGKey(1), (16, *shape)), np.float64)
    gamma, beta = np.arange(1.0, 6.0), np.arange(5.0) - 2
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axis=axes), x.var(axis=axes)

    out, new = prog.apply(params, state, jnp.asarray(x, jnp.float32), train=True)
    np.testing.assert_allclose(
        out, (x - mean) / np.sqrt(var + eps) * gamma + beta, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(new["00_batchnorm"]["mean"], (1 - m) * mean, rtol=1e-5)
    np.testing.assert_allclose(new["00_batchnorm"]["var"], m + (1 - m) * var, rtol=1e-5)

    # evaluation: the running statistics, not the batch's; the state is left alone
    run_mean, run_var = (
        np.asarray(new["00_batchnorm"]["mean"]),
        np.asarray(new["00_batchnorm"]["var"]),
    )
    out_eval, same = prog.apply(params, new, jnp.asarray(x, jnp.float32), train=False)
    np.testing.assert_allclose(
        out_eval, (x - run_mean) / np.sqrt(run_var + eps) * gamma + beta, rtol=1e-5, atol=1e-5
    )
    close(same, new)
    assert not np.allclose(out_eval, out, atol=1e-2)


def test_batchnorm_running_stats_follow_training():
    """Through the runtime: each step moves the running stats toward the batch's by momentum."""
    m = 0.9
    prog = program(f"batchnorm momentum={m}; dense 3")
    x, y = regression_data()
    mean, var = np.asarray(x).mean(0), np.asarray(x).var(0)
    fns = make_functions(prog, n_train=N_ROWS, batch=N_ROWS, shuffle=False)
    state = fns.init(0)
    for epoch in range(3):
        state, _ = fns.epoch(state, x, y, jnp.int32(epoch))
    # the batch is the whole (fixed) input, so after k steps: m^k * initial + (1 - m^k) * batch
    bn = state.model_state["00_batchnorm"]
    np.testing.assert_allclose(bn["mean"], (1 - m**3) * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn["var"], m**3 + (1 - m**3) * var, rtol=1e-5, atol=1e-6)


# -- dropout -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_dropout_masks_and_scales(rate):
    prog = program(f"dropout {rate}", input_shape=(1000,))
    x = jnp.ones((8, 1000))
    out_eval, _ = prog.apply({}, {}, x, train=False)
    np.testing.assert_array_equal(out_eval, x)

    out, _ = prog.apply({}, {}, x, train=True, rng=jax.random.PRNGKey(7))
    out = np.asarray(out)
    zeroed = np.mean(out == 0)
    assert abs(zeroed - rate) < 0.03  # 8000 draws: the standard error is < 0.006
    np.testing.assert_allclose(out[out != 0], 1.0 / (1.0 - rate), rtol=1e-6)
    again, _ = prog.apply({}, {}, x, train=True, rng=jax.random.PRNGKey(7))
    np.testing.assert_array_equal(again, out)
    other, _ = prog.apply({}, {}, x, train=True, rng=jax.random.PRNGKey(8))
    assert np.mean((np.asarray(other) == 0) != (out == 0)) > rate / 2


def test_dropout_rate_zero_is_identity_in_training():
    prog = program("dropout 0", input_shape=(50,))
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 50))
    out, _ = prog.apply({}, {}, x, train=True, rng=jax.random.PRNGKey(0))
    np.testing.assert_array_equal(out, x)


def test_dropout_mask_depends_on_seed_and_step_only():
    """In training the mask is a function of (seed, step): the same pair gives the same loss,
    another step or seed another mask (so another loss)."""
    prog = program("dropout 0.5; dense 3", optimizer="sgd lr=1e-9")
    x, y = regression_data()
    fns = make_functions(prog, n_train=N_ROWS, batch=N_ROWS, shuffle=False)

    def losses(seed: int, n: int) -> list[float]:
        state, out = fns.init(seed), []
        for epoch in range(n):
            state, stats = fns.epoch(state, x, y, jnp.int32(epoch))
            out.append(float(stats["loss"]))
        return out

    first = losses(0, 3)
    assert losses(0, 3) == first
    assert len(set(first)) == 3  # steps 0, 1, 2: three masks
    # another seed: other initial weights and masks, so compare masks through a zero-weight net
    prog0 = program("dropout 0.5", input_shape=(N_OUT,))
    fns0 = make_functions(prog0, n_train=N_ROWS, batch=N_ROWS, shuffle=False)
    x0 = jnp.asarray(np.random.default_rng(0).normal(size=(N_ROWS, N_OUT)), jnp.float32)
    zero_y = jnp.zeros_like(x0)
    loss_by_seed = {
        s: float(fns0.epoch(fns0.init(s), x0, zero_y, jnp.int32(0))[1]["loss"]) for s in (0, 1, 2)
    }
    assert len(set(loss_by_seed.values())) == 3


# -- activations against their formulas ----------------------------------------------------------

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _erf(x):
    return np.vectorize(math.erf)(x)


ACTIVATIONS = {
    "identity": ("identity", lambda x: x),
    "sigmoid": ("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
    "hard_sigmoid": ("hard_sigmoid", lambda x: np.clip((x + 3) / 6, 0, 1)),
    "relu": ("relu", lambda x: np.maximum(x, 0)),
    "leaky_relu": ("leaky_relu", lambda x: np.where(x >= 0, x, 0.01 * x)),
    "leaky_relu_0.2": ("leaky_relu 0.2", lambda x: np.where(x >= 0, x, 0.2 * x)),
    "elu": ("elu", lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    "elu_0.5": ("elu 0.5", lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
    "selu": ("selu", lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1))),
    "gelu": ("gelu", lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    "gelu_tanh": (
        "gelu approximate=true",
        lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    ),
    "tanh": ("tanh", lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))),
    "softplus": ("softplus", lambda x: np.log1p(np.exp(x))),
    "softmax": ("softmax", lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
}


@pytest.mark.parametrize("case", list(ACTIVATIONS))
def test_activation_formula(case):
    line, formula = ACTIVATIONS[case]
    x = np.linspace(-6, 6, 49, dtype=np.float64).reshape(7, 7)
    x = np.concatenate([x, [[-3.0, -1e-3, 0.0, 1e-3, 3.0, 0.5, -0.5]]])  # hinges and kinks
    prog = program(line, input_shape=(7,))
    for train in (False, True):
        out, _ = prog.apply({}, {}, jnp.asarray(x, jnp.float32), train=train)
        np.testing.assert_allclose(out, formula(x), rtol=1e-6, atol=1e-6)


def test_every_activation_has_a_formula():
    registered = {name for name, cls in LAYERS.items() if issubclass(cls, Activation)}
    covered = {line.split()[0] for line, _ in ACTIVATIONS.values()}
    assert registered == covered, f"add formulas for {sorted(registered - covered)}"


def test_hard_sigmoid_points():
    prog = program("hard_sigmoid", input_shape=(5,))
    out, _ = prog.apply({}, {}, jnp.array([[-4.0, -3.0, 0.0, 3.0, 4.0]]), train=False)
    assert np.asarray(out).tolist() == [[0.0, 0.0, 0.5, 1.0, 1.0]]


# -- L1 / L2 penalties ---------------------------------------------------------------------------


@pytest.mark.parametrize(("l1", "l2"), [(0.01, 0.0), (0.0, 0.001), (0.01, 0.001)])
def test_penalty_is_l1_l2_of_weights_only(l1, l2):
    model = "dense 6; batchnorm; relu; dense 3"
    prog = program(model, extra=f"regularize l1={l1} l2={l2}")
    plain = program(model)
    params, state = prog.init(jax.random.PRNGKey(0))
    # biases and batchnorm scales away from 0/1, so counting them would change the total
    params = jax.tree.map(lambda a: a + 0.5, params)
    weights = [np.asarray(params[k]["w"], np.float64) for k in ("00_dense", "03_dense")]
    expected = sum(l1 * np.abs(w).sum() + l2 * (w**2).sum() for w in weights)
    assert float(prog.penalty(params)) == pytest.approx(expected, rel=1e-5)
    assert float(plain.penalty(params)) == 0.0

    x, y = regression_data()
    w = jnp.ones(N_ROWS)
    with_pen, _ = prog.loss(params, state, x, y, w, None)
    without, _ = plain.loss(params, state, x, y, w, None)
    assert float(with_pen - without) == pytest.approx(expected, rel=1e-4)
    # the gradient of the penalty: l1 sign(w) + 2 l2 w on weights, nothing on biases
    g_pen = jax.jit(jax.grad(lambda p: prog.loss(p, state, x, y, w, None)[0]))(params)
    g_raw = jax.jit(jax.grad(lambda p: plain.loss(p, state, x, y, w, None)[0]))(params)
    for k, wk in zip(("00_dense", "03_dense"), weights, strict=True):
        np.testing.assert_allclose(
            g_pen[k]["w"] - g_raw[k]["w"], l1 * np.sign(wk) + 2 * l2 * wk, rtol=1e-4, atol=1e-6
        )
        np.testing.assert_allclose(g_pen[k]["b"], g_raw[k]["b"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        g_pen["01_batchnorm"]["gamma"], g_raw["01_batchnorm"]["gamma"], rtol=1e-6, atol=1e-7
    )


# -- bad input: one DlcError each, pointing at file:line:col with a hint ------------------------

GOOD = {
    "data": "data { digits; divide 16 }",
    "model": "model {\n  dense 32\n  relu\n  dropout 0.2\n  dense 10\n}",
    "loss": "loss cross_entropy",
    "optimizer": "optimizer adam lr=1e-3",
}


def write_spec(tmp_path, **replace: str):
    parts = {**GOOD, **replace}
    path = tmp_path / "bad.dl"
    path.write_text("\n".join(parts.values()) + "\n")
    return path


def locate(path, needle: str) -> str:
    """`file:line:col` of the first occurrence of `needle` in the file (of the `^` in it, if
    it has one: `lr=^0` is the 0 after `lr=`)."""
    before, _, after = needle.rpartition("^")
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if before + after in line:
            return f"{path}:{i}:{line.index(before + after) + len(before) + 1}"
    raise AssertionError(f"{needle!r} not in {path}")


BAD_SPECS = {
    "unknown optimizer": (
        {"optimizer": "optimizer adamm lr=1e-3"},
        "adamm",
        ["unknown optimizer `adamm`", "did you mean `adam`?"],
    ),
    "unknown activation": (
        {"model": "model {\n  dense 32\n  rleu\n  dense 10\n}"},
        "rleu",
        ["unknown layer `rleu`", "did you mean `relu`?"],
    ),
    "negative lr": (
        {"optimizer": "optimizer sgd lr=-0.1"},
        "-0.1",
        ["lr", "greater than 0", "-0.1"],
    ),
    "zero lr": ({"optimizer": "optimizer adam lr=0"}, "lr=^0", ["lr", "greater than 0"]),
    "dropout rate 1": (
        {"model": "model {\n  dense 32\n  dropout 1.0\n  dense 10\n}"},
        "1.0",
        ["rate", "less than 1"],
    ),
    "dropout rate negative": (
        {"model": "model {\n  dense 32\n  dropout -0.2\n  dense 10\n}"},
        "-0.2",
        ["rate", "greater than or equal to 0"],
    ),
    "negative weight decay": (
        {"optimizer": "optimizer adamw weight_decay=-1e-4"},
        "-1e-4",
        ["weight_decay", "greater than or equal to 0"],
    ),
    "unknown schedule": (
        {"schedule": "schedule warmup(10) then cosin"},
        "cosin",
        ["unknown schedule `cosin`", "did you mean `cosine`?"],
    ),
    "unknown optimizer setting": (
        {"optimizer": "optimizer sgd lr=0.1 momentun=0.9"},
        "momentun",
        ["has no setting `momentun`", "did you mean `momentum`?"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_spec_is_located_with_hint(tmp_path, case):
    replace, needle, fragments = BAD_SPECS[case]
    path = write_spec(tmp_path, **replace)
    with pytest.raises(DlcError) as info:
        load_spec(path)
    text = str(info.value)
    assert text.startswith(locate(path, needle) + ": error:"), text
    for fragment in fragments:
        assert fragment in text, text
    assert "^" in text  # the source line is shown with carets under the culprit


def test_output_width_must_match_the_classes(tmp_path):
    model = "model {\n  dense 16\n  relu\n  dense 3\n}"
    path = write_spec(tmp_path, model=model)
    with pytest.raises(DlcError) as info:
        CompiledModel.from_source(path)
    text = str(info.value)
    assert text.startswith(locate(path, "dense 3") + ": error:"), text
    assert "10 classes" in text and "3 logits" in text
    assert "hint: end the model with `dense 10`" in text


@pytest.mark.parametrize(("cell", "what"), [("", "is empty"), ("abc", "holds `abc`")])
def test_csv_bad_feature_value_names_file_and_row(tmp_path, cell, what):
    rows = ["a,b,y"] + [f"{i},{2 * i},{i % 2}" for i in range(10)]
    rows[5] = f"4,{cell},0"  # file row 6 (the header is row 1)
    csv_path = tmp_path / "table.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    spec = tmp_path / "bad.dl"
    spec.write_text(
        'data {\n  csv "table.csv" target=y features=[a, b]\n}\n'
        "model { dense 1 }\nloss mse\noptimizer sgd\n"
    )
    with pytest.raises(DlcError) as info:
        CompiledModel.from_source(spec)
    text = str(info.value)
    assert text.startswith(f"{csv_path}:row 6: error:"), text
    assert f"column `b` is numeric but this row {what}" in text
    assert "hint:" in text
    assert f"{spec}:2:3: note: the data source is declared here" in text


def test_errors_are_collected_not_just_the_first(tmp_path):
    path = write_spec(
        tmp_path,
        optimizer="optimizer sgd lr=-1",
        model="model {\n  dense 32\n  rleu\n  dense 10\n}",
    )
    with pytest.raises(DlcError) as info:
        load_spec(path)
    assert len(info.value.diagnostics) == 2
    text = str(info.value)
    assert locate(path, "rleu") in text and locate(path, "-1") in text


# -- `dlc schedule` prints the schedule without training ----------------------------------------


def test_dlc_schedule_prints_the_learning_rates(tmp_path, capsys, monkeypatch):
    spec = tmp_path / "sched.dl"
    spec.write_text(
        "data { digits }\nmodel { dense 10 }\nloss cross_entropy\n"
        "optimizer adam lr=0.01\nschedule warmup(10) then cosine\n"
        "train { batch 100; epochs 5 }\n"
    )
    import dlc.runtime.train.step as trainer

    def no_training(*a, **k):
        raise AssertionError("dlc schedule must not train")

    monkeypatch.setattr(trainer, "make_functions", no_training)
    assert cli.main(["schedule", str(spec), "--steps-per-epoch", "20"]) == 0
    out = capsys.readouterr().out
    assert "100 steps, 20 per epoch" in " ".join(out.split())
    rows = {
        int(m[1]): float(m[3])
        for m in re.finditer(r"│\s*(\d+)\s*│\s*([\d.]+)\s*│\s*([\d.e+-]+)", out)
    }
    assert rows[0] == 0.0
    assert rows[10] == pytest.approx(0.01, rel=1e-5)
    assert rows[50] == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi * 40 / 90)), rel=1e-4)
    assert rows[99] == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi * 89 / 90)), rel=1e-3)

    # without --steps-per-epoch it counts the spec's training rows (digits: 1797 less 20 %)
    assert cli.main(["schedule", str(spec)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    n_train = len(prepare(load_spec(spec)).parts["train"][0])
    assert 1400 < n_train < 1500
    per_epoch = -(-n_train // 100)
    assert f"{5 * per_epoch} steps, {per_epoch} per epoch" in out
