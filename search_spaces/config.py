"""The frozen description of one model: what the sampler decides, and what the builder needs.

``ModelConfig`` is a trial's design choices; ``ModelSpec`` adds what the data and the run fix
(vocabulary, review length, dropout style, learning rate), so the builder takes one object.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

#: How dropout masks are drawn over a review's time steps (see ``study/training/keras2_lstm.py``):
#: ``keras2`` draws new masks at every step, as the notebook's Keras 2 did inside ``fit()``;
#: ``keras3`` draws one mask per review and reuses it at every step, as Keras 3's LSTM does.
DROPOUT_STYLES: tuple[str, ...] = ("keras2", "keras3")

#: The recurrent cells the extended space chooses from (the notebook uses only the LSTM).
CELLS: tuple[str, ...] = ("lstm", "gru")
#: How the classifier reads the sequence: the last state (the notebook's), or the maximum or the
#: mean of every state over time.
READOUTS: tuple[str, ...] = ("last", "max", "mean")

#: What the notebook's models are along the extended space's axes. A configuration whose
#: extended fields are None is built exactly like this.
NOTEBOOK_CHOICES: dict[str, Any] = {
    "cell": "lstm",
    "bidirectional": False,
    "readout": "last",
    "learning_rate": 1e-3,
}


@dataclass(frozen=True)
class ModelConfig:
    """One point of the design space: the notebook's four axes, and optionally four more.

    The last four fields are the extended space's (``--space extended``); None means the
    configuration does not choose them: it is the notebook's (LSTM, forward, last state) and
    trains at the training settings' learning rate.

    Attributes:
        units: Units in every stacked recurrent layer (each direction's, when bidirectional).
        embedding_dim: Size of the word embedding.
        layers: Number of stacked recurrent layers.
        dropout: Dropout on the inputs of every recurrent layer.
        recurrent_dropout: Dropout on the recurrent state of every recurrent layer.
        cell: ``"lstm"`` or ``"gru"`` (``CELLS``).
        bidirectional: Whether every layer also reads the review backwards (Keras'
            ``Bidirectional``, outputs concatenated).
        readout: What the classifier sees (``READOUTS``): the last layer's last state, or its
            states' maximum or mean over the time steps.
        learning_rate: Adam's learning rate.
    """

    units: int
    embedding_dim: int
    layers: int = 1
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    cell: str | None = None
    bidirectional: bool | None = None
    readout: str | None = None
    learning_rate: float | None = None

    def __post_init__(self) -> None:
        if self.cell is not None and self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.readout is not None and self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, got {self.readout!r}")

    def as_params(self) -> dict[str, Any]:
        """Returns the configuration as Optuna params, keyed by the search-space names.

        The extended fields appear only when set, so a notebook configuration has the notebook
        space's five params.
        """
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def choice(self, name: str) -> Any:
        """An extended field's value, or the notebook's when the configuration leaves it unset.

        For the learning rate a model trains at, ask ``ModelSpec.learning_rate``: an unset one is
        the run's (``--learning-rate``), not necessarily the notebook's.
        """
        value = getattr(self, name)
        return NOTEBOOK_CHOICES[name] if value is None else value

    def with_notebook_choices(self) -> ModelConfig:
        """This configuration with every unset extended field at the notebook's value."""
        unset = {k: v for k, v in NOTEBOOK_CHOICES.items() if getattr(self, k) is None}
        return dataclasses.replace(self, **unset)


@dataclass(frozen=True)
class ModelSpec:
    """One model complete: its configuration and what the data and the run fix around it.

    Everything ``study.training.model.build_model`` needs, so the builder takes one object; the
    defaults are the notebook's.

    Attributes:
        config: The design choices (what a trial's params describe).
        vocab_size: Rows of the embedding (the notebook's ``max_features``).
        sequence_length: Fixed review length, or None for any; a fixed length lets the backend
            compile one graph.
        dropout_style: How the recurrent layers draw dropout masks (``DROPOUT_STYLES``).
        default_learning_rate: Adam's learning rate when the configuration does not choose one
            (the run's ``--learning-rate``; Keras' default, the notebook's, is 1e-3).
    """

    config: ModelConfig
    vocab_size: int = 1000
    sequence_length: int | None = None
    dropout_style: str = "keras2"
    default_learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        if self.dropout_style not in DROPOUT_STYLES:
            raise ValueError(
                f"dropout_style must be one of {', '.join(DROPOUT_STYLES)}, "
                f"got {self.dropout_style!r}"
            )

    @property
    def learning_rate(self) -> float:
        """Adam's learning rate: the configuration's own, else ``default_learning_rate``."""
        own = self.config.learning_rate
        return self.default_learning_rate if own is None else own
