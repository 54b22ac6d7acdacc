"""Placeholder until the GRU with Keras 2's per-step dropout masks lands (branch ``gru``)."""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="rnn_design_study")
class Keras2GRU(keras.layers.GRU):
    """Keras 3's GRU as it is (placeholder)."""

    def __init__(
        self,
        units: int,
        *,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(units, dropout=dropout, recurrent_dropout=recurrent_dropout, **kwargs)
