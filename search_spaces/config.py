"""The frozen description of one model: what the sampler decides and the builder executes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

#: How dropout masks are drawn over a review's time steps (see ``study/training/keras2_lstm.py``):
#: ``keras2`` draws new masks at every step, as the notebook's Keras 2 did inside ``fit()``;
#: ``keras3`` draws one mask per review and reuses it at every step, as Keras 3's LSTM does.
DROPOUT_STYLES: tuple[str, ...] = ("keras2", "keras3")


@dataclass(frozen=True)
class ModelConfig:
    """One point of the design space the notebook explores.

    Attributes:
        units: LSTM units in every stacked layer.
        embedding_dim: Size of the word embedding.
        layers: Number of stacked LSTM layers.
        dropout: Dropout on the inputs of every LSTM layer.
        recurrent_dropout: Dropout on the recurrent state of every LSTM layer.
    """

    units: int
    embedding_dim: int
    layers: int = 1
    dropout: float = 0.0
    recurrent_dropout: float = 0.0

    def as_params(self) -> dict[str, Any]:
        """Returns the configuration as Optuna params, keyed by the search-space names."""
        return dataclasses.asdict(self)
