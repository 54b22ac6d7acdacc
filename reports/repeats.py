"""Seed-to-seed spread from a confirmation study (``python -m study.confirm``).

The confirmation study re-trains chosen configurations several times with different seeds. Here
its trials become mean ± std per configuration, and one pooled spread that tells findings which
differences are larger than the noise of a single training run.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from reports.tables import PARAMS, complete, config_key


class Spread(NamedTuple):
    """The pooled seed-to-seed standard deviation of validation accuracy.

    Attributes:
        std: Pooled standard deviation of one run's validation accuracy (a fraction).
        repeats: Typical number of repeats per configuration (the median).
        configs: Configurations with at least two repeats, which the pool is made of.
        dof: Degrees of freedom of the pooled variance: the repeats minus one per
            configuration, summed.
    """

    std: float
    repeats: int
    configs: int
    dof: int


def summary(confirm_frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std of validation and test accuracy per configuration of a confirmation study.

    Returns:
        One row per configuration: ``config`` (``tables.config_key``), the params, ``repeats``
        (complete runs), ``val_mean``, ``val_std``, ``test_mean``, ``test_std``, ``n_params``,
        ``train_seconds`` (mean) and ``source``. Standard deviations use ddof=1 (NaN for one
        run).
    """
    done = complete(confirm_frame).copy()
    columns = [
        "config", *PARAMS, "source", "repeats", "val_mean", "val_std", "test_mean", "test_std",
        "n_params", "train_seconds",
    ]  # fmt: skip
    if done.empty:
        return pd.DataFrame(columns=columns)
    done["config"] = done.apply(config_key, axis=1)
    grouped = done.groupby("config", sort=False)
    out = grouped[list(PARAMS)].first()
    out["source"] = grouped["source"].first()
    out["repeats"] = grouped["val_accuracy"].count()
    out["val_mean"] = grouped["val_accuracy"].mean()
    out["val_std"] = grouped["val_accuracy"].std(ddof=1)
    out["test_mean"] = grouped["test_accuracy"].mean()
    out["test_std"] = grouped["test_accuracy"].std(ddof=1)
    out["n_params"] = grouped["n_params"].first()
    out["train_seconds"] = grouped["train_seconds"].mean()
    return out.reset_index()[columns].sort_values("val_mean", ascending=False, ignore_index=True)


def within_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std per configuration from trials that trained several seeds (``--repeats``).

    Each such trial is a set of repeats already: its value is the seeds' mean validation
    accuracy and it recorded their standard deviations. The columns are ``summary``'s; a
    configuration trained by several such trials keeps the last one.
    """
    columns = [
        "config", *PARAMS, "source", "repeats", "val_mean", "val_std", "test_mean", "test_std",
        "n_params", "train_seconds",
    ]  # fmt: skip
    done = complete(frame)
    done = done[(done["repeats"] >= 2) & done["val_accuracy_std"].notna()].copy()
    if done.empty:
        return pd.DataFrame(columns=columns)
    done["config"] = done.apply(config_key, axis=1)
    last = done.groupby("config", sort=False).tail(1)
    out = last.rename(
        columns={
            "val_accuracy": "val_mean",
            "val_accuracy_std": "val_std",
            "test_accuracy": "test_mean",
            "test_accuracy_std": "test_std",
        }
    )
    out["repeats"] = out["repeats"].astype(int)
    return out[columns].sort_values("val_mean", ascending=False, ignore_index=True)


def pooled_spread(table: pd.DataFrame) -> Spread | None:
    """The pooled std over configurations with at least two repeats; None if there are none."""
    usable = table[(table["repeats"] >= 2) & table["val_std"].notna()]
    if usable.empty:
        return None
    dof = usable["repeats"] - 1
    variance = float((dof * usable["val_std"] ** 2).sum() / dof.sum())
    return Spread(
        std=math.sqrt(variance),
        repeats=int(np.median(usable["repeats"])),
        configs=len(usable),
        dof=int(dof.sum()),
    )
