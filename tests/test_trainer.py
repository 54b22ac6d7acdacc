"""The trainer: one replica is model.fit, R replicas are R seeded runs at once (vectorized)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from search_spaces import ModelConfig, ModelSpec
from study.training import trainer
from study.training.data import DataSettings, load_dataset
from study.training.model import build_model
from study.training.settings import TrainingDiverged, TrainSettings
from study.training.trainer import RepeatResult, epoch_order, train_repeats
from tests.conftest import ROOT
from tests.device import full_float32_products, require  # noqa: F401

SETTINGS = TrainSettings(epochs=1, eval_batch_size=40)
DROPOUT = ModelConfig(8, 8, 2, 0.3, 0.4)


@pytest.fixture(scope="module")
def tiny(tiny_imdb: Path):
    return load_dataset(DataSettings(source=str(tiny_imdb), maxlen=20, cache_dir=None))


def train(tiny, config: ModelConfig, seeds: list[int], **kwargs) -> RepeatResult:  # type: ignore[no-untyped-def]
    settings = kwargs.pop("settings", SETTINGS)
    spec = ModelSpec(
        config, vocab_size=1000, sequence_length=20, default_learning_rate=settings.learning_rate
    )
    return train_repeats(spec, tiny, settings, seeds, **kwargs)


def fit_once(tiny, config: ModelConfig, seed: int) -> tuple[keras.Model, dict[str, list[float]]]:  # type: ignore[no-untyped-def]
    keras.utils.set_random_seed(seed)
    model = build_model(ModelSpec(config, vocab_size=1000, sequence_length=20))
    history = model.fit(
        tiny.x_train,
        tiny.y_train,
        batch_size=32,
        epochs=1,
        shuffle=False,
        validation_data=(tiny.x_val, tiny.y_val),
        validation_batch_size=40,
        verbose=0,
    )
    return model, history.history


def test_one_replica_is_model_fit(tiny) -> None:  # type: ignore[no-untyped-def]
    # Same initial weights (the seed), same batch order (stored order): same training.
    config = ModelConfig(8, 8)
    result = train(tiny, config, [7], shuffle=False)
    assert result.mode == "vectorized" and result.epochs_run == 1
    model, history = fit_once(tiny, config, 7)
    for ours, theirs in zip(result.weights[0], model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    assert result.val_accuracy[0][0] == pytest.approx(history["val_accuracy"][0], abs=1e-6)
    assert result.loss[0][0] == pytest.approx(history["loss"][0], rel=1e-5)
    loss, accuracy = model.evaluate(tiny.x_test, tiny.y_test, batch_size=50, verbose=0)
    assert result.test_accuracy[0] == pytest.approx(accuracy, abs=1e-6)
    assert result.test_loss[0] == pytest.approx(loss, rel=1e-4)
    assert result.n_params == model.count_params()
    assert len(result.epoch_seconds) == 1 and result.test_seconds > 0


def test_replicas_differ_and_each_is_its_seed_alone(tiny) -> None:  # type: ignore[no-untyped-def]
    settings = TrainSettings(epochs=2, eval_batch_size=40)
    three = train(tiny, DROPOUT, [1, 2, 3], settings=settings)
    assert len(three.val_accuracy) == 2 and all(len(v) == 3 for v in three.val_accuracy)
    firsts = [weights[1] for weights in three.weights]  # the LSTM kernels
    assert not np.allclose(firsts[0], firsts[1]) and not np.allclose(firsts[1], firsts[2])
    alone = train(tiny, DROPOUT, [2], settings=settings)
    for ours, theirs in zip(three.weights[1], alone.weights[0], strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert three.val_accuracy[-1][1] == pytest.approx(alone.val_accuracy[-1][0], abs=1e-6)


def test_sequential_fallback_trains_the_same_replicas(  # type: ignore[no-untyped-def]
    tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    together = train(tiny, DROPOUT, [4, 5])
    monkeypatch.setattr(trainer, "can_vectorize", lambda: False)
    apart = train(tiny, DROPOUT, [4, 5])
    assert apart.mode == "sequential"
    for r in range(2):
        for ours, theirs in zip(together.weights[r], apart.weights[r], strict=True):
            np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_allclose(together.val_accuracy, apart.val_accuracy, atol=1e-6)
    np.testing.assert_allclose(together.test_accuracy, apart.test_accuracy, atol=1e-6)


def test_asked_for_one_by_one_it_trains_one_by_one(tiny) -> None:  # type: ignore[no-untyped-def]
    result = train(tiny, ModelConfig(8, 4), [1, 2], vectorize=False)
    assert result.mode == "sequential" and len(result.val_accuracy[0]) == 2


def test_an_operation_without_a_vmap_rule_falls_back_to_one_by_one(  # type: ignore[no-untyped-def]
    tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_batching_rule(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise NotImplementedError("Batching rule for 'cudnn_lstm' not implemented")

    monkeypatch.setattr(trainer._Vectorized, "run", no_batching_rule)
    result = train(tiny, ModelConfig(8, 4), [1, 2])
    assert result.mode == "sequential" and result.epochs_run == 1
    assert len(result.test_accuracy) == 2 and len(result.epoch_seconds) == 1


def test_every_epoch_is_reported_and_a_callback_can_stop_training(tiny) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[int, list[float]]] = []

    def stop_after_two(epoch: int, accuracies: list[float]) -> None:
        seen.append((epoch, accuracies))
        if epoch == 1:
            raise KeyboardInterrupt

    result = RepeatResult([1, 2], "vectorized")
    with pytest.raises(KeyboardInterrupt):
        train(
            tiny,
            ModelConfig(8, 4),
            [1, 2],
            settings=TrainSettings(epochs=4, eval_batch_size=40),
            on_epoch=stop_after_two,
            result=result,
        )
    assert [epoch for epoch, _ in seen] == [0, 1]
    assert result.epochs_run == 2 and all(len(v) == 2 for v in result.val_accuracy)
    assert seen[1][1] == result.val_accuracy[1]
    assert result.train_seconds > 0 and not result.test_accuracy  # stopped before the test set


def test_a_diverging_replica_fails_the_training(tiny) -> None:  # type: ignore[no-untyped-def]
    settings = TrainSettings(epochs=2, eval_batch_size=40, learning_rate=1e38)
    with pytest.raises(TrainingDiverged, match="NaN or infinite in epoch 1"):
        train(tiny, ModelConfig(8, 4), [1, 2], settings=settings)


def test_epoch_order_is_a_seeded_permutation_per_epoch() -> None:
    first = epoch_order(3, 0, 100)
    assert sorted(first) == list(range(100))
    assert np.array_equal(first, epoch_order(3, 0, 100))
    assert not np.array_equal(first, epoch_order(3, 1, 100))
    assert not np.array_equal(first, epoch_order(4, 0, 100))


def test_tensorflow_backend_trains_the_replicas_one_after_another(tiny_imdb: Path) -> None:
    require("tensorflow")
    code = textwrap.dedent(
        f"""
        import json
        from search_spaces import ModelConfig, ModelSpec
        from study.training.data import DataSettings, load_dataset
        from study.training.settings import TrainSettings
        from study.training.trainer import train_repeats

        data = load_dataset(DataSettings(source={str(tiny_imdb)!r}, maxlen=20, cache_dir=None))
        result = train_repeats(
            ModelSpec(ModelConfig(8, 8, 1, 0.3, 0.4), vocab_size=1000, sequence_length=20),
            data, TrainSettings(epochs=1, eval_batch_size=40), [1, 2],
        )
        print(json.dumps({{"mode": result.mode, "val": result.val_accuracy,
                          "kernels": [w[1].tolist() for w in result.weights]}}))
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["mode"] == "sequential"
    assert len(out["val"]) == 1 and len(out["val"][0]) == 2
    assert out["kernels"][0] != out["kernels"][1]


def _uneven(tiny):  # type: ignore[no-untyped-def]
    """190 training reviews: five full batches of 32 and a partial one of 30."""
    x = np.concatenate([tiny.x_train, tiny.x_val])[:190]
    y = np.concatenate([tiny.y_train, tiny.y_val])[:190]
    assert len(y) == 190
    return dataclasses.replace(tiny, x_train=x, y_train=y)


def _fit_epochs(data, config: ModelConfig, seed: int, orders: list[np.ndarray]):  # type: ignore[no-untyped-def]
    """Plain ``model.fit``, one epoch per order; returns the model, losses and val accuracies."""
    keras.utils.set_random_seed(seed)
    model = build_model(ModelSpec(config, vocab_size=1000, sequence_length=20))
    losses, val = [], []
    for order in orders:
        history = model.fit(
            data.x_train[order],
            data.y_train[order],
            batch_size=32,
            epochs=1,
            shuffle=False,
            validation_data=(data.x_val, data.y_val),
            validation_batch_size=40,
            verbose=0,
        )
        losses.append(history.history["loss"][0])
        val.append(history.history["val_accuracy"][0])
    return model, losses, val


@pytest.mark.parametrize("seeds", [[7], [4, 5]], ids=["one-replica", "two-replicas"])
def test_padded_scan_calls_and_a_partial_last_batch_are_model_fit(  # type: ignore[no-untyped-def]
    tiny, monkeypatch: pytest.MonkeyPatch, seeds: list[int]
) -> None:
    # Production: 625 batches per epoch in calls of at most 64 steps, so 10 calls of 63 with 5
    # padding steps, and a last partial batch when the reviews are not a multiple of 32. Here:
    # 5 full batches in calls of at most 2 steps (3 calls of 2, one padding step) and a last
    # batch of 30, over two shuffled epochs with dropout, so that a padding step which moved
    # the optimizer, the dropout seeds or the weights would show in the second epoch.
    data = _uneven(tiny)
    monkeypatch.setattr(trainer, "MAX_STEPS_PER_CALL", 2)
    settings = TrainSettings(epochs=2, eval_batch_size=40)
    result = train(data, DROPOUT, seeds, settings=settings)
    assert result.mode == "vectorized"
    for r, seed in enumerate(seeds):
        orders = [epoch_order(seed, epoch, 190) for epoch in range(2)]
        model, losses, val = _fit_epochs(data, DROPOUT, seed, orders)
        for ours, theirs in zip(result.weights[r], model.get_weights(), strict=True):
            np.testing.assert_allclose(ours, theirs, atol=1e-5)
        np.testing.assert_allclose([e[r] for e in result.loss], losses, rtol=1e-5)
        np.testing.assert_allclose([e[r] for e in result.val_accuracy], val, atol=1e-6)
        loss, accuracy = model.evaluate(data.x_test, data.y_test, batch_size=40, verbose=0)
        assert result.test_accuracy[r] == pytest.approx(accuracy, abs=1e-6)
        assert result.test_loss[r] == pytest.approx(loss, rel=1e-4)
