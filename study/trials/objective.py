"""The Optuna objective: sample a ``ModelConfig``, train it, evaluate and record one trial.

A trial trains ``repeats`` replicas of its configuration at once (``study.training.trainer``; one
by default) and its value is their mean validation accuracy. Each trial records, as user
attributes, what reports and checks read: ``n_params``, ``train_seconds``, ``epochs_run``,
``val_accuracy``, ``test_accuracy``, ``test_loss`` (means over the replicas), ``device``,
``backend``, ``seed``, ``dropout_style``, ``repeats`` and ``repeat_mode`` (``vectorized`` or
``sequential``), with several replicas also ``seeds``, ``val_accuracy_per_seed``,
``val_accuracy_std``, ``test_accuracy_per_seed`` and ``test_accuracy_std`` (and ``fail_reason``
when it fails, ``over_cost_cap``, its LSTM weights, when it is a sampled configuration above
``max_lstm_params``, pruned before it trains); under a cap, every trial also records the
constraint ``cost_cap`` (positive only for those), which TPE reads. The mean validation accuracy
after each epoch is reported as the intermediate value the pruner judges. The test set is
evaluated once, after training, and never returned.
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import keras
import optuna
from optuna_integration import KerasPruningCallback

from search_spaces import ModelConfig, ModelSpec
from search_spaces.cost import cap_excess, lstm_params, over_cap
from search_spaces.lstm import NOTEBOOK, SearchSpace
from study.reruns.groups import SEED_ATTR
from study.training.backend import device_name
from study.training.data import Dataset
from study.training.seeds import derive_seed, trial_seed
from study.training.settings import TrainingDiverged, TrainSettings, even_eval_batch_size
from study.training.trainer import RepeatResult, train_repeats
from study.workers.ownership import OWNER_ATTR, check_interrupt, owner_id
from study.workers.stopping import OVER_COST_CAP

#: The constraint every trial of a capped study records (Optuna's ``Trial.set_constraint``).
COST_CAP_CONSTRAINT = "cost_cap"


class TrialOutOfMemory(MemoryError):
    """The accelerator ran out of memory training a trial (XLA's RESOURCE_EXHAUSTED).

    JAX reports every XLA runtime failure as one type, ``JaxRuntimeError``: an out-of-memory
    error is the configuration's (too big for the device), any other (an internal error, a bad
    argument from a bug in our code) is the code's. ``Objective`` turns the first kind into
    this error (``Objective._bookkeeping``), which ``trial_errors`` catches, and lets the others
    stop the study.
    """


def trial_errors() -> tuple[type[Exception], ...]:
    """Errors that fail one trial but let the study go on.

    Divergence and running out of memory belong to a configuration, not to the code. Anything else
    (a bug, a bad search space, a missing import, an XLA error other than RESOURCE_EXHAUSTED)
    stops the study with its traceback instead of hiding as a row of failed trials.
    """
    errors: list[type[Exception]] = [TrainingDiverged, MemoryError]  # TrialOutOfMemory included
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        errors.append(tf.errors.ResourceExhaustedError)
    return tuple(errors)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an XLA runtime error says the device ran out of memory."""
    return "RESOURCE_EXHAUSTED" in str(exc)


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


class Objective:
    """Trains one model per trial on data loaded once for the whole study.

    ``space`` turns a trial into a configuration (the notebook's axes, or the extended space's).

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
        dropout_style: str = "keras2",
        repeats: int = 1,
        vectorize: bool = True,
        max_lstm_params: int = 0,
        space: SearchSpace = NOTEBOOK,
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
        self._dropout_style = dropout_style
        self._repeats = repeats
        self._vectorize = vectorize
        self._max_lstm_params = max_lstm_params
        self._space = space
        self._device = device_name()
        self._unroll = _scan_unroll()  # fixed for the process, like its device
        self._owner = owner_id()
        # Everything alive now (Keras, TensorFlow, JAX, the data) lives for the whole study:
        # freezing it keeps the per-trial gc.collect() from re-scanning millions of objects
        # (benchmarks/README.md, "Optuna and bookkeeping overhead per trial").
        gc.collect()
        gc.freeze()

    def __call__(self, trial: optuna.Trial) -> float:
        with self._bookkeeping([trial]):
            return self._run(trial)

    @contextmanager
    def _bookkeeping(self, trials: list[optuna.Trial]) -> Iterator[None]:
        """Every trial's one bookkeeping path, whether trained alone or together.

        Records the owner (first: it lets a rerun tell if we died) and this process's attrs;
        on a failure, its ``fail_reason`` on every trial (Ctrl-C included: the reason is the only
        trace it leaves), an XLA out-of-memory error raised as ``TrialOutOfMemory`` so that
        ``trial_errors`` fails only these trials; and frees the trial's memory in every case.
        """
        for trial in trials:
            trial.set_user_attr(OWNER_ATTR, self._owner)
            _set_attrs(trial, **self._record)
        try:
            yield
        except optuna.TrialPruned:
            raise
        except BaseException as exc:
            failure = exc
            if _is_jax_runtime_error(exc) and is_out_of_memory(exc):
                failure = TrialOutOfMemory(str(exc))
            reason = f"{type(failure).__name__}: {failure}".strip(": ")
            for trial in trials:
                trial.set_user_attr("fail_reason", reason)
            if failure is exc:
                raise
            raise failure from exc
        finally:
            self._clean_up()

    def _clean_up(self) -> None:
        # Free the graph and weights before the next trial so memory stays flat; one
        # collection is enough (clear_session would run a second one).
        keras.backend.clear_session(free_memory=False)
        gc.collect()
        if keras.backend.backend() == "jax":
            import jax

            # clear_session leaves JAX's compiled executables cached; each trial's model is
            # new, so they are never reused, and kept they grow memory with every trial
            # (benchmarks/README.md, "Memory across trials").
            jax.clear_caches()

    def _run(self, trial: optuna.Trial) -> float:
        config = self._space.suggest(trial)
        # One seed per trial, derived from the study's: the same command gives the same trials.
        seed = trial_seed(self._seed, trial.number)
        seeds = replica_seeds(seed, self._repeats)
        _set_attrs(trial, **self._run_attrs(seed), repeats=self._repeats)
        if self._repeats > 1:
            trial.set_user_attr("seeds", seeds)
        is_baseline = "baseline" in trial.user_attrs
        over = not is_baseline and over_cap(config, self._max_lstm_params)
        if self._max_lstm_params > 0:
            # TPE ranks a trial with a violated constraint below every feasible one, and Optuna's
            # best trial is a feasible one: violated exactly when the cap kept it from training.
            excess = cap_excess(config, self._max_lstm_params)
            trial.set_constraint(COST_CAP_CONSTRAINT, excess if over else min(excess, 0.0))
        if over:
            # Pruned untrained, with no intermediate value and a violated constraint: TPE ranks it
            # below every trial that trained, and so learns to sample under the cap
            # (search_spaces.cost). It does not count toward --trials
            # (study.workers.stopping.count_trials).
            trial.set_user_attr(OVER_COST_CAP, lstm_params(config))
            raise optuna.TrialPruned(
                f"{lstm_params(config)} LSTM weights > --max-lstm-params {self._max_lstm_params}"
            )
        pruning = StudyPruningCallback(
            trial, epochs=self._settings.epochs, can_prune=self._pruning and not is_baseline
        )

        def on_epoch(epoch: int, accuracies: list[float]) -> None:
            # The pruner judges the mean of the replicas, through the same Keras callback a
            # single model.fit would call.
            pruning.on_epoch_end(epoch, {"val_accuracy": statistics.fmean(accuracies)})

        result = RepeatResult(seeds, "vectorized")
        try:
            train_repeats(
                self._spec(config),
                self._data,
                self._settings,
                seeds,
                on_epoch=on_epoch,
                on_step=check_interrupt,
                vectorize=self._vectorize,
                result=result,
            )
        finally:
            _record_training(trial, result)
        _record_test(trial, result)
        return statistics.fmean(result.val_accuracy[-1])

    def _spec(self, config: ModelConfig) -> ModelSpec:
        """The model a trial trains: its configuration, with what the data and the run fix."""
        return ModelSpec(
            config,
            vocab_size=self._vocab_size,
            sequence_length=self._sequence_length,
            dropout_style=self._dropout_style,
            default_learning_rate=self._settings.learning_rate,
        )

    def _run_attrs(self, seed: int) -> dict[str, Any]:
        """What every trial records about how it ran: device, backend, its seed, dropout style."""
        return {
            "device": self._device,
            "backend": keras.backend.backend(),
            "seed": seed,
            "dropout_style": self._dropout_style,
            **self._unroll,
        }

    def train_together(self, trials: list[optuna.Trial]) -> list[float]:
        """Trains trials of one configuration at once, each with its own seed (no pruning).

        A run enqueued with a seed (``study.reruns.groups.SEED_ATTR``: the race gives every
        configuration the same ones) trains with it; the others with one from their number.

        ``study.confirm`` and ``study.reproduce`` ask R trials of a configuration, train them
        here as R replicas of one vectorized program, and tell them together.

        Returns:
            Each trial's validation accuracy, in order.
        """
        with self._bookkeeping(trials):
            configs = {self._space.suggest(trial) for trial in trials}
            if len(configs) != 1:
                raise ValueError(f"train_together needs one configuration, got {configs}")
            seeds = [_run_seed(trial, self._seed) for trial in trials]
            for trial, seed in zip(trials, seeds, strict=True):
                _set_attrs(trial, **self._run_attrs(seed))
            result = RepeatResult(seeds, "vectorized")
            try:
                train_repeats(
                    self._spec(configs.pop()),
                    self._data,
                    self._settings,
                    seeds,
                    on_epoch=None,
                    on_step=check_interrupt,
                    vectorize=self._vectorize,
                    result=result,
                )
            finally:
                for replica, trial in enumerate(trials):
                    _record_training(trial, _replica(result, replica), trained_with=len(trials))
            for replica, trial in enumerate(trials):
                _record_test(trial, _replica(result, replica))
            return [result.val_accuracy[-1][r] for r in range(len(trials))]


def _scan_unroll() -> dict[str, int]:
    """The recurrent loop's unroll on this device (``study.training.unroll``), under JAX."""
    if keras.backend.backend() != "jax":
        return {}
    from study.training.unroll import scan_unroll

    return {"scan_unroll": scan_unroll()}


def _is_jax_runtime_error(exc: BaseException) -> bool:
    if keras.backend.backend() != "jax":
        return False
    import jax

    return isinstance(exc, jax.errors.JaxRuntimeError)


def _run_seed(trial: optuna.Trial, study_seed: int) -> int:
    """A run's seed: the one it was enqueued with (a race's shared seeds), else its own."""
    fixed = trial.user_attrs.get(SEED_ATTR)
    return trial_seed(study_seed, trial.number) if fixed is None else int(fixed)


def replica_seeds(seed: int, repeats: int) -> list[int]:
    """The seeds of a trial's replicas: its own seed first, then ones derived from it."""
    return [seed, *(derive_seed("replica", seed, r) for r in range(1, repeats))]


def _replica(result: RepeatResult, replica: int) -> RepeatResult:
    """One replica's measurements, as if it had been trained alone."""
    return RepeatResult(
        seeds=[result.seeds[replica]],
        mode=result.mode,
        n_params=result.n_params,
        val_accuracy=[[epoch[replica]] for epoch in result.val_accuracy],
        loss=[[epoch[replica]] for epoch in result.loss],
        # Trained together, the replicas share the wall time: each is charged its share.
        train_seconds=result.train_seconds / len(result.seeds),
        epoch_seconds=[s / len(result.seeds) for s in result.epoch_seconds],
        test_seconds=result.test_seconds / len(result.seeds),
        test_accuracy=result.test_accuracy[replica : replica + 1],
        test_loss=result.test_loss[replica : replica + 1],
    )


def _record_training(trial: optuna.Trial, result: RepeatResult, trained_with: int = 1) -> None:
    """What a trial keeps even when it stops early (pruned, diverged, interrupted)."""
    history = [statistics.fmean(epoch) for epoch in result.val_accuracy]
    _set_attrs(
        trial,
        n_params=result.n_params,
        train_seconds=round(result.train_seconds, 3),
        epochs_run=result.epochs_run,
        val_accuracy_history=history,
        repeat_mode=result.mode,
        epoch_seconds=[round(s, 3) for s in result.epoch_seconds],
    )
    if trained_with > 1:
        trial.set_user_attr("trained_with", trained_with)
    if history:
        trial.set_user_attr("val_accuracy", history[-1])
        if len(result.seeds) > 1:
            last = result.val_accuracy[-1]
            _set_attrs(trial, val_accuracy_per_seed=last, val_accuracy_std=statistics.stdev(last))


def _record_test(trial: optuna.Trial, result: RepeatResult) -> None:
    _set_attrs(
        trial,
        test_accuracy=statistics.fmean(result.test_accuracy),
        test_loss=statistics.fmean(result.test_loss),
        test_seconds=round(result.test_seconds, 3),
    )
    if len(result.seeds) > 1:
        _set_attrs(
            trial,
            test_accuracy_per_seed=result.test_accuracy,
            test_accuracy_std=statistics.stdev(result.test_accuracy),
        )


def _set_attrs(trial: optuna.Trial, **attrs: Any) -> None:
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
