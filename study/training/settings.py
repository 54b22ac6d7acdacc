"""How the study's models are trained: the settings, the evaluation batch size, divergence.

The training itself is ``trainer.train_repeats`` (one seed or several); this module holds what it
and the objective share, and imports neither Keras nor Optuna.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the trial fails with this as its reason."""


@dataclass(frozen=True)
class TrainSettings:
    """How every model of a study is trained (the notebook's values by default).

    Attributes:
        epochs: Epochs per trial.
        batch_size: Training batch size.
        eval_batch_size: Batch size for validation and test evaluation; it changes only speed,
            not the figures (evaluation has no batch-dependent state).
        learning_rate: Adam's learning rate for configurations that choose none (the run's
            ``--learning-rate``); the objective puts it in each ``ModelSpec``.
    """

    epochs: int = 5
    batch_size: int = 32
    eval_batch_size: int = 1024
    learning_rate: float = 1e-3


#: The smallest batch size ``even_eval_batch_size`` picks over a remainder batch.
MIN_EVEN_BATCH = 64


def even_eval_batch_size(sizes: Iterable[int], largest: int) -> int:
    """The largest batch size up to ``largest`` that splits every set into equal batches.

    A last, smaller batch has a new shape, and JAX and XLA compile the evaluation step again for
    it, for the validation and the test remainders alike (5,000 and 25,000 reviews at 1,024
    leave 904 and 424). At 1,000 both split evenly and one
    compiled step serves both. The figures do not change: evaluation is per example. Falls back
    to ``largest`` when the best even size is under 64 (many tiny batches would cost more).

    Args:
        sizes: Number of examples in each evaluated set (validation, test).
        largest: The largest batch size wanted.
    """
    common = math.gcd(*sizes)
    if common == 0:
        return largest
    best = max(d for d in range(1, min(common, largest) + 1) if common % d == 0)
    return best if best >= MIN_EVEN_BATCH else largest
