"""A GRU whose dropout masks are drawn afresh at every time step, as Keras 2's were in ``fit()``.

The GRU counterpart of ``keras2_lstm.Keras2LSTM`` (whose module docstring tells why Keras 2's
masks were new at every step inside ``fit``: the cell's mask cache misses in the ``while_loop``
body graph). tf-keras's GRU uses the same ``DropoutRNNCellMixin`` and the same two paths; read in
``tf_keras/src/layers/rnn/gru.py`` (tf-keras 2.21.0, as installed here):

* ``recurrent_dropout > 0``: ``GRUCell.__init__`` forces ``implementation=1`` (lines 174-177,
  ``RECURRENT_DROPOUT_WARNING_MSG``), and ``GRU._could_use_gpu_kernel`` is False (lines 603-612:
  it requires ``recurrent_dropout == 0``), so ``GRU.call`` runs ``backend.rnn`` over
  ``GRUCell.call`` (lines 646-668). The cell asks for three input masks and three recurrent
  masks (``count=3``, lines 231-234), one per gate in the kernel's column order (update ``z``,
  reset ``r``, candidate ``h``), and applies them as ``inputs_z = inputs * dp_mask[0]`` ...
  (lines 243-246) and ``h_tm1_z = h_tm1 * rec_dp_mask[0]`` ... (lines 265-268). With
  ``reset_after=True`` (the default) the candidate's recurrent part is
  ``r * (h_tm1_h @ U_h + b_rh)`` (lines 292-300), the recurrent biases being row 1 of ``bias``
  (line 240, ``tf.unstack``). The new state mixes the *undropped* previous state:
  ``h = z * h_tm1 + (1 - z) * hh`` (line 348). Inside ``tf.function`` the masks are new at every
  step (``tests/test_keras2_gru.py`` measures it), as for the LSTM.
* ``recurrent_dropout == 0`` and ``dropout > 0``: ``_could_use_gpu_kernel`` holds (also on a
  CPU, where the "GPU kernel" dispatch picks ``standard_gru``), and ``_defun_gru_call`` draws the
  input mask from the whole sequence, ``get_dropout_mask_for_cell(inputs, ...)`` with ``inputs``
  of shape ``(batch, steps, features)``, and applies only ``dropout_mask[0]`` to it (lines
  822-825): one mask of the sequence's full shape, new at every step, shared by the three gates.
  Exactly as the LSTM's fused path.

``Keras2GRU`` reproduces both on any Keras 3 backend, the same way ``Keras2LSTM`` does (masks
drawn up front, one random call per kind, then ``ops.scan`` over the steps with plain 2-D
products; JAX differentiates the scan, there is no hand-written backward pass). Without dropout,
or when not training, it is Keras 3's own ``GRU`` code path (cuDNN on a GPU), with the same
weights and parameter count; ``reset_after=False`` is followed too.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from study.training.keras2_lstm import StepDropout

#: The three GRU gates, in the order Keras lays out ``kernel``'s columns (z, r, h).
GATES = 3


@keras.saving.register_keras_serializable(package="rnn_design_study")
class Keras2GRU(StepDropout, keras.layers.GRU):
    """``keras.layers.GRU`` with Keras 2's per-step dropout masks (see the module docstring).

    Args:
        units: GRU units.
        dropout: Fraction of the inputs dropped, per step (and per gate with recurrent dropout).
        recurrent_dropout: Fraction of the previous hidden state dropped, per step and gate.
        seed: Seed of the masks' generator; None takes it from Keras' global seed.
        **kwargs: Any other ``keras.layers.GRU`` argument (``return_sequences``,
            ``go_backwards``, ``reset_after``, ...).
    """

    def _per_gate_loop(self, inputs: Any, initial_state: Any) -> tuple[Any, Any, list[Any]]:
        """Keras 2's ``implementation=1`` GRU step, with new per-gate masks at every step.

        ``inputs`` is time-major, ``(steps, batch, features)``, in the order of processing.
        """
        cell = self.cell
        steps, batch, features = ops.shape(inputs)
        units = self.units
        h0 = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state
        x_masks = None
        if self.step_dropout:
            x_masks = self._mask((steps, GATES, batch, features), self.step_dropout)
        h_masks = self._mask((steps, GATES, batch, units), self.step_recurrent_dropout)
        kernels = ops.split(cell.kernel, GATES, axis=1)
        recurrents = ops.split(cell.recurrent_kernel, GATES, axis=1)
        input_biases: list[Any] = [None] * GATES
        recurrent_biases: list[Any] = [None] * GATES
        if cell.use_bias and cell.reset_after:
            input_biases = ops.split(cell.bias[0], GATES)
            recurrent_biases = ops.split(cell.bias[1], GATES)
        elif cell.use_bias:
            input_biases = ops.split(cell.bias, GATES)
        # Every gate sees its own dropped copy of the input; project all steps at once.
        x_proj = []
        for gate in range(GATES):
            x = inputs if x_masks is None else inputs * x_masks[:, gate]
            z = ops.matmul(ops.reshape(x, (steps * batch, features)), kernels[gate])
            if input_biases[gate] is not None:
                z = z + input_biases[gate]
            x_proj.append(ops.reshape(z, (steps, batch, units)))

        def recurrent(h: Any, gate: int) -> Any:
            out = ops.matmul(h, recurrents[gate])
            return out if recurrent_biases[gate] is None else out + recurrent_biases[gate]

        def step(h: Any, xs: tuple[Any, ...]) -> tuple[Any, Any]:
            x_z, x_r, x_h, m = xs  # three (batch, units), then (gates, batch, units)
            z = cell.recurrent_activation(x_z + recurrent(h * m[0], 0))
            r = cell.recurrent_activation(x_r + recurrent(h * m[1], 1))
            if cell.reset_after:
                recurrent_h = r * recurrent(h * m[2], 2)
            else:
                recurrent_h = ops.matmul(r * (h * m[2]), recurrents[2])
            hh = cell.activation(x_h + recurrent_h)
            h = z * h + (1 - z) * hh  # the previous state undropped, as in Keras 2
            return h, h

        h, hs = ops.scan(step, h0, (*x_proj, h_masks), unroll=self.unroll or 1)
        return h, ops.transpose(hs, (1, 0, 2)), [h]
