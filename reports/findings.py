"""One section per design axis the notebook studies: a table along the axis and findings in words.

Each axis is read two ways: the notebook's controlled comparison (its baseline configurations that
differ only along this axis) and the whole study (every complete trial, binned along the axis).
The sentences say how far apart the settings are and, when a confirmation study measured the
seed-to-seed spread, whether the settings differ beyond it: a one-way ANOVA F-test across all the
axis's settings (not best against worst against a two-setting threshold, which with five settings
cried wolf in about a third of noise-only studies; tests/test_reports.py), or that they rest on
single runs when there is none. Every section says how many trials it rests on, and that pruned
trials are left out.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from reports.repeats import Spread
from reports.tables import complete, config_key
from search_spaces.baseline import BASELINE_GRID


class Axis(NamedTuple):
    """A design axis: the parameter that varies and what the notebook held fixed."""

    param: str
    title: str
    fixed: dict[str, Any]
    bins: tuple[float, ...]


AXES: tuple[Axis, ...] = (
    Axis(
        "units",
        "LSTM units",
        {"embedding_dim": 8, "layers": 1, "dropout": 0.0, "recurrent_dropout": 0.0},
        (8, 16, 32, 64, 128, 257),
    ),
    Axis(
        "embedding_dim",
        "Embedding size",
        {"units": 16, "layers": 1, "dropout": 0.0, "recurrent_dropout": 0.0},
        (4, 8, 16, 32, 64, 129),
    ),
    Axis(
        "dropout",
        "Dropout",
        {"units": 8, "embedding_dim": 32, "layers": 1, "recurrent_dropout": 0.5},
        (0.0, 0.2, 0.4, 0.6, 0.91),
    ),
    Axis(
        "layers",
        "Stacked LSTM layers",
        {"units": 8, "embedding_dim": 8, "dropout": 0.0, "recurrent_dropout": 0.0},
        (1, 2, 3, 5, 9),
    ),
)


#: Significance level of the test across an axis's settings.
ALPHA = 0.05


class AxisSection(NamedTuple):
    """What a report shows for one axis.

    Attributes:
        axis: The axis.
        controlled: The notebook's configurations along the axis (sorted by the axis value):
            ``value``, ``heading``, ``n_params``, ``val_accuracy``, ``test_accuracy``,
            ``train_seconds``, and with repeats ``repeats``, ``val_mean``, ``val_std``,
            ``test_mean``, ``test_std``.
        study: Every complete trial binned along the axis: ``bin``, ``trials``, ``val_median``,
            ``val_best``, ``params_median``, ``seconds_median``.
        findings: Sentences generated from the two tables.
        basis: What the section rests on: its complete trials, and the pruned and failed
            trials it leaves out.
        anova_p: p-value of the ANOVA across the notebook's settings that ``findings`` quotes,
            None when there is none (no seed spread, fewer than 2 settings measured).
    """

    axis: Axis
    controlled: pd.DataFrame
    study: pd.DataFrame
    findings: list[str]
    basis: str
    anova_p: float | None = None


def axis_sections(
    frame: pd.DataFrame, repeats: pd.DataFrame | None = None, spread: Spread | None = None
) -> list[AxisSection]:
    """The four axis sections of a report.

    Args:
        frame: ``tables.trials_frame`` of the study.
        repeats: ``repeats.summary`` of its confirmation study, or None.
        spread: ``repeats.pooled_spread`` of it, or None.
    """
    return [_section(axis, frame, repeats, spread) for axis in AXES]


def _section(
    axis: Axis, frame: pd.DataFrame, repeats: pd.DataFrame | None, spread: Spread | None
) -> AxisSection:
    controlled = controlled_table(axis, frame, repeats)
    study = study_table(axis, frame)
    findings = [
        _comparison(axis, controlled, spread),
        *_cost(axis, controlled),
        *_whole_study(axis, frame),
    ]
    return AxisSection(
        axis, controlled, study, findings, _basis(axis, frame, controlled),
        anova_p(controlled, spread),
    )  # fmt: skip


def anova_p(controlled: pd.DataFrame, spread: Spread | None) -> float | None:
    """The p-value of ``across_settings_test`` on an axis's settings, as ``_comparison`` runs it.

    None when the findings have no such test: no seed spread, or fewer than two settings measured
    (or all equal).
    """
    use_means = "val_mean" in controlled and controlled["val_mean"].notna().sum() >= 2
    col = "val_mean" if use_means else "val_accuracy"
    measured = controlled[controlled[col].notna()]
    if spread is None or spread.dof < 1 or len(measured) < 2 or measured[col].nunique() < 2:
        return None
    counts = measured["repeats"].astype(float) if use_means else pd.Series(1.0, measured.index)
    return across_settings_test(measured[col], counts, spread)[1]


def _basis(axis: Axis, frame: pd.DataFrame, controlled: pd.DataFrame) -> str:
    done = complete(frame)
    done = done[done[axis.param].notna()]
    notebook = int(controlled["val_accuracy"].notna().sum())
    pruned = int((frame["state"] == "PRUNED").sum())
    failed = int((frame["state"] == "FAIL").sum())
    text = (
        f"This section rests on {_count(len(done), 'complete trial')} "
        f"({notebook} of them the notebook's {len(controlled)} configurations along this axis)"
    )
    if "repeats" in controlled:
        runs = int(controlled["repeats"].fillna(0).sum())
        text += f" and {_count(runs, 'repeated run')} of those in the confirmation study"
    text += (
        f"; {_count(pruned, 'pruned trial')} {'is' if pruned == 1 else 'are'} left out, "
        "their accuracy being of fewer epochs"
    )
    if failed:
        text += f", as {'is' if failed == 1 else 'are'} {failed} failed, which have none"
    return text + "."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def controlled_table(
    axis: Axis, frame: pd.DataFrame, repeats: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The notebook's configurations along one axis with this study's measurements of them."""
    done = complete(frame)
    rows = []
    for entry in BASELINE_GRID:
        params = entry.config.as_params()
        if any(not math.isclose(params[k], v) for k, v in axis.fixed.items()):
            continue
        mine = done[done["source"] == entry.label]
        row: dict[str, Any] = {"value": params[axis.param], "heading": entry.label}
        for col in ("n_params", "val_accuracy", "test_accuracy", "train_seconds"):
            row[col] = float(mine.iloc[-1][col]) if len(mine) else math.nan
        if repeats is not None:
            match = repeats[repeats["config"] == config_key(params)]
            for col in ("repeats", "val_mean", "val_std", "test_mean", "test_std"):
                row[col] = float(match.iloc[0][col]) if len(match) else math.nan
        rows.append(row)
    return pd.DataFrame(rows).sort_values("value", ignore_index=True)


def study_table(axis: Axis, frame: pd.DataFrame) -> pd.DataFrame:
    """Every complete trial of the study binned along the axis (empty bins left out)."""
    done = complete(frame)
    done = done[done[axis.param].notna()]
    columns = ["bin", "trials", "val_median", "val_best", "params_median", "seconds_median"]
    if done.empty:
        return pd.DataFrame(columns=columns)
    bins = pd.cut(done[axis.param], list(axis.bins), right=False)
    grouped = done.groupby(bins, observed=True)
    out = pd.DataFrame(
        {
            "trials": grouped["val_accuracy"].count(),
            "val_median": grouped["val_accuracy"].median(),
            "val_best": grouped["val_accuracy"].max(),
            "params_median": grouped["n_params"].median(),
            "seconds_median": grouped["train_seconds"].median(),
        }
    )
    out.insert(0, "bin", [_interval(i, axis) for i in out.index])
    return out.reset_index(drop=True)[columns]


def _interval(interval: pd.Interval, axis: Axis) -> str:
    if axis.param == "dropout":
        return f"{interval.left:g}–{min(interval.right, 0.9):g}"
    low, high = int(interval.left), int(interval.right) - 1
    return str(low) if low == high else f"{low}–{high}"


def _fmt(value: float) -> str:
    return f"{value:g}"


def _comparison(axis: Axis, controlled: pd.DataFrame, spread: Spread | None) -> str:
    use_means = "val_mean" in controlled and controlled["val_mean"].notna().sum() >= 2
    col = "val_mean" if use_means else "val_accuracy"
    measured = controlled[controlled[col].notna()]
    if len(measured) < 2:
        return (
            f"{axis.title}: {len(measured)} of the notebook's {len(controlled)} configurations "
            "along this axis have a complete trial, too few to compare."
        )
    best = measured.loc[measured[col].idxmax()]
    worst = measured.loc[measured[col].idxmin()]
    if best[col] == worst[col]:
        return (
            f"{axis.title}: all {len(measured)} of the notebook's settings reach the same "
            f"validation accuracy ({best[col]:.2%})."
        )
    diff_pp = 100 * (best[col] - worst[col])
    basis = (
        f"means of {int(best['repeats'])} and {int(worst['repeats'])} repeats"
        if use_means
        else "single runs"
    )
    text = (
        f"{axis.param} {_fmt(best['value'])} vs {_fmt(worst['value'])} (best vs worst of the "
        f"notebook's settings, validation accuracy {best[col]:.2%} vs {worst[col]:.2%}): "
        f"{diff_pp:.1f} pp apart ({basis})"
    )
    if spread is None or spread.dof < 1:
        return (
            text + ". This rests on single runs: run `python -m study.confirm` to measure "
            "the seed-to-seed spread before trusting it."
        )
    counts = measured["repeats"].astype(float) if use_means else pd.Series(1.0, measured.index)
    f_value, p_value = across_settings_test(measured[col], counts, spread)
    verdict = (
        "the settings differ beyond seed noise"
        if p_value < ALPHA
        else "the differences are within seed noise"
    )
    return (
        f"{text}. A one-way ANOVA across the {len(measured)} settings (F = {f_value:.2f}, "
        f"p = {p_value:.3f}; error term: the seed-to-seed variance of repeats, std "
        f"{100 * spread.std:.1f} pp pooled over {spread.configs} configurations with "
        f"{spread.dof} degrees of freedom) says {verdict} (at the {ALPHA:.0%} level)."
    )


def across_settings_test(
    means: pd.Series, counts: pd.Series, spread: Spread
) -> tuple[float, float]:
    """One-way ANOVA F-test: do the settings along an axis differ by more than seed noise?

    Between settings: each setting's accuracy (a mean of ``counts`` runs, or one run), weighted
    by its runs. Within: the seed-to-seed variance pooled over the confirmation study, taken as
    the same for every configuration (as ``repeats.pooled_spread`` does). Under the hypothesis
    that all settings are equal, F follows F(settings - 1, ``spread.dof``); one test for all the
    settings keeps the false-alarm rate at ``ALPHA`` however many there are.

    Returns:
        ``(F, p)``; p is the chance of an F at least this large from seed noise alone.
    """
    values = means.to_numpy(float)
    weights = counts.to_numpy(float)
    grand = np.average(values, weights=weights)
    between = float(np.sum(weights * (values - grand) ** 2) / (len(values) - 1))
    within = spread.std**2
    if within == 0:
        return (math.inf, 0.0) if between > 0 else (0.0, 1.0)
    f_value = between / within
    return f_value, float(stats.f.sf(f_value, len(values) - 1, spread.dof))


def _cost(axis: Axis, controlled: pd.DataFrame) -> list[str]:
    measured = controlled[controlled["n_params"].notna()]
    if len(measured) < 2:
        return []
    first, last = measured.iloc[0], measured.iloc[-1]
    if first["n_params"] == last["n_params"]:
        text = f"{axis.title} leaves the parameter count unchanged ({int(first['n_params']):,})"
    else:
        text = (
            f"From {axis.param} {_fmt(first['value'])} to {_fmt(last['value'])} the "
            f"parameter count goes from {int(first['n_params']):,} to "
            f"{int(last['n_params']):,} ({last['n_params'] / first['n_params']:.1f}×)"
        )
    if pd.notna(first["train_seconds"]) and pd.notna(last["train_seconds"]):
        text += f"; training took {first['train_seconds']:.1f} s and {last['train_seconds']:.1f} s"
    return [text + "."]


def _whole_study(axis: Axis, frame: pd.DataFrame) -> list[str]:
    done = complete(frame)
    done = done[done[axis.param].notna()]
    if len(done) < 3 or done[axis.param].nunique() < 2:
        return []
    rho = math.nan
    if done["val_accuracy"].nunique() >= 2:
        # Spearman's rho as Pearson's r of ranks: pandas' method="spearman" needs SciPy.
        rho = done[axis.param].rank().corr(done["val_accuracy"].rank())
    best = done.loc[done["val_accuracy"].idxmax()]
    text = f"Across all {len(done)} complete trials, "
    if pd.notna(rho):
        text += f"the rank correlation of {axis.param} with validation accuracy is {rho:+.2f}; "
    return [
        text + f"the best trial (#{int(best['number'])}, {best['val_accuracy']:.2%}) used "
        f"{axis.param} = {_fmt(round(float(best[axis.param]), 3))}."
    ]
