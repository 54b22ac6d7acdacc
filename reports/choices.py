"""The extended space's axes (cell, direction, readout, learning rate), read from its trials.

The notebook's axes (``reports.findings``) each have a controlled comparison: baseline
configurations that differ only along the axis. The extended space's (``--space extended``) have
none: the notebook trained only LSTMs, forward, read out at the last state, at Adam's default
learning rate. So each of these sections reads the whole study: its complete trials grouped by
the param's value (the learning rate binned on a log scale), with how many trials each group
holds, their median and best validation accuracy, and sentences saying which group leads.

They are the sampler's trials, not a controlled comparison: TPE draws more trials where it has
found good results, the groups differ in every other param, and the notebook's 14
configurations sit in one group (at the notebook's choices). Each trial is one run, so no
interval is given; where a confirmation study repeated configurations, a sentence says which
values its repeated configurations hold, with their means over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import pandas as pd
from optuna.distributions import CategoricalDistribution

from reports.findings import count, left_out
from reports.tables import SAMPLER, complete, param_text
from search_spaces.config import NOTEBOOK_CHOICES
from search_spaces.keys import is_missing
from search_spaces.lstm import EXTENSION

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
    "val_best",
    "best_trial",
    "params_median",
    "seconds_median",
)
#: What every section says about what its groups are, and are not.
CAVEAT = (
    "These groups are the sampler's trials, not a controlled comparison: TPE draws more trials "
    "where it found good results, and the groups differ in every other parameter. Each trial "
    "is a single run of its configuration, so no interval is given."
)


class ChoiceSection(NamedTuple):
    """What a report shows for one of the extended space's params.

    Attributes:
        param: The param (``cell``, ``bidirectional``, ``readout``, ``learning_rate``).
        title: Its section title.
        table: One row per value (per learning-rate bin), every value of the space listed,
            ``COLUMNS``: ``value`` (as text), ``trials`` (complete trials), ``notebook_configs``
            (how many of them are the notebook's configurations), ``val_median``, ``val_best``,
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
        rows.append(
            {
                "value": label,
                "trials": len(mine),
                "notebook_configs": int((mine["source"] != SAMPLER).sum()),
                "val_median": _median(mine["val_accuracy"]),
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


def _section(param: str, frame: pd.DataFrame, repeats: pd.DataFrame | None) -> ChoiceSection:
    table = group_table(param, frame)
    findings = _medians(param, table)
    done = _with_param(frame, param)
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


def _medians(param: str, table: pd.DataFrame) -> list[str]:
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
        text = f"{row['value']} {row['val_median']:.2%} ({count(int(row['trials']), 'trial')}"
        if row["notebook_configs"]:
            text += f", {int(row['notebook_configs'])} of them the notebook's configurations"
        parts.append(text + ")")
    lead = ranked.iloc[0]
    untried = [str(v) for v in table.loc[table["trials"] == 0, "value"]]
    text = (
        f"{param}: median validation accuracy of the complete trials, highest first: "
        f"{'; '.join(parts)}. {lead['value']} leads by "
        f"{100 * (lead['val_median'] - ranked.iloc[1]['val_median']):.1f} pp of medians."
    )
    if untried:
        text += f" No complete trial has {param} {' or '.join(untried)}."
    return [text]


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
