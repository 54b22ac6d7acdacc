"""One section per design axis the notebook studies: a table along the axis and findings in words.

Each axis is read two ways: the notebook's controlled comparison (its baseline configurations that
differ only along this axis) and the whole study (every complete trial, binned along the axis).
The sentences say how far apart the settings are and, when a confirmation study (or
``--repeats``) measured the seed-to-seed spread, give that difference a 95 % t-interval and say
whether the settings differ beyond the spread: a one-way ANOVA F-test across all the
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

from reports.repeats import BOTH, CONFIRMATION, TRIAL_SEEDS, Spread
from reports.tables import complete, config_key, over_cap
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
        anova_f: F of the one-way ANOVA across the notebook's settings along the axis, or None
            when there is no seed-to-seed spread to test against (or fewer than 2 settings).
        anova_p: Its p-value (the chance of an F this large from seed noise alone), or None.
        difference: Best minus worst of the notebook's settings (validation accuracy, a
            fraction; means of repeats where there are), or None with fewer than 2 settings.
        difference_ci: Half-width of the difference's 95 % t-interval (a fraction), or None
            without a seed-to-seed spread (single runs give no interval).
    """

    axis: Axis
    controlled: pd.DataFrame
    study: pd.DataFrame
    findings: list[str]
    basis: str
    anova_f: float | None = None
    anova_p: float | None = None
    difference: float | None = None
    difference_ci: float | None = None

    @property
    def param(self) -> str:
        """The parameter that varies along the axis."""
        return self.axis.param


class Comparison(NamedTuple):
    """Best against worst of the notebook's settings along an axis, in words and numbers."""

    text: str
    anova_f: float | None = None
    anova_p: float | None = None
    difference: float | None = None
    difference_ci: float | None = None


def axis_sections(
    frame: pd.DataFrame,
    repeats: pd.DataFrame | None = None,
    spread: Spread | None = None,
    source: str | None = None,
) -> list[AxisSection]:
    """The four axis sections of a report.

    Args:
        frame: ``tables.trials_frame`` of the study.
        repeats: ``repeats.summary`` of its confirmation study, or None.
        spread: ``repeats.pooled_spread`` of it, or None.
        source: Where ``repeats``' runs come from (``repeats.seed_table``); the confirmation
            study when None.
    """
    return [_section(axis, frame, repeats, spread, source) for axis in AXES]


def _section(
    axis: Axis,
    frame: pd.DataFrame,
    repeats: pd.DataFrame | None,
    spread: Spread | None,
    source: str | None,
) -> AxisSection:
    controlled = controlled_table(axis, frame, repeats)
    study = study_table(axis, frame)
    comparison = _comparison(axis, controlled, spread)
    findings = [comparison.text, *_cost(axis, controlled), *_whole_study(axis, frame)]
    return AxisSection(
        axis,
        controlled,
        study,
        findings,
        _basis(axis, frame, controlled, source),
        comparison.anova_f,
        comparison.anova_p,
        comparison.difference,
        comparison.difference_ci,
    )


def left_out(frame: pd.DataFrame) -> str:
    """The clause every section's basis ends with: the trials it leaves out, and why."""
    capped = int(over_cap(frame).sum())
    pruned = int((frame["state"] == "PRUNED").sum()) - capped
    failed = int((frame["state"] == "FAIL").sum())
    text = (
        f"; {count(pruned, 'pruned trial')} {'is' if pruned == 1 else 'are'} left out, "
        "their accuracy being of fewer epochs"
    )
    if capped:
        text += f" (so {'is' if capped == 1 else 'are'} {capped} over the cost cap, never trained)"
    if failed:
        text += f", as {'is' if failed == 1 else 'are'} {failed} failed, which have none"
    return text + "."


#: Where a section's repeated runs come from, in its basis sentence (``repeats.seed_table``).
WHERE_RUNS = {
    CONFIRMATION: "in the confirmation study",
    TRIAL_SEEDS: "among the trials' own seeds (--repeats)",
    BOTH: "in the confirmation study or among the trials' own seeds (--repeats)",
}


def _basis(axis: Axis, frame: pd.DataFrame, controlled: pd.DataFrame, source: str | None) -> str:
    done = complete(frame)
    done = done[done[axis.param].notna()]
    notebook = int(controlled["val_accuracy"].notna().sum())
    text = (
        f"This section rests on {count(len(done), 'complete trial')} "
        f"({notebook} of them the notebook's {len(controlled)} configurations along this axis)"
    )
    if "repeats" in controlled:
        runs = int(controlled["repeats"].fillna(0).sum())
        text += f" and {count(runs, 'repeated run')} of those {WHERE_RUNS[source or CONFIRMATION]}"
    return text + left_out(frame)


def count(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless ``n`` is 1 (``"3 complete trials"``)."""
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


def _comparison(axis: Axis, controlled: pd.DataFrame, spread: Spread | None) -> Comparison:
    use_means = "val_mean" in controlled and controlled["val_mean"].notna().sum() >= 2
    col = "val_mean" if use_means else "val_accuracy"
    measured = controlled[controlled[col].notna()]
    if len(measured) < 2:
        return Comparison(
            f"{axis.title}: {len(measured)} of the notebook's {len(controlled)} configurations "
            "along this axis have a complete trial, too few to compare."
        )
    best = measured.loc[measured[col].idxmax()]
    worst = measured.loc[measured[col].idxmin()]
    diff = float(best[col] - worst[col])
    has_spread = spread is not None and spread.dof >= 1
    if diff == 0 and not has_spread:
        return Comparison(
            f"{axis.title}: all {len(measured)} of the notebook's settings reach the same "
            f"validation accuracy ({best[col]:.2%}).",
            difference=0.0,
        )
    runs = (int(best["repeats"]), int(worst["repeats"])) if use_means else (1, 1)
    basis = f"means of {runs[0]} and {runs[1]} repeats" if use_means else "single runs"
    head = (
        f"{axis.param} {_fmt(best['value'])} vs {_fmt(worst['value'])} (best vs worst of the "
        f"notebook's settings, validation accuracy {best[col]:.2%} vs {worst[col]:.2%})"
    )
    if spread is None or not has_spread:
        return Comparison(
            f"{head}: {100 * diff:.1f} pp apart ({basis}). This rests on single runs, so no "
            "interval can be given: run `python -m study.confirm` to measure the seed-to-seed "
            "spread before trusting it.",
            difference=diff,
        )
    half = difference_interval(spread, *runs)
    counts = measured["repeats"].astype(float) if use_means else pd.Series(1.0, measured.index)
    f_value, p_value = across_settings_test(measured[col], counts, spread)
    verdict = (
        "the settings differ beyond seed noise"
        if p_value < ALPHA
        else "the differences are within seed noise"
    )
    text = (
        f"{head}: {100 * diff:.1f} ± {100 * half:.1f} pp apart ({basis}; 95 % t-interval from "
        f"the seed-to-seed std of repeats, {100 * spread.std:.1f} pp pooled over "
        f"{spread.configs} configurations with {spread.dof} degrees of freedom). A one-way "
        f"ANOVA across the {len(measured)} settings (F = {f_value:.2f}, p = {p_value:.3f}, "
        f"against the same seed-to-seed variance) says {verdict} (at the {ALPHA:.0%} level)."
    )
    return Comparison(text, f_value, p_value, diff, half)


def difference_interval(spread: Spread, n_best: int, n_worst: int) -> float:
    """Half-width of the 95 % t-interval of a difference between two settings' accuracies.

    Each setting's accuracy is a mean of ``n`` runs (1 for a single run) whose seed-to-seed std
    is the pooled ``spread.std``, known to ``spread.dof`` degrees of freedom:
    ``t(0.975, dof) * std * sqrt(1/n_best + 1/n_worst)``. The interval is for the difference of
    two settings chosen in advance; picked as best and worst of several, it is optimistic, which
    is why the verdict is the ANOVA's across all of them.
    """
    t = float(stats.t.ppf(0.975, spread.dof))
    return t * spread.std * math.sqrt(1 / n_best + 1 / n_worst)


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
