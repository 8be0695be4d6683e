"""Typed, frozen configs, one per component, composed into one `Experiment`.

Field types and `Literal` choices are checked by `loader`; the ranges of values are checked here, in
`__post_init__`, so a config built in code is held to the same rules as one read from YAML.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from tune_clothes.config.dataset import DatasetConfig
from tune_clothes.config.errors import ConfigError, require
from tune_clothes.config.metric_names import OPTIMISABLE, VAL_ACC
from tune_clothes.config.search_space import Axis, Choice
from tune_clothes.config.trial_record import SearchMode, search_mode

#: The original project's networks; `model.name` may also be any torchvision one (`training.networks` checks it).
PROJECT_MODELS = ("resnet18", "fashion_cnn")
#: Their smallest input sides (resnet18 halves the image five times); a torchvision network's is found by trying.
MIN_IMAGE_SIZE = {"resnet18": 32, "fashion_cnn": 8}


@dataclass(frozen=True)
class ModelConfig:
    name: str = "fashion_cnn"  # resnet18, fashion_cnn, or any torchvision classification network
    pretrained: bool | str = False  # True: torchvision's default ImageNet weights; a string: a local weights file
    freeze_backbone: bool = False  # train only the new classifier (the head, for resnet18)

    def __post_init__(self) -> None:
        require(bool(self.name.strip()), "model.name", self.name, "name a network, e.g. resnet18")
        require(self.pretrained is False or self.name != "fashion_cnn", "model.pretrained", self.pretrained,
                "fashion_cnn has no pretrained weights: set it to false")
        require(not self.freeze_backbone or self.name != "fashion_cnn", "model.freeze_backbone",
                self.freeze_backbone, "fashion_cnn has no pretrained backbone to freeze: set it to false")


@dataclass(frozen=True)
class AugmentConfig:
    """The original project's train-time augmentation; every probability and range is here."""
    p_geometric: float = 0.5  # one of shift-scale-rotate / rotate / scale
    shift_limit: float = 0.0625  # fraction of the image side
    scale_limit: float = 0.1  # +- fraction
    rotate_limit: int = 15  # degrees
    p_flip: float = 0.5
    p_noise: float = 0.2
    noise_std: tuple[float, float] = (0.02, 0.1)  # fraction of the pixel range
    p_blur: float = 0.2  # one of blur / gaussian blur / median blur
    blur_limit: int = 3  # largest kernel side, odd
    p_color: float = 0.3  # one of brightness-contrast / colour jitter
    brightness_limit: float = 0.2
    contrast_limit: float = 0.2
    p_downscale: float = 0.1  # the original project's "upsampling-downsampling"
    downscale_range: tuple[float, float] = (0.5, 0.9)  # fraction of the side to shrink to before upscaling

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name.startswith("p_"):
                value = getattr(self, f.name)
                require(0.0 <= value <= 1.0, f"augment.{f.name}", value, "a probability must be in [0, 1]")
        require(self.blur_limit >= 3 and self.blur_limit % 2 == 1, "augment.blur_limit", self.blur_limit,
                "must be an odd kernel size of at least 3")
        for name in ("noise_std", "downscale_range"):
            low, high = getattr(self, name)
            require(0.0 < low <= high <= 1.0, f"augment.{name}", [low, high], "must be [low, high] in (0, 1]")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    step_lr: bool = False  # StepLR as in the original project
    step_size: int = 10  # epochs between lr drops
    gamma: float = 0.1  # lr factor at each drop
    class_weights: bool = False  # weight the loss by inverse class frequency
    augment: bool = True  # False: train with the eval pipeline
    image_size: int = 224  # side of the square input, pixels
    seed: int = 0
    num_workers: int = 0  # DataLoader worker processes per trial

    def __post_init__(self) -> None:
        require(self.epochs >= 1, "train.epochs", self.epochs, "must be at least 1")
        require(self.batch_size >= 1, "train.batch_size", self.batch_size, "must be at least 1")
        require(0.0 < self.lr <= 10.0, "train.lr", self.lr, "must be in (0, 10]")
        require(self.weight_decay >= 0.0, "train.weight_decay", self.weight_decay, "must be >= 0")
        require(self.step_size >= 1, "train.step_size", self.step_size, "must be at least 1 epoch")
        require(0.0 < self.gamma <= 1.0, "train.gamma", self.gamma, "must be in (0, 1]")
        require(8 <= self.image_size <= 2048, "train.image_size", self.image_size, "must be in [8, 2048] pixels")
        require(self.num_workers >= 0, "train.num_workers", self.num_workers, "must be >= 0")


@dataclass(frozen=True)
class CVConfig:
    folds: int = 5  # K: stratified folds, or K shuffled splits when `split` is set
    split: float | None = None  # train fraction of each split (the original project's 0.7 / 0.8); None: K-fold
    seed: int = 0
    test_fraction: float = 0.0  # locked, stratified holdout that no search sees
    repeats: int = 1  # R: independent repetitions of the K folds (or splits), each with its own seed
    group_by: str | None = None  # a column of the CSV (images.csv's sender_id): a group never straddles a fold

    def __post_init__(self) -> None:
        require(2 <= self.folds <= 100, "cv.folds", self.folds, "must be in [2, 100]")
        require(self.split is None or 0.0 < self.split < 1.0, "cv.split", self.split,
                "a train fraction must be in (0, 1), or null for K-fold")
        require(0.0 <= self.test_fraction < 0.5, "cv.test_fraction", self.test_fraction, "must be in [0, 0.5)")
        require(1 <= self.repeats <= 100, "cv.repeats", self.repeats, "must be in [1, 100]")
        require(self.group_by is None or bool(self.group_by.strip()), "cv.group_by", self.group_by,
                "name a column of the dataset's CSV (e.g. sender_id), or null")
        # StratifiedGroupKFold places groups greedily by their class mix, so another seed gives nearly the
        # same folds (adjusted Rand index 0.92-0.95 between seeds on the Clothing Dataset): a repeat would be
        # the same evidence counted twice, and the corrected interval would be too narrow.
        require(self.repeats == 1 or self.group_by is None, "cv.repeats", self.repeats,
                "grouped folds barely change with the seed, so repeats would count the same folds again: "
                "set cv.repeats to 1 (raise cv.folds instead), or cv.group_by to null")


@dataclass(frozen=True)
class ResourcesConfig:
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0  # a fraction (0.5) packs several trials on one GPU
    max_concurrent_trials: int | None = None  # None: as many as the resources allow

    def __post_init__(self) -> None:
        require(self.cpus_per_trial > 0, "resources.cpus_per_trial", self.cpus_per_trial, "must be > 0")
        gpus = self.gpus_per_trial
        require(gpus >= 0 and (gpus <= 1 or float(gpus).is_integer()), "resources.gpus_per_trial", gpus,
                "must be 0, a fraction of one GPU, or a whole number of GPUs")
        require(self.max_concurrent_trials is None or self.max_concurrent_trials >= 1,
                "resources.max_concurrent_trials", self.max_concurrent_trials, "must be at least 1, or null")


@dataclass(frozen=True)
class SearchConfig:
    algorithm: Literal["grid", "optuna"] = "grid"
    metric: str = VAL_ACC  # what the leaderboard ranks by, and what optuna/ASHA optimise
    grid: Mapping[str, Choice] = field(default_factory=dict)  # axis -> values (grid)
    space: Mapping[str, Axis] = field(default_factory=dict)  # axis -> choices or range (optuna)
    num_samples: int = 10  # configurations optuna proposes
    scheduler: Literal["none", "asha", "race"] = "none"
    grace_period: int = 1  # ASHA and race: epochs before a configuration can be stopped (the first rung)
    reduction_factor: int = 2  # ASHA and race: each rung is this many times the one before
    race_alpha: float = 0.05  # race: spent over its rungs, alpha / rungs at each look
    race_rule: Literal["ttest", "bayes"] = "bayes"  # race: statistics/race.py says what each is
    max_failures: int = 2  # retries of a crashed trial, each from its last checkpoint
    rope: float = 0.01  # region of practical equivalence with the best, in metric units (0.01 = 1 point of acc)

    @property
    def mode(self) -> str:
        return OPTIMISABLE[self.metric]

    @property
    def axes(self) -> dict[str, Axis]:
        """Every search axis and its values, whichever the algorithm (only one of grid and space is set)."""
        return {**self.grid, **self.space}

    @property
    def search_mode(self) -> SearchMode:
        """How the search lays out its trials: a trial per fold, or a trial per configuration (lock-step)."""
        return search_mode(self.algorithm, self.scheduler)

    @property
    def configurations(self) -> int:
        """The configurations the search runs: every one of a grid, or the ones Optuna proposes."""
        if self.algorithm == "grid":
            return math.prod(len(values.values) for values in self.grid.values())
        return self.num_samples

    def __post_init__(self) -> None:
        require(self.metric in OPTIMISABLE, "search.metric", self.metric, f"must be one of {sorted(OPTIMISABLE)}")
        require(self.num_samples >= 1, "search.num_samples", self.num_samples, "must be at least 1")
        require(self.grace_period >= 1, "search.grace_period", self.grace_period, "must be at least 1")
        require(self.reduction_factor >= 2, "search.reduction_factor", self.reduction_factor, "must be >= 2")
        require(self.max_failures >= 0, "search.max_failures", self.max_failures, "must be >= 0")
        require(self.rope >= 0.0, "search.rope", self.rope, "must be >= 0 (metric units, e.g. 0.01)")
        require(self.algorithm == "optuna" or not self.space, "search.space", dict(self.space),
                "ranges need search.algorithm: optuna; a grid takes lists under search.grid")
        require(self.algorithm == "grid" or bool(self.space), "search.space", dict(self.space),
                "optuna needs at least one axis, e.g. lr: {low: 1e-4, high: 1e-2}")
        require(self.algorithm == "grid" or not self.grid, "search.grid", dict(self.grid),
                "optuna samples from search.space; move the axes there as {choices: [...]}")
        require(0 < self.race_alpha < 1, "search.race_alpha", self.race_alpha, "must be between 0 and 1, e.g. 0.05")
        require(self.scheduler != "race" or "split" not in self.axes, "search.scheduler", self.scheduler,
                "the race compares configurations fold by fold, and a searched split gives them other folds: "
                "search split without the race, or race with one split")


@dataclass(frozen=True)
class Experiment:
    name: str = "experiment"
    storage: str = "~/ray_results"  # a local folder, a shared filesystem path, or s3://...
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    cv: CVConfig = field(default_factory=CVConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    def __post_init__(self) -> None:
        require(bool(self.name) and all(c.isalnum() or c in "-_." for c in self.name), "name", self.name,
                "use letters, digits, '-', '_' or '.' (it becomes a folder name)")
        smallest = MIN_IMAGE_SIZE.get(self.model.name, 1)
        require(self.train.image_size >= smallest, "train.image_size", self.train.image_size,
                f"{self.model.name} needs at least {smallest} pixels")
        require(self.cv.group_by is None or self.dataset.kind not in ("fashion_mnist", "image_folder"), "cv.group_by",
                self.cv.group_by, f"a {self.dataset.kind} dataset has no columns to group by (a csv dataset and the "
                f"Clothing Dataset's images.csv have): set it to null")

    @property
    def recipe(self) -> "Recipe":
        return Recipe(self.model, self.augment, self.train)

    @property
    def folds_per_configuration(self) -> int:
        """J = R*K: every fold of every repeat."""
        return self.cv.repeats * self.cv.folds

    @property
    def planned_trials(self) -> int:
        """The trials the search runs to its end."""
        return self.search.configurations * self.search.search_mode.trials_per_configuration(
            self.folds_per_configuration)

    def axis_values(self, axis: str) -> list:
        """Every value `axis` takes in this search: its choices, or the base value when it is not searched.

        Only for axes whose values are listed (a `Range` has no list: the loader refuses one where a list
        is needed)."""
        searched = self.search.axes.get(axis)
        if isinstance(searched, Choice):
            return list(searched.values)
        return [getattr(getattr(self, axis_section(axis)), axis)]

    def with_axes(self, values: Mapping[str, Any]) -> "Experiment":
        """This experiment with search-axis values applied (`{"lr": 0.01, "split": 0.8}`), validated."""
        by_section: dict[str, dict[str, Any]] = {}
        for axis, value in values.items():
            section = axis_section(axis)
            by_section.setdefault(section, {})[axis] = value
        changes = {s: dataclasses.replace(getattr(self, s), **v) for s, v in by_section.items()}
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Recipe:
    """The sections that say how one model is trained: all the training core needs of an experiment."""
    model: ModelConfig
    augment: AugmentConfig
    train: TrainConfig


#: Sections whose fields can be search axes, addressed by the bare field name (`lr`, `split`, `pretrained`).
AXIS_SECTIONS = ("train", "model", "cv")
#: Fields that describe the cross-validation itself rather than a configuration.
NOT_AXES = {"cv.folds", "cv.seed", "cv.test_fraction", "cv.repeats", "cv.group_by", "train.seed",
            "train.num_workers"}


def axis_names() -> dict[str, str]:
    """Every field that may be a search axis -> its section."""
    names: dict[str, str] = {}
    for section in AXIS_SECTIONS:
        section_type = Experiment.__dataclass_fields__[section].default_factory
        for f in dataclasses.fields(section_type):
            if f"{section}.{f.name}" not in NOT_AXES:
                names[f.name] = section
    return names


def axis_section(axis: str) -> str:
    names = axis_names()
    if axis not in names:
        raise ConfigError(f"search axis {axis!r} is not a field that can vary; choose from {sorted(names)}")
    return names[axis]
