"""The Optuna search space over the notebook's four design axes.

The parameter names (``units``, ``embedding_dim``, ``layers``, ``dropout``,
``recurrent_dropout``) are read by reports and checks: keep them stable. Every range contains every
value the notebook tried, so the baseline grid can be enqueued into the same distributions.
"""

from __future__ import annotations

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

from search_spaces.config import ModelConfig

#: The distributions of the search space, by parameter name.
DISTRIBUTIONS: dict[str, BaseDistribution] = {
    "units": IntDistribution(8, 256, log=True),
    "embedding_dim": IntDistribution(4, 128, log=True),
    "layers": IntDistribution(1, 8),
    "dropout": FloatDistribution(0.0, 0.9),
    "recurrent_dropout": FloatDistribution(0.0, 0.9),
}


def suggest_params(trial: optuna.trial.BaseTrial) -> ModelConfig:
    """Asks the trial for one model configuration.

    Args:
        trial: The trial to sample from (a fixed, enqueued trial returns its fixed values).

    Returns:
        The sampled configuration.
    """
    values = {name: _suggest(trial, name, dist) for name, dist in DISTRIBUTIONS.items()}
    return ModelConfig(
        units=int(values["units"]),
        embedding_dim=int(values["embedding_dim"]),
        layers=int(values["layers"]),
        dropout=float(values["dropout"]),
        recurrent_dropout=float(values["recurrent_dropout"]),
    )


def _suggest(trial: optuna.trial.BaseTrial, name: str, dist: BaseDistribution) -> float:
    # One table of distributions serves both sampling and the conflict check against a stored
    # study, so the ranges are written once.
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    raise TypeError(f"unsupported distribution for {name!r}: {dist!r}")
