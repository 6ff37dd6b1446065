"""The validated spec: frozen Pydantic models, unknown keys forbidden.

A section statement (`data { ... }`, `train { ... }`) becomes one of these models; each statement
inside it sets a field. Fields typed with a registry base (`Layer`, `Loss`, ...) are looked up
by name in that registry.

Example:
    >>> Train(batch=64).epochs
    100
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from dlc.compiler.distributions import Distribution
from dlc.compiler.layers.base import Layer
from dlc.compiler.losses import Loss
from dlc.compiler.optimizers import Optimizer
from dlc.compiler.registry import SpecModel
from dlc.compiler.schedules import Constant, Schedule
from dlc.compiler.sources import Source


class Window(SpecModel):
    """Features are the previous `size` rows of the feature columns (a time series)."""

    size: PositiveInt
    positional = ("size",)


class Split(SpecModel):
    """Fractions of the rows; `train` defaults to the rest. With no fraction written, valid
    and test are 0.1 each; once any fraction is written, the omitted ones are 0. `order`:
    time (in order, for series), shuffle, or stratified (per class, for classification);
    default by task. `seed` draws the shuffle (default: `train.seed`)."""

    train: float | None = Field(None, gt=0.0, le=1.0)
    valid: float | None = Field(None, ge=0.0, lt=1.0)
    test: float | None = Field(None, ge=0.0, lt=1.0)
    order: Literal["time", "shuffle", "stratified"] | None = None
    seed: int | None = None

    @model_validator(mode="after")
    def _sums_to_one(self) -> Split:
        f = self.fractions()
        total = sum(f.values())
        if abs(total - 1.0) > 1e-6:
            written = " + ".join(f"{k}={v:g}" for k, v in f.items() if v)
            raise ValueError(f"split fractions must add up to 1: {written} = {total:g}")
        if f["train"] <= 0:
            raise ValueError("split leaves no rows for training")
        return self

    def fractions(self) -> dict[str, float]:
        written = (self.train, self.valid, self.test) != (None, None, None)
        default = 0.0 if written else 0.1
        valid = self.valid if self.valid is not None else default
        test = self.test if self.test is not None else default
        train = self.train if self.train is not None else 1.0 - valid - test
        return {"train": train, "valid": valid, "test": test}


class Normalize(SpecModel):
    """Feature normalization with statistics from the training part only."""

    method: Literal["standard", "minmax", "none"] = "standard"
    positional = ("method",)


class Input(SpecModel):
    """`input temps [temp_max, temp_min]`: a named input, a group of the source's feature
    columns (names, positions in the feature list, ranges `"a:b"`, globs), read in the model by
    the layer `input temps` (a window repeats the group for every day, oldest first)."""

    name: str = Field(min_length=1)
    columns: list[str | int] = Field(min_length=1)
    positional = ("name", "columns")


class Augment(SpecModel):
    """Random changes to each training image, drawn anew every step on the device inside the
    jitted step (from the run's key), never at evaluation or prediction: `crop=P` pads each
    side by P zero pixels and cuts a random H x W window back out; `flip=true` mirrors an
    image left-right with probability 1/2; `brightness=B` adds one value drawn uniformly from
    [-B, B] to every pixel of an image, in the units the model sees (after divide/normalize)."""

    crop: int = Field(0, ge=0, le=64)
    flip: bool = False
    brightness: NonNegativeFloat = 0.0

    @model_validator(mode="after")
    def _something(self) -> Augment:
        if not (self.crop or self.flip or self.brightness):
            raise ValueError("augment needs crop=P, flip=true or brightness=B")
        return self


class Data(SpecModel):
    source: Source
    window: Window | None = None
    split: Split = Split()
    divide: float | None = Field(None, gt=0)  # divide features by a constant (pixels: 255)
    normalize: Normalize = Normalize(method="none")
    # regression targets: the model learns standardized values, reports original units
    normalize_target: Normalize = Normalize(method="none")
    # named inputs (`input NAME [columns]`, repeated), read by the model's `input NAME` layers
    input: tuple[Input, ...] = ()
    # training images: random crop, flip and brightness, on the device (`runtime/train/augment`)
    augment: Augment | None = None
    slots: ClassVar[dict[str, str]] = {"source": "data source"}
    hash_omit: ClassVar[frozenset[str]] = frozenset({"input", "augment"})


class Model(SpecModel):
    layers: tuple[Layer, ...] = Field(min_length=1)


class EarlyStop(SpecModel):
    """Stop when `monitor` has not improved by `min_delta` for `patience` epochs."""

    monitor: str = "valid_loss"
    patience: PositiveInt = 10
    min_delta: NonNegativeFloat = 0.0
    restore_best: bool = True
    positional = ("patience",)


class Train(SpecModel):
    batch: PositiveInt = 32
    epochs: PositiveInt = 100
    seed: int = 0
    shuffle: bool = True
    early_stop: EarlyStop | None = None
    eval_every: PositiveInt = 1
    checkpoint_every: PositiveInt = 1  # epochs between checkpoints (and one at the end)
    # training steps per jitted call: N, `all` (the epoch in one scan) or `auto` (by model)
    steps_per_call: PositiveInt | Literal["all", "auto"] = "auto"
    # data-parallel over this many devices (`all`: every device JAX sees); 1: one device
    devices: PositiveInt | Literal["all"] = 1
    # per-layer L2 norms of the loss gradient at evaluation epochs, as `grad_norm/<layer>`
    grad_norms: bool = False
    # `bf16`: the forward and backward passes in bfloat16, float32 master weights and
    # optimizer state (`Program.apply`)
    precision: Literal["f32", "bf16"] = "f32"
    # memory for the data arrays, in MB (`auto`: half the memory available when the data is
    # prepared); a memory-mappable source (`npy`) larger than this is streamed from disk
    memory_mb: PositiveFloat | Literal["auto"] = "auto"
    hash_omit: ClassVar[frozenset[str]] = frozenset({"precision", "memory_mb"})

    @field_validator("steps_per_call", mode="before")
    @classmethod
    def _steps_per_call(cls, v: object) -> object:
        if v in ("all", "auto") or (isinstance(v, int) and not isinstance(v, bool) and v > 0):
            return v
        raise ValueError("steps_per_call is a positive number of steps, `all` or `auto`")

    @field_validator("devices", mode="before")
    @classmethod
    def _devices(cls, v: object) -> object:
        if v == "all" or (isinstance(v, int) and not isinstance(v, bool) and v > 0):
            return v
        raise ValueError("devices is a positive number of devices or `all`")

    @field_validator("memory_mb", mode="before")
    @classmethod
    def _memory_mb(cls, v: object) -> object:
        if v == "auto" or (isinstance(v, int | float) and not isinstance(v, bool) and v > 0):
            return v
        raise ValueError("memory_mb is a positive number of megabytes or `auto`")


class Regularize(SpecModel):
    """Penalties added to the loss on weights (not biases or normalization scales)."""

    l1: NonNegativeFloat = 0.0
    l2: NonNegativeFloat = 0.0


class Grid(SpecModel):
    """`grid "optimizer.lr" [1e-3, 1e-2]`: values for one setting, named by its `--set` path."""

    key: str = Field(min_length=1)
    values: list[float | int | bool | str] = Field(min_length=1)
    positional = ("key", "values")


class Param(SpecModel):
    """`param "optimizer.lr" loguniform(1e-4, 0.1)`: a searched setting, named by its `--set`
    path, and the distribution its values are drawn from."""

    key: str = Field(min_length=1)
    dist: Distribution
    positional = ("key", "dist")


class Search(SpecModel):
    """`search bayes trials=40 batch=8 { param ... }`: random or Bayesian (TPE) search over the
    `param` settings; `batch` trials at a time are trained as lanes. `prune` stops trials whose
    intermediate validation values fall below the median of finished trials at that epoch."""

    method: Literal["random", "bayes"]
    trials: PositiveInt = 20
    batch: PositiveInt = 8
    seed: int | None = None  # the sampler's seed; default: train.seed
    prune: bool = False
    param: tuple[Param, ...] = ()
    positional = ("method",)

    @model_validator(mode="after")
    def _has_params(self) -> Search:
        if not self.param:
            raise ValueError('a search needs at least one `param "PATH" DISTRIBUTION` line')
        return self


class Experiment(SpecModel):
    """Cross-validation folds, seeds and hyperparameter grids, trained as lanes of one program
    (`dlc experiment`). A repeated `grid` statement adds a grid axis; `search` samples settings
    instead of a grid."""

    folds: int | None = Field(None, ge=2)  # N-fold cross-validation over train + valid
    seeds: list[int] | None = Field(None, min_length=1)  # default: [train.seed]
    grid: tuple[Grid, ...] = ()
    monitor: str | None = None  # default: the early-stop monitor, else valid_loss
    retrain: bool = False  # retrain the best setting on train + valid, evaluate on test
    memory_mb: PositiveFloat = 4096.0  # budget for all lanes at once; more lanes run in chunks
    search: Search | None = None  # random or Bayesian search instead of a grid
    # left out of the canonical JSON while None: specs written before it keep their hashes
    hash_omit: ClassVar[frozenset[str]] = frozenset({"search"})


class Spec(SpecModel):
    data: Data
    model: Model
    loss: Loss
    optimizer: Optimizer
    schedule: Schedule = Constant()
    train: Train = Train()
    regularize: Regularize = Regularize()
    experiment: Experiment | None = None


SECTION_DOCS = {
    "data": "the data source and how it is split and normalized",
    "model": "the layers, in order",
    "loss": "the loss, e.g. `loss mse`",
    "optimizer": "the optimizer, e.g. `optimizer adam lr=1e-3`",
    "schedule": "the learning-rate schedule, e.g. `schedule warmup(200) then cosine`",
    "train": "batch size, epochs, seed, early stopping",
    "regularize": "L1/L2 penalties, e.g. `regularize l2=1e-4`",
    "experiment": "folds, seeds and grids, e.g. `experiment { folds 5; seeds [0, 1] }`",
}
