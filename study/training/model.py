"""Builds the notebook's model from a ``ModelConfig``; knows nothing of Optuna or trials.

The notebook's model is Embedding -> LSTM x layers -> Dense(1, sigmoid). The extended space's
configurations may swap the cell for a GRU, wrap every layer in ``keras.layers.Bidirectional``
(the backward copy's outputs concatenated to the forward's), read the last layer's states out by
their maximum or mean over time (``GlobalMaxPooling1D`` / ``GlobalAveragePooling1D``; the
padding's states are included, as in a model without masking) instead of its last state, and
set Adam's learning rate. A configuration that leaves those unset builds the notebook's model.

The recurrent layers draw their dropout masks in one of two styles (``DROPOUT_STYLES``):

* ``keras2`` (the default): new masks at every time step, as the notebook's Keras 2 did inside
  ``fit()`` (``keras2_lstm.Keras2LSTM``). With it the notebook's Part 3 models reach its
  0.82 test accuracy.
* ``keras3``: ``keras.layers.LSTM`` as it is, one mask per review reused at every step. The same
  Part 3 models reach only 0.76-0.78 (docs/reproducing-the-notebook.md).

The GRU follows the same two styles (``keras2_gru.Keras2GRU``: Keras 2's GRU in ``fit()`` drew
its masks the same way). Without dropout both styles build the same ``keras.layers.LSTM`` or
``GRU`` (the fast path, cuDNN on a GPU under either backend), and in every style the weights and
the parameter count are Keras' own.
"""

from __future__ import annotations

import keras

from search_spaces import ModelConfig, ModelSpec
from study.training.keras2_gru import Keras2GRU
from study.training.keras2_lstm import Keras2LSTM

#: The readouts that pool the last layer's states over time, by ``ModelConfig.readout``.
POOLING = {"max": keras.layers.GlobalMaxPooling1D, "mean": keras.layers.GlobalAveragePooling1D}


def build_model(spec: ModelSpec) -> keras.Model:
    """Embedding -> LSTM (or GRU) x layers [-> pooling] -> Dense(1, sigmoid), as the notebook.

    Args:
        spec: The model: its design choices, vocabulary, review length, dropout style and
            learning rate.

    Returns:
        A compiled model: Adam, binary cross-entropy, accuracy.
    """
    config, dropout_style = spec.config, spec.dropout_style
    readout = config.choice("readout")
    model = keras.Sequential(name=f"{config.choice('cell')}_classifier")
    model.add(keras.Input(shape=(spec.sequence_length,), dtype="int32"))
    model.add(keras.layers.Embedding(spec.vocab_size, config.embedding_dim))
    for layer in range(config.layers):
        # Every layer but the last hands its whole sequence to the next one; the last one too
        # when the readout pools over time.
        sequences = layer < config.layers - 1 or readout != "last"
        model.add(recurrent_layer(config, dropout_style, return_sequences=sequences))
    if readout != "last":
        model.add(POOLING[readout]())
    model.add(keras.layers.Dense(1, activation="sigmoid"))
    model.compile(
        loss="binary_crossentropy",
        optimizer=keras.optimizers.Adam(learning_rate=spec.learning_rate),
        metrics=["accuracy"],
    )
    return model


def recurrent_layer(
    config: ModelConfig, dropout_style: str, *, return_sequences: bool
) -> keras.Layer:
    """One recurrent layer of the model: its cell and direction, its dropout in the given style."""
    layer = _cell_layer(config, dropout_style, return_sequences=return_sequences)
    if not config.choice("bidirectional"):
        return layer
    # Keras builds the backward copy from the layer's config, with go_backwards flipped.
    wrapper = keras.layers.Bidirectional(layer)
    backward = wrapper.backward_layer
    if type(backward) is keras.layers.LSTM and (config.dropout or config.recurrent_dropout):
        # Not fused (dropout), Keras' own backward LSTM would take cuDNN on a GPU, which
        # returns its sequence in time order, and Bidirectional reverses it again (issue 22).
        # Its scan path returns the order Bidirectional expects. Keras2LSTM handles it itself.
        backward.use_cudnn = False
    return wrapper


def _cell_layer(config: ModelConfig, dropout_style: str, *, return_sequences: bool) -> keras.Layer:
    gru = config.choice("cell") == "gru"
    has_dropout = config.dropout > 0 or config.recurrent_dropout > 0
    if dropout_style == "keras2" and has_dropout:
        keras2 = Keras2GRU if gru else Keras2LSTM
        return keras2(
            config.units,
            dropout=config.dropout,
            recurrent_dropout=config.recurrent_dropout,
            return_sequences=return_sequences,
        )
    keras3 = keras.layers.GRU if gru else keras.layers.LSTM
    return keras3(
        config.units,
        dropout=config.dropout,
        recurrent_dropout=config.recurrent_dropout,
        return_sequences=return_sequences,
    )
