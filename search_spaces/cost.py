"""What a configuration costs to train, and the cap the study puts on sampled configurations.

A training step's arithmetic is the LSTM layers' matrix products, two multiply-adds per LSTM
weight per review and time step, forward, and about twice that backward; the embedding is a
lookup and the classifier one dot product, whatever their size. So the LSTM weights measure a
configuration's cost per step, independently of the machine: LSTM(128) on an 8-wide embedding,
the notebook's largest, has 70,144 and trains in about 13 s an epoch on our 2-core CPU; the
search space also holds 3 x LSTM(239) (about 1.1 million), minutes an epoch.

Why a cap: the full study's wall time is decided by where the sampler goes. Two runs of the same
command, before and after a change that drew other (equally distributed) dropout masks, parted
at trial 16: one spent 36 minutes in all on LSTMs of 8-50 units, the other put its trials 16-22
at 116-239 units and 1-3 layers (3 and 3.5 minutes for two of them) and had used 15 minutes on
22 trials when it was stopped. ``--max-lstm-params`` (default: the notebook's largest) bounds
that: a sampled configuration above it is pruned before it trains, and TPE learns to stay below
it. The notebook's own configurations always train.

The extended space (``--space extended``) is counted the same way, by what a step really
computes: a GRU has three gates (and Keras' second, recurrent bias row), and a bidirectional
layer is two layers, one per direction, whose concatenated outputs also make the next layer's
inputs twice as wide. So a bidirectional configuration counts (more than) twice its forward twin.
The readout (last state, max or mean over time) and the learning rate cost nothing per step.
"""

from __future__ import annotations

from search_spaces.baseline import BASELINE_GRID
from search_spaces.config import ModelConfig
from search_spaces.lstm import DISTRIBUTIONS

#: LSTM gates (input, forget, cell, output), each with its own kernel, recurrent kernel and bias.
GATES = 4
#: GRU gates (update, reset, candidate).
GRU_GATES = 3


def lstm_params(config: ModelConfig) -> int:
    """Weights of the configuration's recurrent layers (kernels, recurrent kernels and biases).

    Named for the notebook's cell (and ``--max-lstm-params``); GRU layers count the same way.

    Args:
        config: The configuration.

    Returns:
        Per layer and direction, ``4 * units * (inputs + units + 1)`` for an LSTM and
        ``3 * units * (inputs + units + 2)`` for a GRU (Keras' ``reset_after``: two bias rows),
        summed over the layers (both directions of a bidirectional one), where the first
        layer's inputs are the embedding and every other layer's the previous layer's outputs
        (``2 * units`` wide when bidirectional).
    """
    directions = 2 if config.choice("bidirectional") else 1
    gru = config.choice("cell") == "gru"
    total = 0
    inputs = config.embedding_dim
    for _ in range(config.layers):
        if gru:
            per_direction = GRU_GATES * config.units * (inputs + config.units + 2)
        else:
            per_direction = GATES * config.units * (inputs + config.units + 1)
        total += directions * per_direction
        inputs = directions * config.units
    return total


#: The default cap: the notebook's most expensive configuration, LSTM(128) on embedding 8.
NOTEBOOK_MAX_LSTM_PARAMS = max(lstm_params(entry.config) for entry in BASELINE_GRID)


def _smallest() -> ModelConfig:
    def low(name: str) -> int:
        return int(DISTRIBUTIONS[name].low)  # type: ignore[attr-defined]

    return ModelConfig(
        units=low("units"), embedding_dim=low("embedding_dim"), layers=low("layers")
    )


#: The cheapest configuration of the search space's (8 units on a 4-wide embedding, one layer):
#: a cap below it leaves nothing to train.
SMALLEST_LSTM_PARAMS = lstm_params(_smallest())


def over_cap(config: ModelConfig, cap: int) -> bool:
    """Whether the configuration costs more than ``cap`` LSTM weights; a cap of 0 is no cap."""
    return cap > 0 and lstm_params(config) > cap


def cap_excess(config: ModelConfig, cap: int) -> float:
    """How far the configuration lies over a (positive) cap, as a share of it; <= 0 under it.

    The constraint value a trial records for TPE (``study.trials.objective``): positive, and the
    larger the further over, for a configuration the cap kept from training.
    """
    return lstm_params(config) / cap - 1.0
