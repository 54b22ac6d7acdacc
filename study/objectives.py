"""What a study optimizes: validation accuracy alone, or accuracy against parameter count.

``--objectives accuracy,params`` makes a multi-objective study (maximize validation accuracy,
minimize the parameter count) searched by TPE's multi-objective mode. Optuna cannot prune a
multi-objective trial (``Trial.report`` is single-objective only), so that mode runs every trial
to the end.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna

#: The accepted ``--objectives`` values and the study directions each stands for.
DIRECTIONS: dict[str, tuple[str, ...]] = {
    "accuracy": ("maximize",),
    "accuracy,params": ("maximize", "minimize"),
}


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
