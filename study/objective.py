"""The Optuna objective: sample a ``ModelConfig``, build, train, evaluate and record one trial.

Each trial records, as user attributes, what reports and checks read: ``n_params``,
``train_seconds``, ``epochs_run``, ``val_accuracy``, ``test_accuracy``, ``test_loss``, ``device``,
``backend`` and ``seed`` (and ``fail_reason`` when it fails), and reports validation accuracy per
epoch as intermediate values. The test set is evaluated once, after training, and never returned.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Mapping
from typing import Any

import keras
import optuna
from optuna_integration import KerasPruningCallback

from search_spaces.lstm import suggest_params
from study.backend import device_name
from study.data import Dataset
from study.model import build_model
from study.seeds import trial_seed
from study.train import (
    EpochRecorder,
    TrainingDiverged,
    TrainSettings,
    evaluate,
    even_eval_batch_size,
    fit,
)
from study.workers import OWNER_ATTR, check_interrupt, owner_id


def trial_errors() -> tuple[type[Exception], ...]:
    """Errors that fail one trial but let the study go on.

    Divergence and running out of memory belong to a configuration, not to the code. Anything else
    (a bug, a bad search space, a missing import) stops the study with its traceback instead of
    hiding as a row of failed trials.
    """
    errors: list[type[Exception]] = [TrainingDiverged, MemoryError]
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        errors.append(tf.errors.ResourceExhaustedError)
    elif backend == "jax":
        import jax

        errors.append(jax.errors.JaxRuntimeError)  # XLA reports RESOURCE_EXHAUSTED through it
    return tuple(errors)


class StudyPruningCallback(KerasPruningCallback):
    """``KerasPruningCallback`` that never prunes a baseline trial nor after the last epoch.

    Baselines always run to the end so the report can set them beside the notebook; pruning after
    the last epoch would save nothing and lose the trial's test accuracy.
    """

    def __init__(self, trial: optuna.Trial, *, epochs: int, can_prune: bool) -> None:
        super().__init__(trial, monitor="val_accuracy")
        self._epochs = epochs
        self._can_prune = can_prune

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if self._can_prune and epoch + 1 < self._epochs:
            super().on_epoch_end(epoch, logs)  # reports, and raises TrialPruned if it should
        elif logs and "val_accuracy" in logs and len(self._trial.study.directions) == 1:
            # Optuna stores intermediate values for single-objective studies only.
            self._trial.report(float(logs["val_accuracy"]), step=epoch)


class InterruptCheck(keras.callbacks.Callback):
    """Stops training at the next batch once SIGINT or SIGTERM has come (see study.workers)."""

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        check_interrupt()

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        check_interrupt()


class Objective:
    """Trains one model per trial on data loaded once for the whole study.

    ``record`` holds user attributes every trial of this process records as they are (the
    CLI's ``sampler_seed``); ``seed`` is the study's seed, from which each trial's is derived.
    """

    def __init__(
        self,
        data: Dataset,
        settings: TrainSettings,
        *,
        vocab_size: int,
        sequence_length: int,
        seed: int,
        pruning: bool,
        record: Mapping[str, Any] | None = None,
    ) -> None:
        self._data = data
        self._record = dict(record or {})
        # Equal evaluation batches: one compiled evaluation step per trial, not three.
        self._settings = dataclasses.replace(
            settings,
            eval_batch_size=even_eval_batch_size(
                (len(data.y_val), len(data.y_test)), settings.eval_batch_size
            ),
        )
        self._vocab_size = vocab_size
        self._sequence_length = sequence_length
        self._seed = seed
        self._pruning = pruning
        self._device = device_name()
        self._owner = owner_id()
        # Everything alive now (Keras, TensorFlow, JAX, the data) lives for the whole study:
        # freezing it keeps the per-trial gc.collect() from re-scanning millions of objects, which
        # cost about 0.5 s per collection on our 2-core machine (benchmarks/overhead.py).
        gc.collect()
        gc.freeze()

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr(OWNER_ATTR, self._owner)  # first: lets a rerun tell if we died
        _set_attrs(trial, **self._record)
        try:
            return self._run(trial)
        except optuna.TrialPruned:
            raise
        except BaseException as exc:  # Ctrl-C included: the reason is the only trace it leaves
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}".strip(": "))
            raise
        finally:
            # Free the graph and weights before the next trial so memory stays flat; one
            # collection is enough (clear_session would run a second one).
            keras.backend.clear_session(free_memory=False)
            gc.collect()
            if keras.backend.backend() == "jax":
                import jax

                # clear_session leaves JAX's compiled executables cached; each trial's model is
                # new, so they are never reused, and kept they grew RSS by ~23 MiB per trial
                # (benchmarks/memory.py).
                jax.clear_caches()

    def _run(self, trial: optuna.Trial) -> float:
        config = suggest_params(trial)
        # One seed per trial, derived from the study's: the same command gives the same trials.
        seed = trial_seed(self._seed, trial.number)
        keras.utils.set_random_seed(seed)
        model = build_model(
            config,
            vocab_size=self._vocab_size,
            sequence_length=self._sequence_length,
            learning_rate=self._settings.learning_rate,
        )
        _set_attrs(
            trial,
            n_params=model.count_params(),
            device=self._device,
            backend=keras.backend.backend(),
            seed=seed,
        )
        is_baseline = "baseline" in trial.user_attrs
        recorder = EpochRecorder()
        pruning = StudyPruningCallback(
            trial, epochs=self._settings.epochs, can_prune=self._pruning and not is_baseline
        )
        try:
            fit(model, self._data, self._settings, recorder, [InterruptCheck(), pruning])
        finally:
            _set_attrs(
                trial,
                train_seconds=round(recorder.seconds, 3),
                epochs_run=recorder.epochs_run,
                val_accuracy_history=recorder.val_accuracy,
            )
            if recorder.val_accuracy:
                trial.set_user_attr("val_accuracy", recorder.val_accuracy[-1])
        test_loss, test_accuracy = evaluate(
            model, self._data.x_test, self._data.y_test, self._settings
        )
        _set_attrs(trial, test_loss=test_loss, test_accuracy=test_accuracy)
        return recorder.val_accuracy[-1]


def _set_attrs(trial: optuna.Trial, **attrs: Any) -> None:
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
