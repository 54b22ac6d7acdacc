"""Builds the notebook's model from a ``ModelConfig``; knows nothing of Optuna or trials.

The LSTM layers draw their dropout masks in one of two styles (``DROPOUT_STYLES``):

* ``keras2`` (the default): new masks at every time step, as the notebook's Keras 2 did inside
  ``fit()`` (``keras2_lstm.Keras2LSTM``). With it the notebook's Part 3 models reach its
  0.82 test accuracy.
* ``keras3``: ``keras.layers.LSTM`` as it is, one mask per review reused at every step. The same
  Part 3 models reach only 0.76-0.78 (docs/reproducing-the-notebook.md).

Without dropout both styles build the same ``keras.layers.LSTM`` (the fast path, cuDNN on a GPU
under either backend), and in every style the weights and the parameter count are Keras' own.
"""

from __future__ import annotations

import keras

from search_spaces import ModelConfig
from search_spaces.config import DROPOUT_STYLES
from study.training.keras2_lstm import Keras2LSTM


def build_model(
    config: ModelConfig,
    *,
    vocab_size: int = 1000,
    sequence_length: int | None = None,
    learning_rate: float = 1e-3,
    dropout_style: str = "keras2",
) -> keras.Model:
    """Embedding -> LSTM x layers -> Dense(1, sigmoid), compiled as in the notebook.

    Args:
        config: The model's design choices.
        vocab_size: Rows of the embedding (the notebook's ``max_features``).
        sequence_length: Fixed input length, or None for any; a fixed length lets the
            backend compile one graph.
        learning_rate: Adam's learning rate (the notebook uses Keras' default, 1e-3).
        dropout_style: ``"keras2"`` or ``"keras3"``: how the LSTM draws its dropout masks.

    Returns:
        A compiled model: Adam, binary cross-entropy, accuracy.

    Raises:
        ValueError: ``dropout_style`` is not one of ``DROPOUT_STYLES``.
    """
    if dropout_style not in DROPOUT_STYLES:
        raise ValueError(
            f"dropout_style must be one of {', '.join(DROPOUT_STYLES)}, got {dropout_style!r}"
        )
    model = keras.Sequential(name="lstm_classifier")
    model.add(keras.Input(shape=(sequence_length,), dtype="int32"))
    model.add(keras.layers.Embedding(vocab_size, config.embedding_dim))
    for layer in range(config.layers):
        # Every layer but the last hands its whole sequence to the next one.
        model.add(lstm_layer(config, dropout_style, return_sequences=layer < config.layers - 1))
    model.add(keras.layers.Dense(1, activation="sigmoid"))
    model.compile(
        loss="binary_crossentropy",
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        metrics=["accuracy"],
    )
    return model


def lstm_layer(config: ModelConfig, dropout_style: str, *, return_sequences: bool) -> keras.Layer:
    """One LSTM layer of the model, with the configuration's dropout in the given style."""
    has_dropout = config.dropout > 0 or config.recurrent_dropout > 0
    if dropout_style == "keras2" and has_dropout:
        return Keras2LSTM(
            config.units,
            dropout=config.dropout,
            recurrent_dropout=config.recurrent_dropout,
            return_sequences=return_sequences,
        )
    return keras.layers.LSTM(
        config.units,
        dropout=config.dropout,
        recurrent_dropout=config.recurrent_dropout,
        return_sequences=return_sequences,
    )
