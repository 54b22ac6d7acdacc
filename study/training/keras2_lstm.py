"""An LSTM whose dropout masks are drawn afresh at every time step, as Keras 2's were in ``fit()``.

Why this exists: the notebook ran Keras 2, and its Part 3 models (input dropout 0.4-0.7,
recurrent dropout 0.5) reach 0.82 test accuracy there but only 0.76-0.78 under Keras 3. The
difference is *when the dropout masks are drawn*:

* **Keras 3** (``keras/src/layers/rnn/rnn.py``, ``RNN.call``): ``_maybe_config_dropout_masks``
  draws the masks once per batch, before the time loop, and the cell reuses them at every one of
  the 80 steps (a "temporally constant" mask, as in Gal & Ghahramani). With recurrent dropout
  0.5 on LSTM(8), the same ~4 of the 8 hidden units are hidden from each gate for a whole review.
* **Keras 2** (``tf_keras/src/layers/rnn/dropout_rnn_cell_mixin.py``): the cell caches its masks
  in a ``ContextValueCache`` keyed by the current graph, and looks them up with ``setdefault``,
  which does not search parent graphs. Inside ``model.fit`` the time loop is a ``tf.while_loop``
  whose body is its own ``FuncGraph``, so the cache misses and the mask ops are built *into the
  loop body*: every time step draws new masks. Keras 2's documentation (and Keras' issue #19993,
  where the maintainers read the code) describe a temporally constant recurrent mask; measured
  inside ``tf.function``, both the input and the recurrent masks change at every step
  (``tests/test_keras2_lstm.py`` shows it). Called eagerly, outside ``fit``, the same tf-keras
  layer does reuse its masks, which is why reading the code suggests otherwise.

So, in Keras 2's ``fit`` (what the notebook ran):

* with ``recurrent_dropout > 0`` (the generic loop, ``implementation=1``): at every step, four
  input masks and four recurrent masks, one per gate (input, forget, cell, output), each of shape
  ``(batch, features)`` / ``(batch, units)``, independent across steps;
* with ``recurrent_dropout == 0`` (the fused / cuDNN path): one input mask of the sequence's full
  shape ``(batch, steps, features)``, so new at every step and shared by the four gates.

``Keras2LSTM`` reproduces exactly that on any Keras 3 backend: it draws all the masks of a batch
up front (one random call, no randomness inside the loop, so it also runs under ``jax.jit`` and
``jax.vmap``; on JAX from 16 random bits per entry, ``jax_mask``) and scans over them with the
time steps (under JAX with a hand-written backward pass, ``study.training.lstm_scan``: with the 2-D
products below, 1.4-1.6x faster per epoch than the earlier loop on our CPU). Without dropout,
or when not training, it is Keras 3's own ``LSTM`` code path
(cuDNN on a GPU, under either backend): it builds the same weights and so the same parameter count.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

#: The four LSTM gates, in the order Keras lays out ``kernel``'s columns (i, f, c, o).
GATES = 4


# Registered so that ``keras.layers.Bidirectional`` can rebuild it from its config.
@keras.saving.register_keras_serializable(package="rnn_design_study")
class Keras2LSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` with Keras 2's per-step dropout masks (see the module docstring).

    Args:
        units: LSTM units.
        dropout: Fraction of the inputs dropped, per step (and per gate with recurrent dropout).
        recurrent_dropout: Fraction of the previous hidden state dropped, per step and gate.
        seed: Seed of the masks' generator; None takes it from Keras' global seed.
        **kwargs: Any other ``keras.layers.LSTM`` argument (``return_sequences``, ...).
    """

    def __init__(
        self,
        units: int,
        *,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {rate}")
        # The cell gets no dropout of its own: it then keeps Keras 3's fast path (cuDNN on a GPU)
        # and never draws Keras 3's per-sequence masks; ours are applied in inner_loop.
        super().__init__(units, **kwargs)
        self.step_dropout = float(dropout)
        self.step_recurrent_dropout = float(recurrent_dropout)
        self.mask_seed = seed
        self.mask_generator = keras.random.SeedGenerator(seed)

    def inner_loop(
        self, sequences: Any, initial_state: Any, mask: Any, training: bool = False
    ) -> Any:
        if not training or not (self.step_dropout or self.step_recurrent_dropout):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if mask is not None or self.go_backwards:
            raise NotImplementedError("Keras2LSTM supports neither masking nor go_backwards")
        if not self.step_recurrent_dropout:
            # Keras 2's fused path: one mask of the sequence's shape, shared by the four gates.
            dropped = sequences * self._mask(ops.shape(sequences), self.step_dropout)
            return super().inner_loop(dropped, initial_state, mask, training=training)
        return self._per_gate_loop(sequences, initial_state)

    def _mask(self, shape: Any, rate: float) -> Any:
        """Inverted-dropout mask: 0 with probability ``rate``, else ``1 / (1 - rate)``."""
        if keras.backend.backend() == "jax":
            return jax_mask(self.mask_generator.next(), tuple(shape), rate, self.compute_dtype)
        return keras.random.dropout(
            ops.ones(shape, dtype=self.compute_dtype), rate, seed=self.mask_generator
        )

    def _per_gate_loop(self, sequences: Any, initial_state: Any) -> tuple[Any, Any, list[Any]]:
        """Keras 2's ``implementation=1`` step, with new per-gate masks at every step.

        Every product is a plain 2-D matrix product, one per gate: XLA on a CPU runs a
        gate-batched product (``einsum("btgf,fgu->btgu")``) about 3x slower than four plain ones,
        and this loop is most of a sampled trial's training time (benchmarks/README.md).
        """
        cell = self.cell
        batch, steps, features = ops.shape(sequences)
        units = self.units
        # One random call per kind of mask, drawn time-major as the loop reads them.
        x_masks = None
        if self.step_dropout:
            x_masks = self._mask((steps, GATES, batch, features), self.step_dropout)
        h_masks = self._mask((steps, GATES, batch, units), self.step_recurrent_dropout)
        kernels = ops.split(cell.kernel, GATES, axis=1)
        biases = ops.split(cell.bias, GATES) if cell.use_bias else [None] * GATES
        # Every gate sees its own dropped copy of the input; project all steps at once, outside
        # the loop (the loop then only does the recurrent products).
        inputs = ops.transpose(sequences, (1, 0, 2))  # (steps, batch, features)
        z_x = []
        for gate in range(GATES):
            x = inputs if x_masks is None else inputs * x_masks[:, gate]
            z = ops.matmul(ops.reshape(x, (steps * batch, features)), kernels[gate])
            if biases[gate] is not None:
                z = z + biases[gate]
            z_x.append(ops.reshape(z, (steps, batch, units)))

        if self._has_hand_written_backward():
            from study.training.lstm_scan import masked_lstm_scan

            hs, h, c = masked_lstm_scan(
                ops.stack(z_x),
                ops.convert_to_tensor(cell.recurrent_kernel),
                h_masks,
                initial_state[0],
                initial_state[1],
            )
            return h, ops.transpose(hs, (1, 0, 2)), [h, c]

        recurrents = ops.split(cell.recurrent_kernel, GATES, axis=1)

        def step(carry: tuple[Any, Any], xs: tuple[Any, ...]) -> tuple[Any, Any]:
            h, c = carry
            *z_x_t, h_mask_t = xs  # four (batch, units), then (gates, batch, units)
            z = [z_x_t[g] + ops.matmul(h * h_mask_t[g], recurrents[g]) for g in range(GATES)]
            i = cell.recurrent_activation(z[0])
            f = cell.recurrent_activation(z[1])
            c = f * c + i * cell.activation(z[2])
            h = cell.recurrent_activation(z[3]) * cell.activation(c)
            # TensorFlow's scan wants the per-step output shaped like the carry.
            return (h, c), (h, c)

        (h, c), (hs, _) = ops.scan(
            step,
            (initial_state[0], initial_state[1]),
            (*z_x, h_masks),
            unroll=self.unroll or 1,
        )
        return h, ops.transpose(hs, (1, 0, 2)), [h, c]

    def _has_hand_written_backward(self) -> bool:
        """Whether ``lstm_scan`` can run this layer's loop: JAX, the standard LSTM."""
        return (
            keras.backend.backend() == "jax"
            and not self.unroll
            and self.cell.activation is keras.activations.tanh
            and self.cell.recurrent_activation is keras.activations.sigmoid
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            dropout=self.step_dropout,
            recurrent_dropout=self.step_recurrent_dropout,
            seed=self.mask_seed,
        )
        return config


#: Random bits per mask entry on JAX: two entries per 32-bit random word.
MASK_BITS = 16


def jax_mask(key: Any, shape: tuple[int, ...], rate: float, dtype: str) -> Any:
    """A dropout mask drawn from 16 random bits per entry: half the random words of a float draw.

    Drawing masks is a large part of a training step for the study's small models (an entry per
    review, step, gate and unit): on our 2-core CPU this cut a step of LSTM(8) on a 32-wide
    embedding from 4.35 to 3.1 ms of CPU time, and of LSTM(24) on 13 from 6.8 to 5.0 ms. The rate
    is the nearest multiple of 2**-16 (within 2**-17 of the one asked for), and kept entries are
    scaled by the exact inverse of the kept fraction, so the mask's mean is exactly 1, as
    ``keras.random.dropout``'s is.

    Args:
        key: A JAX PRNG key (``SeedGenerator.next()``: two 32-bit words).
        shape: The mask's shape.
        rate: The fraction of entries dropped, in [0, 1).
        dtype: The mask's float type.
    """
    import jax
    import jax.numpy as jnp

    size = math.prod(shape)
    # JAX's default "partitionable" Threefry gives the same bits however an array is sharded
    # across devices, at 1.7x the time per word on our CPU; a mask is never sharded.
    with jax.threefry_partitionable(False):
        words = jax.random.bits(key, ((size + 1) // 2,), jnp.uint32)
    halves = jax.lax.bitcast_convert_type(words, jnp.uint16).reshape(-1)[:size]
    dropped = round(rate * 2**MASK_BITS)
    kept = halves.reshape(shape) >= dropped
    return kept.astype(dtype) * (2**MASK_BITS / (2**MASK_BITS - dropped))
