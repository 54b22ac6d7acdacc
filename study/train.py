"""Fits and evaluates one model on the study's data; reports epochs through Keras callbacks.

Nothing here knows about Optuna: the objective passes its pruning callback in like any other.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import keras

from study.data import Dataset


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
        learning_rate: Adam's learning rate.
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
    it: on our 2-core machine about 1-2 s per trial for the validation and test remainders
    (5,000 and 25,000 reviews at 1,024 leave 904 and 424). At 1,000 both split evenly and one
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


class EpochRecorder(keras.callbacks.Callback):
    """Keeps what a trial must record even when training stops early (pruned or diverged)."""

    def __init__(self) -> None:
        super().__init__()
        self.val_accuracy: list[float] = []
        self.loss: list[float] = []
        self.seconds = 0.0
        self._start = 0.0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        self.seconds = time.perf_counter() - self._start
        self.loss.append(float(logs.get("loss", math.nan)))
        self.val_accuracy.append(float(logs.get("val_accuracy", math.nan)))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.seconds = time.perf_counter() - self._start

    @property
    def epochs_run(self) -> int:
        """Epochs that completed."""
        return len(self.val_accuracy)


def fit(
    model: keras.Model,
    data: Dataset,
    settings: TrainSettings,
    recorder: EpochRecorder,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> None:
    """Trains on the training split, validating on the held-out split after every epoch.

    Raises:
        TrainingDiverged: The loss became NaN or infinite.
    """
    model.fit(
        data.x_train,
        data.y_train,
        batch_size=settings.batch_size,
        epochs=settings.epochs,
        validation_data=(data.x_val, data.y_val),
        validation_batch_size=settings.eval_batch_size,
        # The recorder runs first so that a pruning callback raising later still finds it updated;
        # the divergence check runs next, so no later callback (a pruner) judges a NaN epoch.
        callbacks=[
            recorder,
            keras.callbacks.TerminateOnNaN(),
            DivergenceCheck(recorder),
            *(callbacks or []),
        ],
        verbose=0,
    )
    _check_finite(recorder)


class DivergenceCheck(keras.callbacks.Callback):
    """Raises ``TrainingDiverged`` at the end of an epoch whose loss is NaN or infinite.

    ``TerminateOnNaN`` only asks fit() to stop after the batch: Keras still validates and calls
    every ``on_epoch_end``, where a pruning callback could raise ``TrialPruned`` and record a
    diverged trial as PRUNED. Raising here first makes it FAIL, with its reason.
    """

    def __init__(self, recorder: EpochRecorder) -> None:
        super().__init__()
        self._recorder = recorder

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        _check_finite(self._recorder)


def _check_finite(recorder: EpochRecorder) -> None:
    bad = [epoch for epoch, loss in enumerate(recorder.loss, start=1) if not math.isfinite(loss)]
    if bad:
        raise TrainingDiverged(f"loss became NaN or infinite in epoch {bad[0]}")


def evaluate(model: keras.Model, x: Any, y: Any, settings: TrainSettings) -> tuple[float, float]:
    """Returns ``(loss, accuracy)`` on the given arrays."""
    loss, accuracy = model.evaluate(x, y, batch_size=settings.eval_batch_size, verbose=0)
    return float(loss), float(accuracy)
