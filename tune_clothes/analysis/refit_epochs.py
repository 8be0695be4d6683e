"""How long to train the final refit: as many optimizer steps as the search's fold models needed to reach
their best validation metric.

Each fold model k reached its best after e_k epochs of ceil(n_k / batch) steps (n_k: its training images).
The pool (every fold's training and validation images) is larger, so an epoch over it has more steps; the
refit trains round(mean_k(e_k * ceil(n_k / batch)) / ceil(n_pool / batch)) epochs, at least one, which is the
average fold's number of steps. StepLR's `step_size` (epochs) is scaled the same way, so the learning rate
drops after the same number of steps as in the search.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class EpochChoice:
    epochs: int  # what the refit trains
    rule_epochs: int  # what the rule gives (differs from `epochs` when overridden)
    fold_best_epochs: tuple[int, ...]  # epochs each fold model trained when its metric was best
    fold_steps: tuple[int, ...]  # optimizer steps each fold model had taken then
    pool_steps_per_epoch: int
    step_scale: float  # mean fold steps per epoch / pool steps per epoch: multiplies StepLR's step_size
    overridden: bool = False  # --epochs was given

    def scaled_step_size(self, step_size: int) -> int:
        return max(1, _round(step_size * self.step_scale))

    def explanation(self, metric: str, batch_size: int) -> str:
        mean_steps = sum(self.fold_steps) / len(self.fold_steps)
        rule = (f"as many optimizer steps as the fold models took to reach their best {metric}: they did after "
                f"{_listed(self.fold_best_epochs)} epochs, {mean_steps:.0f} steps on average (batch size "
                f"{batch_size}); an epoch over the pool is {self.pool_steps_per_epoch} steps, and {mean_steps:.0f} / "
                f"{self.pool_steps_per_epoch} = {mean_steps / self.pool_steps_per_epoch:.2f} -> {self.rule_epochs}")
        if self.overridden:
            return f"{self.epochs}, as --epochs asked (the search's rule gives {self.rule_epochs}: {rule})"
        return f"{self.epochs}, {rule}"

    @classmethod
    def from_json(cls, data: dict) -> "EpochChoice":
        return cls(data["epochs"], data["rule_epochs"], tuple(data["fold_best_epochs"]),
                   tuple(data["fold_steps_to_best"]), data["pool_steps_per_epoch"], data["step_scale"],
                   data["overridden"])

    def to_json(self) -> dict:
        return {"epochs": self.epochs, "rule_epochs": self.rule_epochs, "overridden": self.overridden,
                "fold_best_epochs": list(self.fold_best_epochs), "fold_steps_to_best": list(self.fold_steps),
                "pool_steps_per_epoch": self.pool_steps_per_epoch, "step_scale": self.step_scale}


def best_epoch(history: Sequence[float], mode: str) -> int:
    """Epochs trained when the metric was at its best (1-based); the first such epoch when tied, as the
    search's checkpoints keep it. NaN epochs never count."""
    pick = max if mode == "max" else min
    finite = [(value, i) for i, value in enumerate(history) if math.isfinite(value)]
    if not finite:
        raise ValueError("the metric is not finite in any epoch")
    best = pick(value for value, _ in finite)
    return next(i for value, i in finite if value == best) + 1


def refit_epochs(fold_best_epochs: Sequence[int], fold_train_sizes: Sequence[int], pool_size: int,
                 batch_size: int, override: int | None = None) -> EpochChoice:
    """The refit's epochs by the rule in this module's docstring, or `override` (--epochs) when given."""
    if not fold_best_epochs or len(fold_best_epochs) != len(fold_train_sizes):
        raise ValueError("need one best epoch and one training size per fold")
    per_epoch = [math.ceil(n / batch_size) for n in fold_train_sizes]
    steps = tuple(e * s for e, s in zip(fold_best_epochs, per_epoch))
    pool_per_epoch = math.ceil(pool_size / batch_size)
    rule = max(1, _round(sum(steps) / len(steps) / pool_per_epoch))
    return EpochChoice(override or rule, rule, tuple(fold_best_epochs), steps, pool_per_epoch,
                       sum(per_epoch) / len(per_epoch) / pool_per_epoch, override is not None)


def _round(x: float) -> int:
    return math.floor(x + 0.5)  # halves up, not to even


def _listed(values: Sequence[int]) -> str:
    words = [str(v) for v in values]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
