"""Pareto fronts: the computed data behind the report's Pareto table and figures.

Parameter importances, with intervals and a noise floor, are ``reports.importance``'s.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.tables import complete

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


def pareto_fronts(frame: pd.DataFrame, score: str = "val_accuracy") -> dict[str, pd.DataFrame]:
    """Each cost's Pareto front (``pareto_mask``): its rows of ``frame``, cheapest first.

    Computed once per report; the Markdown table and both figures render from it.
    """
    return {cost: frame[pareto_mask(frame, cost, score)].sort_values(cost) for cost in COSTS}
