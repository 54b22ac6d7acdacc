"""One section per design axis the notebook studies: a table along the axis and findings in words.

Each axis is read two ways: the notebook's controlled comparison (its baseline configurations that
differ only along this axis) and the whole study (every complete trial, binned along the axis).
The sentences say how far apart the settings are and whether that exceeds the seed-to-seed spread
measured by a confirmation study, or that they rest on single runs when there is none.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import pandas as pd

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
    """

    axis: Axis
    controlled: pd.DataFrame
    study: pd.DataFrame
    findings: list[str]


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
    return AxisSection(axis, controlled, study, findings)


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
    if spread is None:
        return (
            text + ". This rests on single runs: run `python -m study.confirm` to measure "
            "the seed-to-seed spread before trusting it."
        )
    n_best = int(best["repeats"]) if use_means else 1
    n_worst = int(worst["repeats"]) if use_means else 1
    threshold_pp = 100 * spread.threshold(n_best, n_worst)
    verdict = "beyond" if diff_pp > threshold_pp else "within"
    return (
        f"{text}, {verdict} the ±{threshold_pp:.1f} pp spread of repeats (two standard errors; "
        f"one run's seed-to-seed std is {100 * spread.std:.1f} pp, pooled over "
        f"{spread.configs} configurations)."
    )


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
