"""What a study optimizes: validation accuracy alone, or accuracy against parameter count.

``--objectives accuracy,params`` makes a multi-objective study (maximize validation accuracy,
minimize the parameter count) searched by TPE's multi-objective mode. Optuna cannot prune a
multi-objective trial (``Trial.report`` is single-objective only), so that mode runs every trial
to the end.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import optuna
from optuna.exceptions import ExperimentalWarning

#: The accepted ``--objectives`` values and the study directions each stands for.
DIRECTIONS: dict[str, tuple[str, ...]] = {
    "accuracy": ("maximize",),
    "accuracy,params": ("maximize", "minimize"),
}

#: What each objective value is, in order; optuna-dashboard and Optuna's plots show these names
#: instead of "Objective 0" / "Objective 1".
METRIC_NAMES: tuple[str, ...] = ("val_accuracy", "n_params")


def name_metrics(study: optuna.Study, names: tuple[str, ...] = METRIC_NAMES) -> None:
    """Names the study's objective values: ``val_accuracy``, then ``n_params`` if there are two."""
    with warnings.catch_warnings():
        # Experimental since Optuna 3.2: the warning would be the only line of it users see.
        warnings.simplefilter("ignore", ExperimentalWarning)
        study.set_metric_names(list(names[: len(study.directions)]))


def is_multi(objectives: str) -> bool:
    """Whether the ``--objectives`` value asks for more than one objective."""
    return len(DIRECTIONS[objectives]) > 1


class AccuracyAndParams:
    """Returns ``(validation accuracy, parameter count)`` from the single-objective objective.

    The wrapped objective records ``n_params`` as a user attribute before training, so the
    second value is read back from the trial rather than recomputed.
    """

    def __init__(self, objective: Callable[[optuna.Trial], float]) -> None:
        self._objective = objective

    def __call__(self, trial: optuna.Trial) -> tuple[float, float]:
        accuracy = self._objective(trial)
        return accuracy, float(trial.user_attrs["n_params"])
