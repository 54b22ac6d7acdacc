"""The Optuna search spaces: the notebook's four design axes, and the extended space's eight.

``notebook`` (the default) searches the notebook's axes: ``units``, ``embedding_dim``,
``layers``, ``dropout``, ``recurrent_dropout``. ``extended`` (``--space extended``) adds what a
practitioner would try next: the cell (GRU against LSTM), direction, how the sequence is read
out, and the learning rate. The names are read by reports and checks: keep them stable. Every
range contains every value the notebook tried, so the baseline grid can be enqueued into the same
distributions (in the extended space with the notebook's LSTM, forward, last state, 1e-3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from search_spaces.config import CELLS, READOUTS, ModelConfig

#: The notebook space's distributions, by parameter name.
DISTRIBUTIONS: dict[str, BaseDistribution] = {
    "units": IntDistribution(8, 256, log=True),
    "embedding_dim": IntDistribution(4, 128, log=True),
    "layers": IntDistribution(1, 8),
    "dropout": FloatDistribution(0.0, 0.9),
    "recurrent_dropout": FloatDistribution(0.0, 0.9),
}

#: The extended space's axes beyond the notebook's. The learning rate spans a decade either side
#: of the notebook's (Keras' default) 1e-3, on a log scale.
EXTENSION: dict[str, BaseDistribution] = {
    "cell": CategoricalDistribution(CELLS),
    "bidirectional": CategoricalDistribution((False, True)),
    "readout": CategoricalDistribution(READOUTS),
    "learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
}

#: Every parameter any space searches, in the order tables show them.
ALL_DISTRIBUTIONS: dict[str, BaseDistribution] = {**DISTRIBUTIONS, **EXTENSION}


@dataclass(frozen=True)
class SearchSpace:
    """A named search space: its distributions, and how a trial becomes a ``ModelConfig``.

    Attributes:
        name: ``--space``'s value.
        distributions: The distributions, by parameter name.
    """

    name: str
    distributions: Mapping[str, BaseDistribution]

    def suggest(self, trial: optuna.trial.BaseTrial) -> ModelConfig:
        """Asks the trial for one configuration of this space.

        An enqueued trial returns its fixed values.
        """
        values = {name: _suggest(trial, name, d) for name, d in self.distributions.items()}
        return config_from_params(values)

    def baseline_config(self, config: ModelConfig) -> ModelConfig:
        """A notebook configuration as this space enqueues it.

        In the extended space it carries the notebook's cell, direction, readout and learning
        rate, so it trains as the notebook's.
        """
        if "cell" in self.distributions:
            return config.with_notebook_choices()
        return config


NOTEBOOK = SearchSpace("notebook", DISTRIBUTIONS)
EXTENDED = SearchSpace("extended", ALL_DISTRIBUTIONS)
#: The spaces ``--space`` names.
SPACES: dict[str, SearchSpace] = {space.name: space for space in (NOTEBOOK, EXTENDED)}


def get_space(name: str) -> SearchSpace:
    """The space ``--space`` names.

    Raises:
        ValueError: No space has that name.
    """
    if name not in SPACES:
        raise ValueError(f"--space must be one of {', '.join(SPACES)}, got {name!r}")
    return SPACES[name]


def study_space(study: optuna.Study) -> SearchSpace:
    """The search space a study recorded (``config["space"]``; the notebook's for older studies).

    ``study.optimize`` refuses to resume a study with another ``--space``, so every trial of a
    study belongs to this space; the commands, the confirmation and the reports all read it here.
    """
    settings = study.user_attrs.get("config") or {}
    return get_space(str(settings.get("space", NOTEBOOK.name)))


def suggest_params(trial: optuna.trial.BaseTrial) -> ModelConfig:
    """Asks the trial for one configuration of the notebook space (``NOTEBOOK.suggest``)."""
    return NOTEBOOK.suggest(trial)


def config_from_params(params: Mapping[str, Any]) -> ModelConfig:
    """The configuration a trial's params describe (notebook or extended space)."""
    names = [*DISTRIBUTIONS, *(name for name in EXTENSION if name in params)]
    return ModelConfig(**{name: plain_value(name, params[name]) for name in names})


def plain_value(name: str, value: Any) -> Any:
    """A param's value as its distribution holds it (NumPy and pandas scalars made plain)."""
    dist = ALL_DISTRIBUTIONS[name]
    if isinstance(dist, IntDistribution):
        return int(value)
    if isinstance(dist, FloatDistribution):
        return float(value)
    if isinstance(value, str):
        return value
    return bool(value) if name == "bidirectional" else value


def _suggest(trial: optuna.trial.BaseTrial, name: str, dist: BaseDistribution) -> Any:
    # One table of distributions serves both sampling and the conflict check against a stored
    # study, so the ranges are written once.
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    raise TypeError(f"unsupported distribution for {name!r}: {dist!r}")
