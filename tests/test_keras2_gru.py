"""GRU dropout masks over time: Keras 2 (tf-keras) against our Keras2GRU, and Bidirectional.

As for the LSTM (tests/test_keras2_lstm.py): tf-keras's GRU inside ``tf.function`` (as in
``fit``) draws new masks at every step; our layer is checked against a NumPy GRU fed the masks it
drew. The Bidirectional tests cover both of our layers (the backward copy runs go_backwards).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from study.training.keras2_gru import Keras2GRU
from study.training.keras2_lstm import Keras2LSTM
from tests.conftest import ROOT
from tests.device import full_float32_products, require  # noqa: F401
from tests.test_keras2_lstm import (
    _changes_over_time,
    _record_masks,
    _sigmoid,
    assert_new_masks_at_every_step_in_graph_only,
    run_tf_keras_probe,
    with_keras_weights,
)

BATCH, STEPS, FEATURES, UNITS = 16, 12, 3, 5


def _sequence() -> np.ndarray:
    return np.random.RandomState(0).randn(BATCH, STEPS, FEATURES).astype("float32")


def test_tf_keras_gru_draws_new_masks_at_every_step_inside_tf_function() -> None:
    require("tensorflow", "tf_keras")
    # Keras 2's GRUCell is made to output the recurrent mask of the update gate it used at each
    # step, and the inputs' mask of that gate.
    code = textwrap.dedent(
        f"""
        import os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import numpy as np, tensorflow as tf, tf_keras
        from tf_keras.src.layers.rnn import gru

        original = gru.GRUCell.call

        def probe(self, inputs, states, training=None):
            _, new_states = original(self, inputs, states, training=training)
            h_tm1 = states[0] if tf.nest.is_nested(states) else states
            rec = self.get_recurrent_dropout_mask_for_cell(h_tm1, training, count=3)
            inp = self.get_dropout_mask_for_cell(inputs, training, count=3)
            return tf.concat([rec[0], inp[0][:, :{UNITS}]], axis=-1), new_states

        gru.GRUCell.call = probe
        layer = tf_keras.layers.GRU(
            {UNITS}, dropout=0.5, recurrent_dropout=0.5, return_sequences=True
        )
        assert layer.cell.implementation == 1
        x = tf.ones(({BATCH}, {STEPS}, {UNITS}))
        graph = tf.function(lambda x: layer(x, training=True))(x).numpy()
        eager = layer(x, training=True).numpy()
        np.save("{{}}", np.stack([graph, eager]))
        """
    )
    graph, eager = run_tf_keras_probe(code, "tf_keras_gru_masks.npy")
    assert_new_masks_at_every_step_in_graph_only(graph, eager, UNITS)
    assert (graph == 0).any()  # the masks did drop something


def reference_gru(
    x: np.ndarray,
    weights: list[np.ndarray],
    x_masks: np.ndarray,
    h_masks: np.ndarray,
    reset_after: bool = True,
) -> np.ndarray:
    """Keras 2's implementation-1 GRU step in NumPy, with one mask per step and gate."""
    kernel, recurrent, bias = weights
    units = recurrent.shape[0]
    if reset_after:
        input_bias, recurrent_bias = bias
    else:
        input_bias, recurrent_bias = bias, np.zeros_like(bias)
    cols = [slice(g * units, (g + 1) * units) for g in range(3)]
    h = np.zeros((x.shape[0], units), np.float32)
    outputs = []
    for t in range(x.shape[1]):
        x_g = [
            (x[:, t] * x_masks[:, t, g]) @ kernel[:, cols[g]] + input_bias[cols[g]]
            for g in range(3)
        ]
        h_g = [h * h_masks[:, t, g] for g in range(3)]
        z = _sigmoid(x_g[0] + h_g[0] @ recurrent[:, cols[0]] + recurrent_bias[cols[0]])
        r = _sigmoid(x_g[1] + h_g[1] @ recurrent[:, cols[1]] + recurrent_bias[cols[1]])
        if reset_after:
            recurrent_h = r * (h_g[2] @ recurrent[:, cols[2]] + recurrent_bias[cols[2]])
        else:
            recurrent_h = (r * h_g[2]) @ recurrent[:, cols[2]]
        h = z * h + (1 - z) * np.tanh(x_g[2] + recurrent_h)  # the undropped previous state
        outputs.append(h)
    return np.stack(outputs, axis=1)


@pytest.mark.parametrize("reset_after", [True, False])
def test_keras2_gru_applies_new_masks_per_step_and_gate(
    monkeypatch: pytest.MonkeyPatch, reset_after: bool
) -> None:
    drawn = _record_masks(monkeypatch, Keras2GRU)
    layer = Keras2GRU(
        UNITS, dropout=0.4, recurrent_dropout=0.5, return_sequences=True, reset_after=reset_after
    )
    x = _sequence()
    out = np.asarray(layer(x, training=True))
    # Drawn time-major (steps, gates, batch, ...); read per review (batch, steps, gates, ...).
    x_masks, h_masks = (np.transpose(m, (2, 0, 1, 3)) for m in drawn)
    assert x_masks.shape == (BATCH, STEPS, 3, FEATURES)
    assert h_masks.shape == (BATCH, STEPS, 3, UNITS)
    assert _changes_over_time(h_masks) > 0.7 and _changes_over_time(x_masks) > 0.7
    assert not np.array_equal(h_masks[:, :, 0], h_masks[:, :, 2])  # gates drawn apart
    assert abs((h_masks == 0).mean() - 0.5) < 0.05 and abs((x_masks == 0).mean() - 0.4) < 0.05
    expected = reference_gru(x, layer.get_weights(), x_masks, h_masks, reset_after)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_keras2_gru_input_dropout_alone_uses_one_mask_per_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Keras 2's fused path: a mask of the sequence's shape, shared by the three gates.
    drawn = _record_masks(monkeypatch, Keras2GRU)
    layer = Keras2GRU(UNITS, dropout=0.5, return_sequences=True)
    x = _sequence()
    out = np.asarray(layer(x, training=True))
    (mask,) = drawn
    assert mask.shape == (BATCH, STEPS, FEATURES)
    assert _changes_over_time(mask) > 0.7
    gates = np.broadcast_to(mask[:, :, None, :], (BATCH, STEPS, 3, FEATURES))
    no_drop = np.ones((BATCH, STEPS, 3, UNITS), np.float32)
    np.testing.assert_allclose(
        out, reference_gru(x, layer.get_weights(), gates, no_drop), atol=1e-5
    )


@pytest.mark.parametrize("go_backwards", [False, True])
def test_keras2_gru_is_keras_gru_outside_training(go_backwards: bool) -> None:
    x = _sequence()
    kwargs = {"return_sequences": True, "go_backwards": go_backwards}
    ours, plain = with_keras_weights(
        Keras2GRU(UNITS, dropout=0.4, recurrent_dropout=0.5, **kwargs),
        keras.layers.GRU(UNITS, **kwargs),
        x,
    )
    np.testing.assert_array_equal(np.asarray(ours(x)), np.asarray(plain(x)))
    assert ours.count_params() == plain.count_params()


@pytest.mark.parametrize("cls", [Keras2GRU, Keras2LSTM])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_without_dropout_in_training_our_loop_is_keras_loop(cls: type, go_backwards: bool) -> None:
    # Rates that round to no drop run our per-gate loop: it must be Keras' own, in either
    # direction (Keras' scan returns a go_backwards layer's outputs in the order it processed
    # them). Against Keras' scan path, not cuDNN: on a GPU Keras 3.15's cuDNN LSTM returns a
    # backward sequence in time order instead (test_keras_cudnn_lstm_backward_order_on_gpu).
    x = _sequence()
    kwargs = {"return_sequences": True, "go_backwards": go_backwards}
    keras_cls = keras.layers.GRU if cls is Keras2GRU else keras.layers.LSTM
    ours, plain = with_keras_weights(
        cls(UNITS, dropout=1e-9, recurrent_dropout=1e-9, **kwargs),
        keras_cls(UNITS, use_cudnn=False, **kwargs),
        x,
    )
    np.testing.assert_allclose(np.asarray(ours(x, training=True)), np.asarray(plain(x)), atol=1e-5)


def test_keras2_lstm_backwards_with_dropout_runs_the_reversed_sequence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.test_keras2_lstm import reference_lstm

    drawn = _record_masks(monkeypatch, Keras2LSTM)
    layer = Keras2LSTM(
        UNITS, dropout=0.4, recurrent_dropout=0.5, return_sequences=True, go_backwards=True
    )
    x = _sequence()
    out = np.asarray(layer(x, training=True))
    x_masks, h_masks = (np.transpose(m, (2, 0, 1, 3)) for m in drawn)
    expected = reference_lstm(x[:, ::-1], layer.get_weights(), x_masks, h_masks)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_keras2_gru_refuses_a_rate_outside_0_1() -> None:
    with pytest.raises(ValueError, match="dropout must be in"):
        Keras2GRU(4, dropout=-0.1)
    with pytest.raises(ValueError, match="recurrent_dropout must be in"):
        Keras2GRU(4, recurrent_dropout=1.0)


@pytest.mark.parametrize("cls", [Keras2GRU, Keras2LSTM])
def test_bidirectional_builds_trains_and_keeps_keras_parameter_count(cls: type) -> None:
    x = _sequence()
    keras_cls = keras.layers.GRU if cls is Keras2GRU else keras.layers.LSTM
    ours = keras.layers.Bidirectional(cls(UNITS, dropout=0.4, recurrent_dropout=0.5, seed=3))
    plain = keras.layers.Bidirectional(keras_cls(UNITS))
    trained = np.asarray(ours(x, training=True))
    plain(x)
    assert trained.shape == (BATCH, 2 * UNITS)
    assert type(ours.backward_layer) is cls and ours.backward_layer.go_backwards
    assert ours.count_params() == plain.count_params()
    # Keras' fused bidirectional cuDNN path would run the cells without any dropout: it must
    # not be taken (on a CPU it falls back anyway; this is what keeps it off on a GPU).
    assert not ours._can_attempt_fused_lstm(None) and not ours._can_attempt_fused_gru(None)
    # The backward copy is made from the same config, seed included: its masks must differ.
    forward = np.asarray(ours.forward_layer._mask((64,), 0.5))
    backward = np.asarray(ours.backward_layer._mask((64,), 0.5))
    assert not np.array_equal(forward, backward)


def test_config_round_trip_keeps_the_rates_seed_and_cudnn_setting() -> None:
    layer = Keras2GRU(UNITS, dropout=0.4, recurrent_dropout=0.5, seed=7, use_cudnn="auto")
    config = layer.get_config()
    assert (config["dropout"], config["recurrent_dropout"], config["seed"]) == (0.4, 0.5, 7)
    assert config["use_cudnn"] == "auto"
    again = Keras2GRU.from_config(config)
    assert (again.step_dropout, again.step_recurrent_dropout, again.mask_seed) == (0.4, 0.5, 7)
    assert again.cell.dropout == 0.0 and again.cell.recurrent_dropout == 0.0


def test_the_gru_semantics_hold_under_tensorflow() -> None:
    require("tensorflow")
    chosen = "per_step_and_gate or dropout_alone or outside_training or our_loop or bidirectional"
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
    assert "11 passed" in proc.stdout
