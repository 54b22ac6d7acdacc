"""The extended space's axes (cell, direction, readout, learning rate), read from its trials.

The notebook's axes (``reports.findings``) each have a controlled comparison: baseline
configurations that differ only along the axis. The extended space's (``--space extended``) have
none: the notebook trained only LSTMs, forward, read out at the last state, at Adam's default
learning rate. So each of these sections reads the whole study: its complete trials grouped by
the param's value (the learning rate binned on a log scale), with how many trials each group
holds, their median validation accuracy with a 95 % bootstrap interval, their best, and
sentences saying which group leads and whether its lead over each other group is beyond the
interval of the difference of medians.

They are the sampler's trials, not a controlled comparison: TPE draws more trials where it has
found good results, the groups differ in every other param, and the notebook's 14
configurations sit in one group (at the notebook's choices). So the intervals resample the
trials each group happened to get (one run each, of different configurations), not seeds of
one configuration; where a confirmation study repeated configurations, a sentence says which
values its repeated configurations hold, with their means over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
from optuna.distributions import CategoricalDistribution

from reports.findings import count, left_out
from reports.tables import SAMPLER, complete, param_text
from search_spaces.config import NOTEBOOK_CHOICES
from search_spaces.keys import is_missing
from search_spaces.lstm import EXTENSION

if TYPE_CHECKING:
    from scipy.stats._resampling import ConfidenceInterval

#: Section titles of the extended space's params.
TITLES: dict[str, str] = {
    "cell": "Recurrent cell (extended space)",
    "bidirectional": "Bidirectional layers (extended space)",
    "readout": "Readout of the sequence (extended space)",
    "learning_rate": "Learning rate (extended space)",
}
#: Edges of the learning-rate groups: half decades over the space's 1e-4 to 1e-2.
LEARNING_RATE_BINS: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
#: Columns of ``ChoiceSection.table``.
COLUMNS: tuple[str, ...] = (
    "value",
    "trials",
    "notebook_configs",
    "val_median",
    "val_low",
    "val_high",
    "val_best",
    "best_trial",
    "params_median",
    "seconds_median",
)
#: Confidence of the intervals of medians and of their differences.
CONFIDENCE = 0.95
#: Bootstrap resamples per interval; a fixed generator seed keeps a report the same on rebuild.
RESAMPLES = 2000
BOOTSTRAP_SEED = 0
#: What every section says about what its groups are, and are not.
CAVEAT = (
    "These groups are the sampler's trials, not a controlled comparison: TPE draws more trials "
    "where it found good results, and the groups differ in every other parameter. The "
    "intervals (95 %, bootstrap over each group's trials) cover which trials a group happened "
    "to get, single runs of different configurations, not the seed-to-seed spread of one: a "
    "lead beyond its interval says these trials differ, not that the choice alone made them."
)


class ChoiceSection(NamedTuple):
    """What a report shows for one of the extended space's params.

    Attributes:
        param: The param (``cell``, ``bidirectional``, ``readout``, ``learning_rate``).
        title: Its section title.
        table: One row per value (per learning-rate bin), every value of the space listed,
            ``COLUMNS``: ``value`` (as text), ``trials`` (complete trials), ``notebook_configs``
            (how many of them are the notebook's configurations), ``val_median`` with
            ``val_low``/``val_high`` (its 95 % bootstrap interval; NaN under 2 trials),
            ``val_best``,
            ``best_trial`` (the number of the group's best trial), ``params_median``,
            ``seconds_median``; NaN where a group has no trial.
        findings: Sentences generated from the table (and the confirmation study's repeats).
        basis: What the section rests on: its complete trials, and the trials it leaves out.
    """

    param: str
    title: str
    table: pd.DataFrame
    findings: list[str]
    basis: str


def choice_sections(
    frame: pd.DataFrame, params: Sequence[str], repeats: pd.DataFrame | None = None
) -> list[ChoiceSection]:
    """One section per extended param.

    Args:
        frame: ``tables.trials_frame`` of the study.
        params: The extended params to read (none for a notebook study).
        repeats: ``repeats.summary`` of the confirmation study (or of ``--repeats`` trials),
            or None.
    """
    return [_section(param, frame, repeats) for param in params]


def group_labels(param: str, values: pd.Series) -> pd.Series:
    """Each value's group, as the table's ``value`` text (a learning rate: its bin)."""
    if param != "learning_rate":
        return values.map(lambda v: param_text(param, v))
    edges = list(LEARNING_RATE_BINS)
    edges[-1] = math.nextafter(edges[-1], math.inf)  # the space's top, 1e-2, in the last bin
    bins = pd.cut(values.astype(float), edges, right=False, labels=_bin_labels())
    return bins.astype(object)


def _bin_labels() -> list[str]:
    edges = LEARNING_RATE_BINS
    return [f"{low:g}–{high:g}" for low, high in zip(edges[:-1], edges[1:], strict=True)]


def _group_order(param: str) -> list[str]:
    if param == "learning_rate":
        return _bin_labels()
    dist = EXTENSION[param]
    assert isinstance(dist, CategoricalDistribution)
    return [param_text(param, c) for c in dist.choices]


def _with_param(frame: pd.DataFrame, param: str) -> pd.DataFrame:
    done = complete(frame)
    if param not in done:
        return done.iloc[0:0]
    # As bools: an empty object-typed mask would select columns, not rows.
    return done[~done[param].map(is_missing).astype(bool)]


def group_table(param: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The complete trials having ``param``, grouped by its value (``ChoiceSection.table``)."""
    done = _with_param(frame, param)
    groups = group_labels(param, done[param]) if len(done) else pd.Series(dtype=object)
    rows = []
    for label in _group_order(param):
        mine = done[groups == label] if len(done) else done
        best = mine.loc[mine["val_accuracy"].idxmax()] if len(mine) else None
        low, high = median_interval(mine["val_accuracy"])
        rows.append(
            {
                "value": label,
                "trials": len(mine),
                "notebook_configs": int((mine["source"] != SAMPLER).sum()),
                "val_median": _median(mine["val_accuracy"]),
                "val_low": low,
                "val_high": high,
                "val_best": math.nan if best is None else float(best["val_accuracy"]),
                "best_trial": None if best is None else int(best["number"]),
                "params_median": _median(mine["n_params"]),
                "seconds_median": _median(mine["train_seconds"]),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _median(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.median()) if len(values) else math.nan


def median_interval(values: pd.Series) -> tuple[float, float]:
    """The 95 % percentile-bootstrap interval of a group's median; NaNs under two values."""
    sample = values.dropna().to_numpy(dtype=float)
    if len(sample) < 2:
        return math.nan, math.nan
    ci = _bootstrap((sample,), _medians_of)
    return float(ci.low), float(ci.high)


def lead_interval(leader: pd.Series, other: pd.Series) -> tuple[float, float]:
    """The 95 % bootstrap interval of ``median(leader) - median(other)``.

    The groups are resampled apart (their trials are different configurations); NaNs where
    either has under two values.
    """
    a = leader.dropna().to_numpy(dtype=float)
    b = other.dropna().to_numpy(dtype=float)
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    ci = _bootstrap((a, b), _median_gap)
    return float(ci.low), float(ci.high)


def _medians_of(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(x, axis=axis)


def _median_gap(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(x, axis=axis) - np.median(y, axis=axis)


def _bootstrap(
    samples: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray]
) -> ConfidenceInterval:
    # Scipy imported here: ``python -m reports --help`` stays fast. Percentile, not BCa: BCa's
    # jackknife is undefined for groups of identical values, which small groups often are.
    from scipy import stats

    result = stats.bootstrap(
        samples,
        statistic,
        n_resamples=RESAMPLES,
        vectorized=True,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    return result.confidence_interval


def _section(param: str, frame: pd.DataFrame, repeats: pd.DataFrame | None) -> ChoiceSection:
    table = group_table(param, frame)
    done = _with_param(frame, param)
    findings = _medians(param, table, done)
    if len(done):
        best = done.loc[done["val_accuracy"].idxmax()]
        findings.append(
            f"The best complete trial (#{int(best['number'])}, {best['val_accuracy']:.2%}) used "
            f"{param} = {param_text(param, best[param])}."
        )
    if (table["trials"] > 0).sum() >= 2:
        findings.append(CAVEAT)
    findings += _confirmed(param, repeats)
    return ChoiceSection(param, TITLES[param], table, findings, _basis(param, frame))


def _medians(param: str, table: pd.DataFrame, done: pd.DataFrame) -> list[str]:
    tried = table[table["trials"] > 0]
    if tried.empty:
        return [f"{param}: no complete trial has it yet."]
    if len(tried) == 1:
        row = tried.iloc[0]
        return [
            f"{param}: every complete trial used {row['value']} ({count(row['trials'], 'trial')}"
            f"): nothing to compare."
        ]
    ranked = tried.sort_values("val_median", ascending=False, kind="stable")
    parts = []
    for _, row in ranked.iterrows():
        text = f"{row['value']} {row['val_median']:.2%} ({_interval_text(row)}"
        text += f"{count(int(row['trials']), 'trial')}"
        if row["notebook_configs"]:
            text += f", {int(row['notebook_configs'])} of them the notebook's configurations"
        parts.append(text + ")")
    lead = ranked.iloc[0]
    untried = [str(v) for v in table.loc[table["trials"] == 0, "value"]]
    text = (
        f"{param}: median validation accuracy of the complete trials (95 % interval), highest "
        f"first: {'; '.join(parts)}. {_leads(param, lead, ranked.iloc[1:], done)}."
    )
    if untried:
        text += f" No complete trial has {param} {' or '.join(untried)}."
    return [text]


def _interval_text(row: pd.Series) -> str:
    if math.isnan(row["val_low"]):
        return ""
    return f"{row['val_low']:.2%}–{row['val_high']:.2%}; "


def _leads(param: str, lead: pd.Series, others: pd.DataFrame, done: pd.DataFrame) -> str:
    """How far the leading group's median is above each other's, with the gap's interval."""
    vals = done["val_accuracy"]
    labels = group_labels(param, done[param])
    parts = []
    for _, row in others.iterrows():
        gap = 100 * (lead["val_median"] - row["val_median"])
        low, high = lead_interval(vals[labels == lead["value"]], vals[labels == row["value"]])
        if math.isnan(low):
            few = lead["value"] if lead["trials"] < 2 else row["value"]
            parts.append(f"{row['value']} by {gap:.1f} pp (no interval: {few} has 1 trial)")
            continue
        verdict = "beyond the trials' spread" if low > 0 else "within the trials' spread"
        parts.append(
            f"{row['value']} by {gap:.1f} pp (95 % interval {100 * low:+.1f} to "
            f"{100 * high:+.1f} pp, {verdict})"
        )
    return f"By medians, {lead['value']} leads {'; '.join(parts)}"


def _confirmed(param: str, repeats: pd.DataFrame | None) -> list[str]:
    """Which values the configurations repeated with at least two seeds hold, and their means."""
    if repeats is None or repeats.empty or param not in repeats:
        return []
    repeated = repeats[(repeats["repeats"] >= 2) & ~repeats[param].map(is_missing).astype(bool)]
    if repeated.empty:
        return []
    labels = group_labels(param, repeated[param])
    parts = []
    for label in _group_order(param):
        mine = repeated[labels == label]
        if mine.empty:
            continue
        top = mine.loc[mine["val_mean"].astype(float).idxmax()]
        parts.append(
            f"{label}: {count(len(mine), 'configuration')}, best mean "
            f"{_pm(top['val_mean'], top['val_std'])} over {int(top['repeats'])} seeds"
        )
    best = repeated.loc[repeated["val_mean"].astype(float).idxmax()]
    return [
        f"Of the {count(len(repeated), 'configuration')} repeated with at least two seeds "
        f"(validation accuracy, mean ± std over seeds), by {param}: {'; '.join(parts)}. The "
        f"best by mean uses {param} = {param_text(param, best[param])}; these configurations "
        "also differ in their other parameters."
    ]


def _basis(param: str, frame: pd.DataFrame) -> str:
    done = _with_param(frame, param)
    notebook = int((done["source"] != SAMPLER).sum())
    at = param_text(param, NOTEBOOK_CHOICES[param])
    trials = count(len(done), "complete trial")
    text = f"This section reads the whole study, {trials} grouped by {param}"
    if notebook:
        text += f" ({notebook} of them the notebook's configurations, all at its {param} {at})"
    return text + left_out(frame)


def _pm(mean: Any, std: Any) -> str:
    mean, std = float(mean), float(std)
    if math.isnan(std):
        return f"{mean:.2%}"
    return f"{mean:.2%} ± {100 * std:.2f} pp"
