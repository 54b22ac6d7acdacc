"""Pareto fronts and parameter importances: the computed data behind the report's figures."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import optuna
import pandas as pd
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
from optuna.trial import FrozenTrial, TrialState

from reports.tables import PARAMS, complete

#: Costs a Pareto front trades validation accuracy against.
COSTS: tuple[str, ...] = ("n_params", "train_seconds")


def pareto_mask(frame: pd.DataFrame, cost: str, score: str = "val_accuracy") -> pd.Series:
    """Marks the rows no other row beats on both ``score`` (higher) and ``cost`` (lower).

    Only complete trials take part (a pruned trial's accuracy is of fewer epochs); rows where
    either figure is NaN are never on the front. Of rows with equal cost and score, each is kept
    (none beats the other).
    """
    mask = pd.Series(False, index=frame.index)
    valid = complete(frame)
    valid = valid[valid[cost].notna()]
    if valid.empty:
        return mask
    ordered = valid.sort_values([cost, score], ascending=[True, False])
    best_so_far = -np.inf
    last: tuple[float, float] | None = None
    for index, row in ordered.iterrows():
        point = (float(row[cost]), float(row[score]))
        if point[1] > best_so_far or point == last:
            mask[index] = True
            best_so_far = max(best_so_far, point[1])
            last = point
    return mask


class Importances(NamedTuple):
    """Parameter importances, or why there are none.

    Attributes:
        values: Importance per parameter (summing to 1), largest first; empty when unavailable.
        evaluator: What computed them, named for the report.
        reason: Why they are unavailable ("" when they are).
    """

    values: dict[str, float]
    evaluator: str
    reason: str


EVALUATOR = (
    "Optuna's PedAnovaImportanceEvaluator (PED-ANOVA, default settings: top 10 % of trials "
    "against all; deterministic, it has no random seed)"
)


def importance_target(study: optuna.Study) -> Callable[[FrozenTrial], float] | None:
    """What the importances explain: validation accuracy, the first objective.

    None for a single-objective study (PED-ANOVA then reads the value and its direction); for a
    multi-objective one, the negated accuracy, since PED-ANOVA takes lower as better for a target.
    """
    if len(study.directions) == 1:
        return None
    return _negated_accuracy


def _negated_accuracy(trial: FrozenTrial) -> float:
    return -trial.values[0]


def importances(study: optuna.Study) -> Importances:
    """PED-ANOVA importances of the search-space parameters for validation accuracy.

    A multi-objective study is judged on its first objective (validation accuracy).
    """
    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values and np.isfinite(t.values[0])
    ]
    if len(done) < 2:
        return Importances({}, EVALUATOR, f"needs at least 2 complete trials, has {len(done)}")
    params = [p for p in PARAMS if all(p in t.params for t in done)]
    if not params:
        return Importances({}, EVALUATOR, "the complete trials share no parameter")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "too few trials" and target warnings: said below
        try:
            values = get_param_importances(
                study,
                evaluator=PedAnovaImportanceEvaluator(),
                params=params,
                target=importance_target(study),
            )
        except (ValueError, RuntimeError) as exc:
            return Importances({}, EVALUATOR, f"the evaluator failed: {exc}")
    if not any(v > 0 for v in values.values()):
        return Importances(
            {}, EVALUATOR, f"all importances are 0 with {len(done)} complete trials (too few)"
        )
    return Importances(dict(values), EVALUATOR, "")
