"""The hand-written backward pass of the per-gate LSTM loop against JAX's own differentiation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.device import full_float32_products  # noqa: F401

STEPS, BATCH, UNITS = 7, 5, 4


def _autodiff_reference(z_x, recurrent, h_masks, h0, c0):  # type: ignore[no-untyped-def]
    """The same loop, written plainly and left to ``jax.grad``."""
    import jax
    import jax.numpy as jnp

    kernels = jnp.split(recurrent, 4, axis=1)

    def step(carry, xs):  # type: ignore[no-untyped-def]
        h, c = carry
        *z, mask = xs
        i = jax.nn.sigmoid(z[0] + (h * mask[0]) @ kernels[0])
        f = jax.nn.sigmoid(z[1] + (h * mask[1]) @ kernels[1])
        g = jnp.tanh(z[2] + (h * mask[2]) @ kernels[2])
        o = jax.nn.sigmoid(z[3] + (h * mask[3]) @ kernels[3])
        c = f * c + i * g
        h = o * jnp.tanh(c)
        return (h, c), h

    (h, c), hs = jax.lax.scan(step, (h0, c0), (*z_x, h_masks))
    return hs, h, c


def test_gradients_match_jax_autodiff() -> None:
    import jax
    import jax.numpy as jnp

    from study.training.lstm_scan import masked_lstm_scan

    rng = np.random.default_rng(0)
    z_x = jnp.asarray(rng.normal(size=(4, STEPS, BATCH, UNITS)), jnp.float32)
    recurrent = jnp.asarray(rng.normal(size=(UNITS, 4 * UNITS)) * 0.5, jnp.float32)
    h_masks = jnp.asarray((rng.random((STEPS, 4, BATCH, UNITS)) > 0.3) / 0.7, jnp.float32)
    h0 = jnp.asarray(rng.normal(size=(BATCH, UNITS)), jnp.float32)
    c0 = jnp.asarray(rng.normal(size=(BATCH, UNITS)), jnp.float32)
    weights = [
        jnp.asarray(rng.normal(size=shape), jnp.float32)
        for shape in ((STEPS, BATCH, UNITS), (BATCH, UNITS), (BATCH, UNITS))
    ]

    def loss(run):  # type: ignore[no-untyped-def]
        # Every output gets a cotangent: the sequence, the last h and the last c.
        def f(z_x, recurrent, h0, c0):  # type: ignore[no-untyped-def]
            outputs = run(z_x, recurrent, h_masks, h0, c0)
            return sum(jnp.sum(w * out) for w, out in zip(weights, outputs, strict=True))

        return jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2, 3)))

    value, grads = loss(masked_lstm_scan)(z_x, recurrent, h0, c0)
    expected_value, expected = loss(_autodiff_reference)(list(z_x), recurrent, h0, c0)
    np.testing.assert_allclose(value, expected_value, rtol=1e-5)
    np.testing.assert_allclose(grads[0], np.stack(expected[0]), rtol=1e-4, atol=1e-5)
    for got, want in zip(grads[1:], expected[1:], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert float(jnp.abs(grads[1]).sum()) > 0  # the kernel's gradient is not trivially zero


def test_keras2_lstm_trains_the_same_with_either_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test suite runs under JAX (tests/conftest.py), the backend this loop is for.
    assert keras.backend.backend() == "jax"
    # The layer's weights' gradients through the hand-written backward equal those through the
    # generic loop (the same masks: the same seed), for a sequence-returning layer under a
    # last-step one, as in the study's stacked models.
    import jax

    from study.training.keras2_lstm import Keras2LSTM

    x = np.random.default_rng(1).normal(size=(BATCH, STEPS, 3)).astype("float32")

    def gradients(hand_written: bool) -> list[np.ndarray]:
        monkeypatch.setattr(Keras2LSTM, "_has_hand_written_backward", lambda self: hand_written)
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((STEPS, 3)),
                Keras2LSTM(
                    UNITS, dropout=0.3, recurrent_dropout=0.4, return_sequences=True, seed=1
                ),
                Keras2LSTM(UNITS, dropout=0.2, recurrent_dropout=0.5, seed=2),
                keras.layers.Dense(1),
            ]
        )
        trainable = [v.value for v in model.trainable_variables]
        others = [v.value for v in model.non_trainable_variables]

        def loss(trainable):  # type: ignore[no-untyped-def]
            out, _ = model.stateless_call(trainable, others, x, training=True)
            return (out**2).sum()

        return [np.asarray(g) for g in jax.grad(loss)(trainable)]

    hand, generic = gradients(True), gradients(False)
    assert len(hand) == len(generic) == 8  # two LSTMs x (kernel, recurrent, bias), Dense x 2
    for got, want in zip(hand, generic, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert all(np.abs(g).sum() > 0 for g in hand)


def test_hand_written_loop_only_for_the_standard_lstm() -> None:
    from study.training.keras2_lstm import Keras2LSTM

    assert Keras2LSTM(4, recurrent_dropout=0.5)._has_hand_written_backward()
    assert not Keras2LSTM(4, recurrent_dropout=0.5, activation="relu")._has_hand_written_backward()
    assert not Keras2LSTM(4, recurrent_dropout=0.5, unroll=True)._has_hand_written_backward()


def test_unroll_is_chosen_by_device_and_changes_nothing_but_speed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import jax

    from study.training.lstm_scan import masked_lstm_scan
    from study.training.unroll import DEFAULT_UNROLL, ENV, scan_unroll

    monkeypatch.delenv(ENV, raising=False)
    assert scan_unroll() == DEFAULT_UNROLL[jax.default_backend()]
    rng = np.random.default_rng(1)
    args = (
        rng.normal(size=(4, STEPS, BATCH, UNITS)).astype("float32"),
        rng.normal(size=(UNITS, 4 * UNITS)).astype("float32"),
        (rng.random((STEPS, 4, BATCH, UNITS)) > 0.5).astype("float32") * 2,
        np.zeros((BATCH, UNITS), "float32"),
        np.zeros((BATCH, UNITS), "float32"),
    )

    def loss_and_grads() -> tuple:  # type: ignore[type-arg]
        def loss(z, r):  # type: ignore[no-untyped-def]
            return masked_lstm_scan(z, r, *args[2:])[0].sum()

        return jax.value_and_grad(loss, argnums=(0, 1))(*args[:2])

    monkeypatch.setenv(ENV, "1")
    once = loss_and_grads()
    monkeypatch.setenv(ENV, "4")
    assert scan_unroll() == 4
    unrolled = loss_and_grads()
    for a, b in zip(jax.tree.leaves(once), jax.tree.leaves(unrolled), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    monkeypatch.setenv(ENV, "zero")
    with pytest.raises(ValueError, match="RNN_SCAN_UNROLL must be a positive integer, got 'zero'"):
        scan_unroll()
