"""The LSTM time loop with per-step, per-gate recurrent masks, and its backward pass, for JAX.

Why this exists: with Keras 2's dropout (``keras2_lstm``) every gate multiplies its own
masked copy of the hidden state by its own quarter of the recurrent kernel, at every step. Left to
JAX's automatic differentiation, the backward loop then does eight small matrix products per
step (four for the hidden state's gradient, four adding to the recurrent kernel's), and on a CPU
each small product costs more in loop overhead than in arithmetic. Here
the backward loop does only the four hidden-state products and hands out each step's gate
gradients; the recurrent kernel's gradient is then four large products over all steps at once.
On a CPU that makes the loop, and so a training epoch, faster (benchmarks/README.md, "The dropout
LSTM's loop"); ``tests/test_lstm_scan.py`` checks the gradients against JAX's own.

Only the standard LSTM (sigmoid gates, tanh cell) is written out; ``Keras2LSTM`` uses the generic
loop for any other activation and on other backends.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from study.training.unroll import scan_unroll

#: The four LSTM gates, in Keras' order: input, forget, cell candidate, output.
GATES = 4


@jax.custom_vjp
def masked_lstm_scan(
    z_x: jax.Array, recurrent: jax.Array, h_masks: jax.Array, h0: jax.Array, c0: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Runs the LSTM over time, each gate seeing its own masked copy of the hidden state.

    Args:
        z_x: The inputs' contribution to each gate, bias included: (gates, steps, batch, units).
        recurrent: The recurrent kernel, Keras' layout: (units, gates * units).
        h_masks: The recurrent dropout masks: (steps, gates, batch, units).
        h0: The initial hidden state: (batch, units).
        c0: The initial cell state: (batch, units).

    Returns:
        The hidden state at every step (steps, batch, units), the last hidden state and the last
        cell state.
    """
    outputs, _ = _forward(z_x, recurrent, h_masks, h0, c0)
    return outputs


def _forward(
    z_x: jax.Array, recurrent: jax.Array, h_masks: jax.Array, h0: jax.Array, c0: jax.Array
) -> tuple[tuple[jax.Array, jax.Array, jax.Array], tuple[Any, ...]]:
    kernels = jnp.split(recurrent, GATES, axis=1)

    def step(carry: tuple[jax.Array, jax.Array], xs: tuple[jax.Array, ...]) -> tuple[Any, Any]:
        h, c = carry
        *z_x_t, mask = xs
        i, f, g, o = (
            act(z_x_t[k] + (h * mask[k]) @ kernels[k])
            for k, act in enumerate((jax.nn.sigmoid, jax.nn.sigmoid, jnp.tanh, jax.nn.sigmoid))
        )
        c_next = f * c + i * g
        tanh_c = jnp.tanh(c_next)
        h_next = o * tanh_c
        # Saved for the backward pass: the step's inputs (h, c) and its gate activations.
        return (h_next, c_next), (h_next, h, c, i, f, g, o, tanh_c)

    (h, c), (hs, *saved) = jax.lax.scan(step, (h0, c0), (*z_x, h_masks), unroll=scan_unroll())
    return (hs, h, c), (recurrent, h_masks, *saved)


def _backward(
    saved: tuple[Any, ...], cotangents: tuple[jax.Array, jax.Array, jax.Array]
) -> tuple[jax.Array, jax.Array, None, jax.Array, jax.Array]:
    recurrent, h_masks, h_prev, c_prev, i, f, g, o, tanh_c = saved
    d_hs, d_h_last, d_c_last = cotangents
    kernels_t = [k.T for k in jnp.split(recurrent, GATES, axis=1)]

    def step(carry: tuple[jax.Array, jax.Array], xs: tuple[jax.Array, ...]) -> tuple[Any, Any]:
        d_h, d_c = carry
        d_h_out, mask, c_t, i_t, f_t, g_t, o_t, tanh_c_t = xs
        d_h = d_h + d_h_out
        d_c = d_c + d_h * o_t * (1 - tanh_c_t * tanh_c_t)
        # Gradients of the gates' pre-activations (sigmoid' = s(1-s), tanh' = 1-t^2).
        d_z = (
            d_c * g_t * i_t * (1 - i_t),
            d_c * c_t * f_t * (1 - f_t),
            d_c * i_t * (1 - g_t * g_t),
            d_h * tanh_c_t * o_t * (1 - o_t),
        )
        d_h_prev = sum((d_z[k] @ kernels_t[k]) * mask[k] for k in range(GATES))
        return (d_h_prev, d_c * f_t), jnp.stack(d_z)

    (d_h0, d_c0), d_z = jax.lax.scan(
        step,
        (d_h_last, d_c_last),
        (d_hs, h_masks, c_prev, i, f, g, o, tanh_c),
        reverse=True,
        unroll=scan_unroll(),
    )  # d_z: (steps, gates, batch, units)
    steps, _, batch, units = d_z.shape
    d_recurrent = jnp.concatenate(
        [
            (h_prev * h_masks[:, k]).reshape(steps * batch, units).T
            @ d_z[:, k].reshape(steps * batch, units)
            for k in range(GATES)
        ],
        axis=1,
    )
    return jnp.moveaxis(d_z, 1, 0), d_recurrent, None, d_h0, d_c0


masked_lstm_scan.defvjp(_forward, _backward)
