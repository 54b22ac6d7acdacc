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

#: Added to a go_backwards layer's seed, so that a Bidirectional pair draws different masks.
BACKWARD_SEED_OFFSET = 7919

#: The four LSTM gates, in the order Keras lays out ``kernel``'s columns (i, f, c, o).
GATES = 4


class StepDropout:
    """What ``Keras2LSTM`` and ``Keras2GRU`` share: the rates, masks, loop dispatch and config.

    Mixed in before the Keras layer (``class Keras2LSTM(StepDropout, keras.layers.LSTM)``), whose
    ``_per_gate_loop`` is Keras 2's ``implementation=1`` loop. The Keras cell gets no dropout of
    its own: it then keeps Keras 3's fast path (cuDNN on a GPU) and never draws Keras 3's
    per-sequence masks; ours are applied in ``inner_loop``.

    With dropout, ``use_cudnn`` reads False outside our own calls to Keras' loop
    (``_keras_loop``, which restores the setting asked for): ``keras.layers.Bidirectional``
    decides on its fused cuDNN path from ``use_cudnn`` and the *cell's* rates (both zero here),
    and that path runs the cells' weights directly, so on a GPU it would train without any
    dropout. ``go_backwards`` (Bidirectional's backward copy) is supported: the outputs come in
    the order the steps were processed, as Keras returns them, and a seeded backward copy draws
    from ``seed + BACKWARD_SEED_OFFSET``, not the forward layer's masks.
    """

    go_backwards: bool
    use_cudnn: Any
    compute_dtype: Any

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
        super().__init__(units, **kwargs)  # type: ignore[call-arg]
        self.step_dropout = float(dropout)
        self.step_recurrent_dropout = float(recurrent_dropout)
        self.mask_seed = seed
        if seed is not None and self.go_backwards:
            # keras.layers.Bidirectional makes its backward copy from the same config: without
            # this its masks would be the forward layer's, step for step.
            seed += BACKWARD_SEED_OFFSET
        self.mask_generator = keras.random.SeedGenerator(seed)
        self.keras_use_cudnn = self.use_cudnn
        if self.step_dropout or self.step_recurrent_dropout:
            self.use_cudnn = False

    def _keras_loop(self, sequences: Any, initial_state: Any, mask: Any, training: bool) -> Any:
        """Keras' own ``inner_loop`` (cuDNN where it can), under the ``use_cudnn`` asked for.

        A go_backwards layer runs it forwards over the reversed sequence: the same steps, and
        the outputs in the order they were processed on every path. Keras 3.15's cuDNN LSTM
        under JAX returns a backward sequence in time order instead, which ``Bidirectional``
        would then reverse once more (tests/test_keras2_lstm.py pins it on a GPU).
        """
        backwards = self.go_backwards
        if backwards:
            sequences = ops.flip(sequences, axis=1)
            mask = None if mask is None else ops.flip(mask, axis=1)
        idle, self.use_cudnn = self.use_cudnn, self.keras_use_cudnn
        self.go_backwards = False
        try:
            return super().inner_loop(  # type: ignore[misc]
                sequences, initial_state, mask, training=training
            )
        finally:
            self.use_cudnn, self.go_backwards = idle, backwards

    def _mask(self, shape: Any, rate: float) -> Any:
        """Inverted-dropout mask: 0 with probability ``rate``, else ``1 / (1 - rate)``."""
        if keras.backend.backend() == "jax":
            return jax_mask(self.mask_generator.next(), tuple(shape), rate, self.compute_dtype)
        return keras.random.dropout(
            ops.ones(shape, dtype=self.compute_dtype), rate, seed=self.mask_generator
        )

    def inner_loop(
        self, sequences: Any, initial_state: Any, mask: Any, training: bool = False
    ) -> Any:
        if not training or not (self.step_dropout or self.step_recurrent_dropout):
            return self._keras_loop(sequences, initial_state, mask, training)
        if mask is not None:
            raise NotImplementedError(f"{type(self).__name__} does not support masking")
        if not self.step_recurrent_dropout:
            # Keras 2's fused path: one mask of the sequence's shape, shared by the gates.
            dropped = sequences * self._mask(ops.shape(sequences), self.step_dropout)
            return self._keras_loop(dropped, initial_state, mask, training)
        if self.go_backwards:
            # Keras' loop returns the outputs in the order it processed the steps: so do we.
            sequences = ops.flip(sequences, axis=1)
        return self._per_gate_loop(ops.transpose(sequences, (1, 0, 2)), initial_state)

    def _per_gate_loop(self, inputs: Any, initial_state: Any) -> tuple[Any, Any, list[Any]]:
        """Keras 2's ``implementation=1`` loop over time-major ``(steps, batch, features)``."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()  # type: ignore[misc]
        config.update(
            dropout=self.step_dropout,
            recurrent_dropout=self.step_recurrent_dropout,
            seed=self.mask_seed,
            use_cudnn=self.keras_use_cudnn,
        )
        return config


@keras.saving.register_keras_serializable(package="rnn_design_study")
class Keras2LSTM(StepDropout, keras.layers.LSTM):
    """``keras.layers.LSTM`` with Keras 2's per-step dropout masks (see the module docstring).

    Args:
        units: LSTM units.
        dropout: Fraction of the inputs dropped, per step (and per gate with recurrent dropout).
        recurrent_dropout: Fraction of the previous hidden state dropped, per step and gate.
        seed: Seed of the masks' generator; None takes it from Keras' global seed.
        **kwargs: Any other ``keras.layers.LSTM`` argument (``return_sequences``,
            ``go_backwards``, ...).
    """

    def _per_gate_loop(self, inputs: Any, initial_state: Any) -> tuple[Any, Any, list[Any]]:
        """Keras 2's ``implementation=1`` step, with new per-gate masks at every step.

        ``inputs`` is time-major, ``(steps, batch, features)``, in the order of processing.

        Every product is a plain 2-D matrix product, one per gate: XLA on a CPU runs a
        gate-batched product (``einsum("btgf,fgu->btgu")``) about 3x slower than four plain ones,
        and this loop is most of a sampled trial's training time (benchmarks/README.md).
        """
        cell = self.cell
        steps, batch, features = ops.shape(inputs)
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
