"""Builds the notebook's model from a ``ModelConfig``; knows nothing of Optuna or trials."""

from __future__ import annotations

import keras

from search_spaces import ModelConfig


def build_model(
    config: ModelConfig,
    *,
    vocab_size: int = 1000,
    sequence_length: int | None = None,
    learning_rate: float = 1e-3,
) -> keras.Model:
    """Embedding -> LSTM x layers -> Dense(1, sigmoid), compiled as in the notebook.

    Args:
        config: The model's design choices.
        vocab_size: Rows of the embedding (the notebook's ``max_features``).
        sequence_length: Fixed input length, or None for any; a fixed length lets the
            backend compile one graph.
        learning_rate: Adam's learning rate (the notebook uses Keras' default, 1e-3).

    Returns:
        A compiled model: Adam, binary cross-entropy, accuracy.
    """
    model = keras.Sequential(name="lstm_classifier")
    model.add(keras.Input(shape=(sequence_length,), dtype="int32"))
    model.add(keras.layers.Embedding(vocab_size, config.embedding_dim))
    for layer in range(config.layers):
        model.add(
            keras.layers.LSTM(
                config.units,
                dropout=config.dropout,
                recurrent_dropout=config.recurrent_dropout,
                # Every layer but the last hands its whole sequence to the next one.
                return_sequences=layer < config.layers - 1,
            )
        )
    model.add(keras.layers.Dense(1, activation="sigmoid"))
    model.compile(
        loss="binary_crossentropy",
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        metrics=["accuracy"],
    )
    return model
