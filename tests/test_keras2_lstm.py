"""Dropout masks over time: Keras 2 (the notebook's) against Keras 3, and our Keras2LSTM.

The evidence tests watch the masks each implementation really applies, step by step: tf-keras
inside ``tf.function`` (as in ``fit``) draws new masks at every step, Keras 3 one per sequence.
Our layer is then checked against a NumPy LSTM fed the masks it drew.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from search_spaces import ModelConfig, ModelSpec
from search_spaces.baseline import BASELINE_GRID
from study.training.keras2_lstm import Keras2LSTM
from study.training.model import build_model
from tests.conftest import ROOT
from tests.device import full_float32_products, gpu_only, require  # noqa: F401

BATCH, STEPS, FEATURES, UNITS = 16, 12, 3, 5


def _sequence() -> np.ndarray:
    return np.random.RandomState(0).randn(BATCH, STEPS, FEATURES).astype("float32")


def _changes_over_time(masks: np.ndarray) -> float:
    """Fraction of (review, step) pairs whose mask differs from the previous step's.

    0 for a mask reused at every step; for independent masks at rate 0.5 it is 1 - 2**-n for
    n mask entries per step (0.875 for 3, 0.97 for 5), hence the 0.7 thresholds below.
    """
    steps = masks.reshape(masks.shape[0], masks.shape[1], -1)
    return float(np.any(steps[:, 1:] != steps[:, :-1], axis=-1).mean())


def test_tf_keras_draws_new_masks_at_every_step_inside_tf_function() -> None:
    require("tensorflow", "tf_keras")
    # Keras 2 (tf-keras), the notebook's Keras. Its LSTMCell is made to output the recurrent
    # mask of the input gate it used at each step, and the inputs' mask of that gate.
    code = textwrap.dedent(
        f"""
        import os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import numpy as np, tensorflow as tf, tf_keras
        from tf_keras.src.layers.rnn import lstm

        original = lstm.LSTMCell.call

        def probe(self, inputs, states, training=None):
            _, new_states = original(self, inputs, states, training=training)
            rec = self.get_recurrent_dropout_mask_for_cell(states[0], training, count=4)
            inp = self.get_dropout_mask_for_cell(inputs, training, count=4)
            return tf.concat([rec[0], inp[0][:, :{UNITS}]], axis=-1), new_states

        lstm.LSTMCell.call = probe
        layer = tf_keras.layers.LSTM(
            {UNITS}, dropout=0.5, recurrent_dropout=0.5, return_sequences=True
        )
        x = tf.ones(({BATCH}, {STEPS}, {UNITS}))
        graph = tf.function(lambda x: layer(x, training=True))(x).numpy()
        eager = layer(x, training=True).numpy()
        np.save("{{}}", np.stack([graph, eager]))
        """
    )
    graph, eager = run_tf_keras_probe(code, "tf_keras_masks.npy")
    assert_new_masks_at_every_step_in_graph_only(graph, eager, UNITS)


def run_tf_keras_probe(code: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Runs a tf-keras probe in its own process (tf-keras and Keras 3 cannot share one).

    ``code`` saves the stacked (graph, eager) outputs to the path its ``{}`` stands for.
    """
    out = ROOT / ".pytest_cache" / name
    out.parent.mkdir(exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", code.replace("{}", str(out))], check=True, capture_output=True
    )
    graph, eager = np.load(out)
    return graph, eager


def assert_new_masks_at_every_step_in_graph_only(
    graph: np.ndarray, eager: np.ndarray, units: int
) -> None:
    """The probe's recurrent masks (its first ``units`` outputs) and input masks (the rest)."""
    rec_graph, inp_graph = graph[..., :units], graph[..., units:]
    assert _changes_over_time(rec_graph) > 0.7  # new recurrent mask at every step, in fit
    assert _changes_over_time(inp_graph) > 0.7  # new input mask at every step too
    assert _changes_over_time(eager[..., :units]) == 0.0  # eagerly: one mask per sequence


def test_keras3_reuses_one_mask_for_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    from keras.src.layers.rnn import lstm

    original = lstm.LSTMCell.call

    def probe(self, inputs, states, training=False):  # type: ignore[no-untyped-def]
        _, new_states = original(self, inputs, states, training=training)
        rec = self.get_recurrent_dropout_mask(states[0])
        inp = self.get_dropout_mask(inputs)
        return keras.ops.concatenate([rec[0], inp[0]], axis=-1), new_states

    monkeypatch.setattr(lstm.LSTMCell, "call", probe)
    layer = keras.layers.LSTM(UNITS, dropout=0.5, recurrent_dropout=0.5, return_sequences=True)
    layer.cell.output_size = UNITS + FEATURES
    seen = np.asarray(layer(_sequence(), training=True))
    assert _changes_over_time(seen[..., :UNITS]) == 0.0
    assert _changes_over_time(seen[..., UNITS:]) == 0.0
    assert (seen == 0).any()  # the masks did drop something


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def reference_lstm(
    x: np.ndarray, weights: list[np.ndarray], x_masks: np.ndarray, h_masks: np.ndarray
) -> np.ndarray:
    """Keras 2's implementation-1 LSTM step in NumPy, with one mask per step and gate."""
    kernel, recurrent, bias = weights
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units), np.float32)
    c = np.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        z = [
            (x[:, t] * x_masks[:, t, g]) @ kernel[:, g * units : (g + 1) * units]
            + (h * h_masks[:, t, g]) @ recurrent[:, g * units : (g + 1) * units]
            + bias[g * units : (g + 1) * units]
            for g in range(4)
        ]
        c = _sigmoid(z[1]) * c + _sigmoid(z[0]) * np.tanh(z[2])
        h = _sigmoid(z[3]) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def _record_masks(monkeypatch: pytest.MonkeyPatch, cls: type = Keras2LSTM) -> list[np.ndarray]:
    """Every mask ``cls`` draws from now on, in the order drawn."""
    drawn: list[np.ndarray] = []
    original = cls._mask

    def recording(self, shape, rate):  # type: ignore[no-untyped-def]
        mask = original(self, shape, rate)
        drawn.append(np.asarray(mask))
        return mask

    monkeypatch.setattr(cls, "_mask", recording)
    return drawn


def test_keras2_lstm_applies_new_masks_per_step_and_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = _record_masks(monkeypatch)
    layer = Keras2LSTM(UNITS, dropout=0.4, recurrent_dropout=0.5, return_sequences=True)
    x = _sequence()
    out = np.asarray(layer(x, training=True))
    # Drawn time-major, as the loop reads them: (steps, gates, batch, ...); the checks below
    # read them per review: (batch, steps, gates, ...).
    x_masks, h_masks = (np.transpose(m, (2, 0, 1, 3)) for m in drawn)
    assert x_masks.shape == (BATCH, STEPS, 4, FEATURES)
    assert h_masks.shape == (BATCH, STEPS, 4, UNITS)
    assert _changes_over_time(h_masks) > 0.7 and _changes_over_time(x_masks) > 0.7
    assert not np.array_equal(h_masks[:, :, 0], h_masks[:, :, 1])  # gates drawn apart
    assert set(np.unique(h_masks).round(4)) == {0.0, 2.0}  # inverted dropout at rate 0.5
    assert abs((h_masks == 0).mean() - 0.5) < 0.05 and abs((x_masks == 0).mean() - 0.4) < 0.05
    expected = reference_lstm(x, layer.get_weights(), x_masks, h_masks)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_keras2_lstm_input_dropout_alone_uses_one_mask_per_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Keras 2's fused path: a mask of the sequence's shape, shared by the four gates.
    drawn = _record_masks(monkeypatch)
    layer = Keras2LSTM(UNITS, dropout=0.5, return_sequences=True)
    x = _sequence()
    out = np.asarray(layer(x, training=True))
    (mask,) = drawn
    assert mask.shape == (BATCH, STEPS, FEATURES)
    assert _changes_over_time(mask) > 0.7
    gates = np.broadcast_to(mask[:, :, None, :], (BATCH, STEPS, 4, FEATURES))
    no_drop = np.ones((BATCH, STEPS, 4, UNITS), np.float32)
    np.testing.assert_allclose(
        out, reference_lstm(x, layer.get_weights(), gates, no_drop), atol=1e-5
    )


def with_keras_weights(
    ours: keras.Layer, plain: keras.Layer, x: np.ndarray
) -> tuple[keras.Layer, keras.Layer]:
    """Both layers built for ``x``, ours holding the Keras layer's weights."""
    plain.build(x.shape)
    ours.build(x.shape)
    ours.set_weights(plain.get_weights())
    return ours, plain


def test_keras2_lstm_is_keras_lstm_outside_training() -> None:
    x = _sequence()
    ours, plain = with_keras_weights(
        Keras2LSTM(UNITS, dropout=0.4, recurrent_dropout=0.5, return_sequences=True),
        keras.layers.LSTM(UNITS, return_sequences=True),
        x,
    )
    np.testing.assert_array_equal(np.asarray(ours(x)), np.asarray(plain(x)))
    assert ours.count_params() == plain.count_params()


def test_keras2_lstm_without_dropout_in_training_matches_keras_lstm() -> None:
    x = _sequence()
    ours, plain = with_keras_weights(
        Keras2LSTM(UNITS, dropout=1e-9, recurrent_dropout=1e-9, return_sequences=True),
        keras.layers.LSTM(UNITS, return_sequences=True),
        x,
    )
    np.testing.assert_allclose(np.asarray(ours(x, training=True)), np.asarray(plain(x)), atol=1e-5)


def test_keras2_lstm_refuses_a_rate_outside_0_1() -> None:
    with pytest.raises(ValueError, match="recurrent_dropout must be in"):
        Keras2LSTM(4, recurrent_dropout=1.0)


def test_default_style_is_keras2_and_without_dropout_both_build_keras_lstm() -> None:
    dropout = build_model(ModelSpec(ModelConfig(8, 8, 2, 0.4, 0.5), sequence_length=20))
    assert [type(layer) for layer in dropout.layers[1:3]] == [Keras2LSTM, Keras2LSTM]
    keras3 = build_model(ModelSpec(ModelConfig(8, 8, 1, 0.4, 0.5), dropout_style="keras3"))
    assert type(keras3.layers[1]) is keras.layers.LSTM
    for style in ("keras2", "keras3"):
        plain = build_model(
            ModelSpec(ModelConfig(8, 8, 2), sequence_length=20, dropout_style=style)
        )
        # The fast path (cuDNN on a GPU) is Keras' own LSTM, untouched.
        assert [type(layer) for layer in plain.layers[1:3]] == [keras.layers.LSTM] * 2


def test_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="dropout_style must be one of keras2, keras3"):
        build_model(ModelSpec(ModelConfig(8, 8), dropout_style="keras1"))


@pytest.mark.parametrize("style", ["keras2", "keras3"])
def test_part3_baselines_keep_the_notebooks_parameter_counts(style: str) -> None:
    for entry in BASELINE_GRID:
        if entry.config.dropout or entry.config.recurrent_dropout:
            model = build_model(ModelSpec(entry.config, sequence_length=80, dropout_style=style))
            assert model.count_params() == entry.notebook_params, entry.label


def test_the_same_semantics_hold_under_tensorflow() -> None:
    require("tensorflow")
    # The tests above run on the default backend (JAX); the layer must behave the same under
    # TensorFlow (ops.scan is a tf.while_loop there). Rerun them in a TensorFlow process.
    chosen = "new_masks_per_step or dropout_alone or outside_training or dropout_in_training"
    # -n 0: in this one process, not on xdist workers of its own (pyproject's addopts).
    flags = ["-q", "-p", "no:cacheprovider", "-n", "0", "-k", chosen]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, *flags],
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "7 passed" in proc.stdout  # 3 of them: the backward order outside training


@pytest.mark.parametrize("rate", [0.05, 0.4, 0.5, 0.9])
def test_jax_masks_drop_the_rate_asked_for_and_keep_a_mean_of_one(rate: float) -> None:
    import jax

    from study.training.keras2_lstm import jax_mask

    mask = np.asarray(jax_mask(jax.random.PRNGKey(3), (64, 80, 4, 9), rate, "float32"))
    dropped = (mask == 0).mean()
    assert abs(dropped - rate) < 4 * np.sqrt(rate * (1 - rate) / mask.size)
    assert len(np.unique(mask)) == 2
    # The kept entries carry the exact inverse of the kept fraction the 16 bits give.
    kept_fraction = 1 - round(rate * 2**16) / 2**16
    assert np.unique(mask)[1] == pytest.approx(1 / kept_fraction, rel=1e-6)
    assert kept_fraction == pytest.approx(1 - rate, rel=1e-4)
    other = np.asarray(jax_mask(jax.random.PRNGKey(4), (64, 80, 4, 9), rate, "float32"))
    assert (mask != other).any()


def test_require_skips_naming_what_is_missing_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require("numpy")  # installed: nothing happens
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs no_such_module_22, not installed"):
        require("numpy", "no_such_module_22")
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="needs no_such_module_22"):
        require("no_such_module_22")


# -- go_backwards and Keras' cuDNN LSTM ------------------------------------------------------
# Keras 3.15's cuDNN LSTM under JAX (keras/src/backend/jax/rnn.py, ``lstm``) returns a
# go_backwards layer's sequence in time order, its scan path (``rnn``) in the order it processed
# the steps; ``Bidirectional`` flips the backward layer's sequence, expecting the latter. Only
# ``Bidirectional`` builds backward layers here (study.training.model), so the product must never
# send a backward sequence to that cuDNN entry point outside the fused bidirectional one.

BACKWARD_RATES = [(0.4, 0.5), (0.4, 0.0), (0.0, 0.5)]


@pytest.mark.parametrize(("dropout", "recurrent_dropout"), BACKWARD_RATES)
def test_keras2_lstm_backward_outside_training_is_keras_scan_order(
    dropout: float, recurrent_dropout: float
) -> None:
    # Evaluation runs Keras' loop; the sequence must come in the order training returns it.
    x = _sequence()
    kwargs = {"return_sequences": True, "go_backwards": True}
    ours, plain = with_keras_weights(
        Keras2LSTM(UNITS, dropout=dropout, recurrent_dropout=recurrent_dropout, **kwargs),
        keras.layers.LSTM(UNITS, use_cudnn=False, **kwargs),
        x,
    )
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(plain(x)), atol=1e-6)


@pytest.mark.parametrize("style", ["keras2", "keras3"])
@pytest.mark.parametrize(("dropout", "recurrent_dropout"), [(0.0, 0.0), *BACKWARD_RATES])
def test_no_backward_sequence_reaches_keras_cudnn_lstm(
    monkeypatch: pytest.MonkeyPatch, style: str, dropout: float, recurrent_dropout: float
) -> None:
    # Runs on a CPU: every call to Keras' cuDNN entry point is recorded, then refused as a CPU
    # refuses it (Keras falls back to its scan). A Bidirectional whose fused cuDNN path can be
    # attempted takes it on a GPU (and gives the scan's result, test below); every other
    # backward layer must keep its sequence away from ``backend.lstm``, training or not.
    from keras.src import backend

    calls: list[tuple[bool, bool]] = []

    def recorded(*args, go_backwards=False, return_sequences=False, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((go_backwards, return_sequences))
        raise NotImplementedError("no cuDNN here")

    monkeypatch.setattr(backend, "lstm", recorded)
    config = ModelConfig(UNITS, FEATURES, 2, dropout, recurrent_dropout, bidirectional=True)
    model = build_model(ModelSpec(config, sequence_length=STEPS, dropout_style=style))
    wrappers = [la for la in model.layers if isinstance(la, keras.layers.Bidirectional)]
    assert len(wrappers) == 2 and wrappers[0].return_sequences
    wrapper = wrappers[0]
    if wrapper._can_attempt_fused_lstm(None):
        assert not (dropout or recurrent_dropout)  # the fused path runs no dropout
        return
    for training in (True, False):
        wrapper.backward_layer(_sequence(), training=training)
    assert (True, True) not in calls, calls


@gpu_only
def test_keras_cudnn_lstm_backward_order_on_gpu() -> None:
    # Pins what the workaround above rests on: if a Keras upgrade changes the cuDNN path's
    # order, this fails and the workaround can go (study.training.keras2_lstm, model).
    x = _sequence()
    kwargs = {"return_sequences": True, "go_backwards": True}
    cudnn, scan = with_keras_weights(
        keras.layers.LSTM(UNITS, **kwargs), keras.layers.LSTM(UNITS, use_cudnn=False, **kwargs), x
    )
    got, want = np.asarray(cudnn(x)), np.asarray(scan(x))
    np.testing.assert_allclose(got[:, ::-1], want, atol=1e-5)  # time order, not processing
    assert not np.allclose(got, want, atol=1e-3)
    # The fused bidirectional cuDNN path (no dropout) gives the scan path's result.
    fused = keras.layers.Bidirectional(keras.layers.LSTM(UNITS, return_sequences=True))
    plain = keras.layers.Bidirectional(
        keras.layers.LSTM(UNITS, return_sequences=True, use_cudnn=False)
    )
    fused.build(x.shape)
    plain.build(x.shape)
    plain.set_weights(fused.get_weights())
    assert fused._can_attempt_fused_lstm(None) and not plain._can_attempt_fused_lstm(None)
    np.testing.assert_allclose(np.asarray(fused(x)), np.asarray(plain(x)), atol=1e-5)
