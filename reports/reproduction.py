"""The notebook's figures beside this project's reproduction of them (``study.reproduce``).

The reproduction trains each of the notebook's 14 configurations R times under the notebook's
own protocol: all 25,000 training reviews, the test reviews as validation data after every
epoch, 5 epochs, batch 32. The accuracy it watches is therefore test accuracy: the table is a
reproduction of the notebook, never a basis for choosing between configurations.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from reports.tables import complete
from search_spaces.baseline import BASELINE_GRID

#: Test accuracy of one run is "consistent with the notebook" when the notebook's figure lies
#: within this many standard deviations of our mean (about 95 % of single runs).
RANGE_STDS = 2.0
#: The agreement the project aims for: |our mean - the notebook's figure| in percentage points.
GOAL_PP = 1.0


def reproduce_study_name(name: str) -> str:
    """The name ``python -m study.reproduce`` gives the reproduction of study ``name``."""
    return f"{name}-reproduce"


def reproduction_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per notebook configuration: its figures beside our repeated runs.

    Args:
        frame: ``reports.tables.trials_frame`` of the reproduction study.

    Returns:
        14 rows in the notebook's order: ``heading``, ``notebook_params``, ``n_params`` (ours),
        ``runs`` (complete runs), ``notebook_test_accuracy``, ``test_mean``, ``test_std``
        (ddof=1), ``diff_pp`` (ours minus the notebook's, in points), ``low`` and ``high``
        (mean ± 2 std) and ``inside`` (whether the notebook's figure lies in that range; None
        where the notebook printed no figure or we have fewer than two runs).
    """
    done = complete(frame)
    rows = []
    for entry in BASELINE_GRID:
        runs = done[done["source"] == entry.label]["test_accuracy"].dropna()
        theirs = entry.notebook_test_accuracy
        mean = float(runs.mean()) if len(runs) else math.nan
        std = float(runs.std(ddof=1)) if len(runs) > 1 else math.nan
        low, high = mean - RANGE_STDS * std, mean + RANGE_STDS * std
        row: dict[str, Any] = {
            "heading": entry.label,
            "notebook_params": entry.notebook_params,
            "n_params": _first(done[done["source"] == entry.label]["n_params"]),
            "runs": len(runs),
            "notebook_test_accuracy": math.nan if theirs is None else theirs,
            "test_mean": mean,
            "test_std": std,
            "diff_pp": math.nan if theirs is None else 100 * (mean - theirs),
            "low": low,
            "high": high,
            "inside": None if theirs is None or math.isnan(std) else bool(low <= theirs <= high),
        }
        rows.append(row)
    return pd.DataFrame(rows)


def verdict(table: pd.DataFrame) -> str:
    """One sentence on how many notebook figures the reproduction matches."""
    judged = table[table["inside"].notna()]
    if judged.empty:
        return "No configuration has two complete runs yet: nothing to compare."
    inside = int(judged["inside"].astype(bool).sum())
    close = int((judged["diff_pp"].abs() <= GOAL_PP).sum())
    worst = judged.loc[judged["diff_pp"].abs().idxmax()]
    return (
        f"{inside} of {len(judged)} notebook figures lie within our mean ± {RANGE_STDS:g} std; "
        f"{close} of {len(judged)} are within {GOAL_PP:g} pp of our mean (largest gap: "
        f"{worst['diff_pp']:+.2f} pp, {worst['heading']})."
    )


def _first(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.iloc[0]) if len(values) else float(np.nan)
