"""What specs/reproduce.py measures: one `Table` per `<!-- reproduce:NAME -->` block of
specs/README.md, each a list of specs (rows), what to measure of each trained model (columns)
and the training seeds. Adding a row here and running `python specs/reproduce.py --only NAME`
puts it, measured, into the README."""

from __future__ import annotations

import itertools
import math
import statistics

from reproduce import Column, Notes, Row, Table, Trained, metric


def small_weights(trained: Trained, below: float = 0.01) -> float:
    """How many weights of l1_weather.dl's dense layer are smaller than `below` in size."""
    import numpy as np

    if trained.row.spec != "l1_weather.dl":
        return math.nan

    first = next(iter(trained.model.params.values()))
    return float(np.sum(np.abs(np.asarray(first["w"])) < below))


def grad_norm(which: int) -> Column:
    """The last recorded gradient norm of the `which`-th dense layer (negative: from the end)."""
    names = {0: "first layer", -2: "last hidden layer", -1: "output layer"}

    def get(trained: Trained) -> float:
        rows = [r for r in trained.result.history if any(k.startswith("grad_norm/") for k in r)]
        if not rows:
            return math.nan
        keys = sorted(k for k in rows[-1] if k.startswith("grad_norm/") and "dense" in k)
        return float(rows[-1][keys[which]])

    return Column(f"gradient norm, {names[which]}", get, 2)


def mse(part: str) -> Column:
    """Mean squared error on a part: the `mse` metric, or the loss when the loss is MSE."""

    def get(trained: Trained) -> float:
        got = trained.metric(part, "mse")
        if math.isnan(got) and trained.model.spec.loss.dl_name == "mse":
            got = trained.metric(part, "loss")
        return got

    return Column(f"{part} MSE", get)


def epochs(trained: Trained) -> float:
    return float(len(trained.result.history))


MSE = (
    Column("train MSE", metric("train", "loss")),
    Column("valid MSE", metric("valid", "loss")),
    Column("test MSE", metric("test", "loss")),
)


def lecture_findings(linear: tuple[Row, ...], flexible: tuple[Row, ...]) -> Notes:
    """The lecture's two findings, checked on the measured means (columns: train, valid, test):
    which window is best for the linear model, and whether each flexible model beats the best
    linear model (chosen by validation MSE) on both validation and test."""

    def notes(values: dict[Row, list[list[float]]]) -> str:
        def mean(row: Row, col: int) -> float:
            return statistics.fmean(values[row][col])

        steps = ", ".join(
            f"{100 * (mean(b, col) / mean(a, col) - 1):+.0f} %"
            for col in (1, 2)
            for a, b in itertools.pairwise(linear)
        )
        n = len(linear) - 1
        parts = steps.split(", ")
        growth = (
            "From each linear model to the next longer window the mean MSE changes by "
            f"{', '.join(parts[:n])} (validation) and {', '.join(parts[n:])} (test)."
        )
        best_valid = min(linear, key=lambda r: mean(r, 1))
        best_test = min(linear, key=lambda r: mean(r, 2))
        out = [
            growth,
            "Linear models: the lowest mean validation MSE is "
            f"{best_valid.cell()}'s, the lowest mean test MSE {best_test.cell()}'s.",
        ]
        for row in flexible:
            wins = [
                part
                for col, part in ((1, "validation"), (2, "test"))
                if mean(row, col) < mean(best_valid, col)
            ]
            verdict = " and ".join(wins) if wins else "neither part"
            out.append(
                f"{row.cell()} beats the best linear model ({best_valid.cell()}) on {verdict}."
            )
        return " ".join(out)

    return notes


BIRTHS_LINEAR = (
    Row("births_linear.dl"),
    Row("births_linear.dl", overrides=("data.window=7",)),
    Row("births_linear.dl", overrides=("data.window=28",)),
    Row("births_linear.dl", overrides=("data.window=56",)),
)
BIRTHS_FLEXIBLE = (Row("births_sigmoids.dl"), Row("births_relu.dl"))

LECTURE1 = Table(
    "lecture1",
    BIRTHS_LINEAR + BIRTHS_FLEXIBLE,
    MSE,
    seeds=(0, 1, 2, 3, 4),
    notes=lecture_findings(BIRTHS_LINEAR, BIRTHS_FLEXIBLE),
)

WEATHER_LINEAR = (
    Row("linear.dl"),
    Row("linear_7days.dl"),
    Row("linear_7days.dl", overrides=("data.window=28",)),
    Row("linear_7days.dl", overrides=("data.window=56",)),
)
WEATHER_FLEXIBLE = (Row("sigmoids.dl"), Row("sigmoids_28days.dl"), Row("relu_deep.dl"))

LECTURE1_WEATHER = Table(
    "lecture1-weather",
    WEATHER_LINEAR + WEATHER_FLEXIBLE,
    MSE,
    seeds=(0, 1, 2, 3, 4),
    notes=lecture_findings(WEATHER_LINEAR, WEATHER_FLEXIBLE),
)

CONCEPTS = Table(
    "lecture1-concepts",
    (
        Row("csv_columns.dl"),
        Row("category_ids.dl"),
        Row("csv_missing.dl"),
        Row("stream_weather.dl"),
        Row("parquet_weather.dl"),
        Row("hard_sigmoids.dl"),
        Row("relu_hard_sigmoids.dl"),
        Row("mae_weather.dl"),
        Row("l1_weather.dl"),
        Row("l1_weather.dl", overrides=("regularize.l1=0",)),
    ),
    (
        Column("valid loss", metric("valid", "loss")),
        Column("test loss", metric("test", "loss")),
        Column("valid MSE (mae_weather)", metric("valid", "mse")),
        Column("test MSE (mae_weather)", metric("test", "mse")),
        Column("first-layer weights below 0.01 (l1_weather)", small_weights),
    ),
)

VANISHING = Table(
    "vanishing",
    (
        Row("vanishing_gradients.dl"),
        # the same network with every sigmoid replaced (paths: grammar/README.md); with the
        # spec's plain SGD at lr 0.01 the ReLU and SELU nets diverge, so these rows clip the
        # gradient's global norm at 1 (the sigmoid net too, for a like-for-like row)
        Row("vanishing_gradients.dl", overrides=("optimizer.clip=1.0",)),
        Row("vanishing_gradients.dl", overrides=("model.sigmoid[*]=relu", "optimizer.clip=1.0")),
        Row("vanishing_gradients.dl", overrides=("model.sigmoid[*]=selu", "optimizer.clip=1.0")),
    ),
    (
        grad_norm(0),
        grad_norm(-2),
        grad_norm(-1),
        Column("valid MSE", metric("valid", "loss")),
    ),
)

CLASSIFICATION = Table(
    "classification",
    tuple(
        Row(s)
        for s in (
            "digits_mlp.dl",
            "digits_bf16.dl",
            "npz_digits.dl",
            "npy_digits.dl",
            "stream_digits.dl",
            "images_digits.dl",
            "images_augment.dl",
            "kl_digits.dl",
            "fizzbuzz.dl",
            "selu_mlp.dl",
            "schedules.dl",
            "plateau.dl",
            *(
                f"optimizers/{o}.dl"
                for o in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
            ),
            "resnet_small.dl",
        )
    ),
    (
        Column("test accuracy", metric("test", "accuracy")),
        Column("test loss", metric("test", "loss")),
        Column("epochs", epochs),
    ),
)

LOSSES = Table(
    "losses",
    (
        Row("focal_digits.dl"),
        Row("huber_weather.dl"),
        Row("bce_sentiment.dl"),
        Row("hinge_sentiment.dl"),
        Row("class_weights_weather.dl"),
        Row("class_weights_weather.dl", overrides=("loss.class_weights=none",)),
    ),
    (
        Column("test accuracy", metric("test", "accuracy")),
        Column("test macro F1", metric("test", "f1")),
        Column("test ROC AUC", metric("test", "roc_auc")),
        Column("test R²", metric("test", "r2")),
        Column("test MAE", metric("test", "mae")),
    ),
)

WEATHER_MODELS = Table(
    "weather-models",
    (
        Row("sigmoids.dl"),
        Row("gru_weather.dl"),
        Row("branch_weather.dl"),
        Row("inputs_weather.dl"),
        Row("plugins/swish_weather.dl", plugin="plugins/weather_plugin.py"),
    ),
    (
        mse("valid"),
        mse("test"),
        Column("test MAE", metric("test", "mae")),
        Column("test R²", metric("test", "r2")),
        Column("test within 2 °C", metric("test", "within_2")),
    ),
)

# lecture 1's depth x activation: each cell is the experiment's grid point, trained as a run
# (`dlc experiment specs/depth_activation.dl` trains the same cells as lanes: equal to 1e-5)
DEPTH_ACTIVATION = Table(
    "depth-activation",
    tuple(
        Row(
            "depth_activation.dl",
            label=f"{depth} × `dense 16; {act}`",
            overrides=(f"model.repeat={depth}", f"model.repeat.hidden.act={act}"),
        )
        for depth in (1, 2, 3, 4)
        for act in ("relu", "sigmoid")
    ),
    MSE,
    seeds=(0, 1, 2, 3, 4),
)

TABLES = (
    LECTURE1,
    LECTURE1_WEATHER,
    DEPTH_ACTIVATION,
    CONCEPTS,
    VANISHING,
    CLASSIFICATION,
    LOSSES,
    WEATHER_MODELS,
)
