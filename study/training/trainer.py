"""The trainer: R seeded replicas of one configuration (R = 1: one run) as one vmapped JAX program.

The study's models are tiny (LSTM(8) on batch 32 is a few 8x32 products per time step), so a
training step costs the loop and dispatch overhead of 80 recurrent steps, not arithmetic. Training
R copies as one program stacks their variables on a leading replica axis and runs
``jax.vmap`` over Keras 3's stateless API (``model.stateless_call`` through
``model.stateless_compute_loss``, then ``optimizer.stateless_apply``) inside one ``jax.jit``: the
loop runs once for all R, each step a little wider.

Each replica is what one run with its seed would be: its initial weights and its dropout masks
come from seeding Keras with it (``backend.set_random_seed``) before building the model
(the same builder, loss, optimizer, batch size and epochs as every other path), and its batch
order from ``epoch_order(seed, epoch, n)``. Validation and test evaluation are vmapped too.

Under the TensorFlow backend, or when the vectorized program cannot run (out of memory, or an
operation with no ``vmap`` rule such as Keras' cuDNN LSTM on a GPU), the replicas are trained one
after another (``mode="sequential"``) with ``model.fit``, epoch by epoch and with the same batch
orders, so the caller still sees every replica's accuracy after every epoch.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from search_spaces import ModelSpec
from study.training.backend import set_random_seed
from study.training.data import Dataset
from study.training.model import build_model
from study.training.settings import TrainingDiverged, TrainSettings

#: Most training steps one compiled call runs (a ``lax.scan``); between calls the trainer checks
#: for interrupts. The epoch's steps are split into calls of equal length (padded with skipped
#: steps), so every call has the same shape and compiles once.
MAX_STEPS_PER_CALL = 64

#: ``on_epoch(epoch, val_accuracies)``: called after every epoch with each replica's validation
#: accuracy; it may raise (an Optuna ``TrialPruned``, an interrupt) to stop training.
EpochCallback = Callable[[int, list[float]], None]


@dataclass
class RepeatResult:
    """What training R replicas gave, filled in as training goes (kept when it stops early).

    Attributes:
        seeds: Each replica's seed.
        mode: ``"vectorized"`` (one program for all) or ``"sequential"`` (one after another).
        n_params: Parameters of one replica.
        val_accuracy: Per epoch, each replica's validation accuracy.
        loss: Per epoch, each replica's mean training loss.
        train_seconds: Wall time of the training, all replicas together.
        epoch_seconds: Wall time of each epoch, validation included (the first one includes
            compiling the program).
        test_seconds: Wall time of the test evaluation.
        test_accuracy: Each replica's test accuracy (after training).
        test_loss: Each replica's test loss.
        weights: Each replica's final weights (``model.get_weights()`` order).
    """

    seeds: list[int]
    mode: str
    n_params: int = 0
    val_accuracy: list[list[float]] = field(default_factory=list)
    loss: list[list[float]] = field(default_factory=list)
    train_seconds: float = 0.0
    epoch_seconds: list[float] = field(default_factory=list)
    test_seconds: float = 0.0
    test_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    weights: list[list[np.ndarray]] = field(default_factory=list)

    @property
    def epochs_run(self) -> int:
        """Epochs every replica completed."""
        return len(self.val_accuracy)


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which a replica sees the ``n`` training reviews in ``epoch``."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def can_vectorize() -> bool:
    """Whether this process's Keras backend can run the vectorized trainer (JAX only)."""
    return keras.backend.backend() == "jax"


def train_repeats(
    spec: ModelSpec,
    data: Dataset,
    settings: TrainSettings,
    seeds: Sequence[int],
    *,
    on_epoch: EpochCallback | None = None,
    on_step: Callable[[], None] | None = None,
    shuffle: bool = True,
    vectorize: bool = True,
    result: RepeatResult | None = None,
) -> RepeatResult:
    """Trains one replica per seed and evaluates each on the validation and test sets.

    Args:
        spec: The model every replica shares (its learning rate included).
        data: Training, validation and test arrays.
        settings: Epochs and batch sizes.
        seeds: One seed per replica.
        on_epoch: Called after every epoch with each replica's validation accuracy.
        on_step: Called between compiled calls (a few dozen steps), e.g. to check interrupts.
        shuffle: Shuffle the training reviews every epoch (``epoch_order``); without it every
            replica sees them in stored order.
        vectorize: Train the replicas as one program when the backend can; False trains them
            one after another (the same replicas, slower; for comparison).
        result: Filled in as training goes, so a caller keeps what was measured when a callback
            stops training; a new one when None.

    Returns:
        The replicas' measurements (``result``).

    Raises:
        TrainingDiverged: A replica's loss became NaN or infinite.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("train_repeats needs at least one seed")
    build = functools.partial(_seeded_model, spec)
    if result is None:
        result = RepeatResult(seeds, "vectorized")
    if vectorize and can_vectorize():
        import jax

        try:
            result.mode = "vectorized"
            _Vectorized(build, data, settings, seeds, shuffle).run(result, on_epoch, on_step)
            return result
        except NotImplementedError:
            # An operation without a vmap rule (on a GPU, Keras' cuDNN LSTM through
            # jax.experimental.rnn): train the replicas one by one, on that fast path.
            if result.epochs_run:
                raise
        except jax.errors.JaxRuntimeError as exc:
            if "RESOURCE_EXHAUSTED" not in str(exc) or result.epochs_run:
                raise
            # R copies do not fit in memory together: one at a time does the same work.
    result.mode = "sequential"
    _sequential(build, data, settings, seeds, shuffle, result, on_epoch, on_step)
    return result


def _seeded_model(spec: ModelSpec, seed: int) -> keras.Model:
    """One replica's model, its weights drawn from its seed."""
    set_random_seed(seed)
    return build_model(spec)


def _check_finite(result: RepeatResult) -> None:
    for replica, loss in enumerate(result.loss[-1]):
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"loss became NaN or infinite in epoch {result.epochs_run} "
                f"(replica {replica}, seed {result.seeds[replica]})"
            )


class _Vectorized:
    """The vectorized program: state stacked on a leading replica axis, one jit per step shape."""

    def __init__(
        self,
        build: Callable[[int], keras.Model],
        data: Dataset,
        settings: TrainSettings,
        seeds: list[int],
        shuffle: bool,
    ) -> None:
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp
        self.data, self.settings, self.seeds, self.shuffle = data, settings, seeds, shuffle
        models = [build(seed) for seed in seeds]
        for model in models:
            model.optimizer.build(model.trainable_variables)
        self.model = models[0]  # every replica has its structure; the values are stacked

        def stacked(get: Callable[[keras.Model], list[Any]]) -> list[Any]:
            return [jnp.stack([v.value for v in vs]) for vs in zip(*map(get, models), strict=True)]

        self.state = (
            stacked(lambda m: m.trainable_variables),
            stacked(lambda m: m.non_trainable_variables),
            stacked(lambda m: m.optimizer.variables),
            stacked(lambda m: m.metrics_variables),
        )
        self.n_params = self.model.count_params()
        self.x_train = jnp.asarray(data.x_train)
        self.y_train = jnp.asarray(data.y_train, dtype="float32")
        self._chunk = jax.jit(self._run_chunk)
        self._step = jax.jit(self._over_replicas(self._train_step))
        self._predict = jax.jit(self._over_replicas(self._forward, in_axes=(0, 0, None)))

    def _over_replicas(
        self, fn: Callable[..., Any], in_axes: tuple[int | None, ...] | int = 0
    ) -> Callable[..., Any]:
        """``fn`` mapped over the leading replica axis.

        ``jax.vmap`` for several replicas; for one, a plain call on the squeezed arguments:
        vmap's batched products and random draws cost more than the unbatched ones on a CPU,
        and a single replica needs none.
        """
        if len(self.seeds) > 1:
            return self.jax.vmap(fn, in_axes=in_axes)
        axes = in_axes if isinstance(in_axes, tuple) else None
        tree = self.jax.tree

        def single(*args: Any) -> Any:
            squeezed = [
                arg if axes is not None and axes[i] is None else tree.map(lambda a: a[0], arg)
                for i, arg in enumerate(args)
            ]
            return tree.map(lambda a: a[None], fn(*squeezed))

        return single

    # -- the pure functions ------------------------------------------------------------------
    def _loss(
        self, trainable: list[Any], non_trainable: list[Any], metrics: list[Any], x: Any, y: Any
    ) -> tuple[Any, tuple[list[Any], list[Any]]]:
        y_pred, non_trainable = self.model.stateless_call(
            trainable, non_trainable, x, training=True
        )
        loss, (_, non_trainable, metrics) = self.model.stateless_compute_loss(
            trainable, non_trainable, metrics, x=x, y=y, y_pred=y_pred, training=True
        )
        return loss, (non_trainable, metrics)

    def _train_step(self, state: tuple[Any, ...], x: Any, y: Any) -> tuple[tuple[Any, ...], Any]:
        trainable, non_trainable, optimizer, metrics = state
        grad_fn = self.jax.value_and_grad(self._loss, has_aux=True)
        (loss, (non_trainable, metrics)), grads = grad_fn(trainable, non_trainable, metrics, x, y)
        trainable, optimizer = self.model.optimizer.stateless_apply(optimizer, grads, trainable)
        return (trainable, non_trainable, optimizer, metrics), loss

    def _run_chunk(
        self, state: tuple[Any, ...], x: Any, y: Any, index: Any, active: Any
    ) -> tuple[Any, Any]:
        """``lax.scan`` over a chunk of steps; ``index`` is (steps, replicas, batch)."""
        jnp = self.jnp

        def body(state: tuple[Any, ...], step: tuple[Any, Any]) -> tuple[Any, Any]:
            rows, on = step
            new_state, loss = self._over_replicas(self._train_step)(state, x[rows], y[rows])
            # Padding steps (on == False) leave the state as it was.
            kept = self.jax.tree.map(lambda new, old: jnp.where(on, new, old), new_state, state)
            return kept, loss

        return self.jax.lax.scan(body, state, (index, active))

    def _forward(self, trainable: list[Any], non_trainable: list[Any], x: Any) -> Any:
        y_pred, _ = self.model.stateless_call(trainable, non_trainable, x, training=False)
        return y_pred[:, 0]

    # -- the loop ----------------------------------------------------------------------------
    def run(
        self,
        result: RepeatResult,
        on_epoch: EpochCallback | None,
        on_step: Callable[[], None] | None,
    ) -> None:
        result.n_params = self.n_params
        n, batch = len(self.data.y_train), self.settings.batch_size
        full, rest = divmod(n, batch)
        calls = max(1, math.ceil(full / MAX_STEPS_PER_CALL))
        per_call = math.ceil(full / calls) if full else 0
        start = time.perf_counter()
        for epoch in range(self.settings.epochs):
            epoch_start = time.perf_counter()
            orders = np.stack([self._order(seed, epoch, n) for seed in self.seeds])
            losses = []
            if full:
                slots = calls * per_call
                steps = orders[:, : full * batch].reshape(len(self.seeds), full, batch)
                steps = np.concatenate(
                    [steps, np.zeros((len(self.seeds), slots - full, batch), steps.dtype)], 1
                ).transpose(1, 0, 2)  # (slots, replicas, batch)
                active = np.arange(slots) < full
                for call in range(calls):
                    part = slice(call * per_call, (call + 1) * per_call)
                    self.state, loss = self._chunk(
                        self.state, self.x_train, self.y_train, steps[part], active[part]
                    )
                    losses.append(np.asarray(loss)[active[part]])
                    if on_step is not None:
                        on_step()
            if rest:
                rows = orders[:, full * batch :]
                self.state, loss = self._step(self.state, self.x_train[rows], self.y_train[rows])
                losses.append(np.asarray(loss)[None, :])
            # Keras' epoch loss is the mean over batches weighted by their size.
            weights = np.array([batch] * full + [rest] * bool(rest), dtype=np.float64)
            epoch_loss = np.average(np.concatenate(losses), axis=0, weights=weights)
            result.loss.append([float(v) for v in epoch_loss])
            result.val_accuracy.append(self.accuracy(self.data.x_val, self.data.y_val)[0])
            result.train_seconds = time.perf_counter() - start
            result.epoch_seconds.append(time.perf_counter() - epoch_start)
            _check_finite(result)
            if on_epoch is not None:
                on_epoch(epoch, result.val_accuracy[-1])
        result.train_seconds = time.perf_counter() - start
        result.test_accuracy, result.test_loss = self.accuracy(self.data.x_test, self.data.y_test)
        result.test_seconds = time.perf_counter() - start - result.train_seconds
        result.weights = self.weights()

    def _order(self, seed: int, epoch: int, n: int) -> np.ndarray:
        return epoch_order(seed, epoch, n) if self.shuffle else np.arange(n)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
        """Each replica's accuracy and binary cross-entropy on ``(x, y)``."""
        trainable, non_trainable = self.state[0], self.state[1]
        size = self.settings.eval_batch_size
        correct = np.zeros(len(self.seeds))
        total_loss = np.zeros(len(self.seeds))
        for begin in range(0, len(y), size):
            probs = np.asarray(
                self._predict(trainable, non_trainable, x[begin : begin + size]), np.float64
            )
            truth = y[begin : begin + size].astype(np.float64)
            correct += ((probs > 0.5) == truth).sum(axis=1)
            # Keras' binary cross-entropy clips probabilities to [eps, 1 - eps].
            eps = keras.config.epsilon()
            clipped = np.clip(probs, eps, 1 - eps)
            total_loss -= (truth * np.log(clipped) + (1 - truth) * np.log(1 - clipped)).sum(1)
        return [float(v) for v in correct / len(y)], [float(v) for v in total_loss / len(y)]

    def weights(self) -> list[list[np.ndarray]]:
        """Each replica's weights, in ``model.get_weights()`` order."""
        by_path = {
            v.path: value
            for v, value in zip(
                [*self.model.trainable_variables, *self.model.non_trainable_variables],
                [*self.state[0], *self.state[1]],
                strict=True,
            )
        }
        ordered = [np.asarray(by_path[w.path]) for w in self.model.weights]
        return [[w[r] for w in ordered] for r in range(len(self.seeds))]


def _sequential(
    build: Callable[[int], keras.Model],
    data: Dataset,
    settings: TrainSettings,
    seeds: list[int],
    shuffle: bool,
    result: RepeatResult,
    on_epoch: EpochCallback | None,
    on_step: Callable[[], None] | None,
) -> None:
    """The replicas one after another, epoch by epoch, with the same batch orders."""
    models = [build(seed) for seed in seeds]
    result.n_params = models[0].count_params()
    n = len(data.y_train)
    callbacks = [] if on_step is None else [_StepHook(on_step)]
    start = time.perf_counter()
    for epoch in range(settings.epochs):
        epoch_start = time.perf_counter()
        val, losses = [], []
        for seed, model in zip(seeds, models, strict=True):
            order = epoch_order(seed, epoch, n) if shuffle else np.arange(n)
            history = model.fit(
                data.x_train[order],
                data.y_train[order],
                batch_size=settings.batch_size,
                epochs=1,
                shuffle=False,
                callbacks=callbacks,
                verbose=0,
            )
            losses.append(float(history.history["loss"][-1]))
            _, accuracy = model.evaluate(
                data.x_val, data.y_val, batch_size=settings.eval_batch_size, verbose=0
            )
            val.append(float(accuracy))
        result.loss.append(losses)
        result.val_accuracy.append(val)
        result.train_seconds = time.perf_counter() - start
        result.epoch_seconds.append(time.perf_counter() - epoch_start)
        _check_finite(result)
        if on_epoch is not None:
            on_epoch(epoch, val)
    result.train_seconds = time.perf_counter() - start
    for model in models:
        loss, accuracy = model.evaluate(
            data.x_test, data.y_test, batch_size=settings.eval_batch_size, verbose=0
        )
        result.test_loss.append(float(loss))
        result.test_accuracy.append(float(accuracy))
    result.test_seconds = time.perf_counter() - start - result.train_seconds
    result.weights = [model.get_weights() for model in models]


class _StepHook(keras.callbacks.Callback):
    def __init__(self, hook: Callable[[], None]) -> None:
        super().__init__()
        self._hook = hook

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._hook()
