"""The data behind every table of a report: one DataFrame row per trial, and the notebook grid.

Everything here is computed from stored trials only, so it can be tested on studies built with
``optuna.trial.create_trial`` and no training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import optuna
import pandas as pd
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from search_spaces.baseline import BASELINE_GRID
from search_spaces.keys import (  # shared with study/; reports use them from here
    EXTENDED_PARAMS,
    NOTEBOOK_PARAMS,
    PARAMS,
    config_key,
    is_missing,
)
from search_spaces.lstm import ALL_DISTRIBUTIONS

#: Measurement columns read from the trials' user attributes.
MEASURES: tuple[str, ...] = (
    "n_params",
    "train_seconds",
    "epochs_run",
    "val_accuracy",
    "test_accuracy",
    "test_loss",
    "repeats",
    "val_accuracy_std",
    "test_accuracy_std",
    "over_cost_cap",
)
#: Columns of ``trials_frame``, in order (``trials.csv`` has these, less the extended space's
#: params no trial has: ``shown_columns``).
COLUMNS: tuple[str, ...] = (
    "number",
    "state",
    "source",
    *PARAMS,
    *MEASURES,
    "pruned_at_epoch",
    "device",
    "repeat_mode",
    "fail_reason",
)
SAMPLER = "sampler"
#: The params with numeric values; the others are categorical choices (``"gru"``, ``True``).
NUMERIC_PARAMS: tuple[str, ...] = tuple(
    p for p in PARAMS if not isinstance(ALL_DISTRIBUTIONS[p], CategoricalDistribution)
)


def trials_frame(trials: list[FrozenTrial]) -> pd.DataFrame:
    """One row per trial: number, state, source, params, measurements, pruned-at epoch.

    ``source`` is the notebook label of a baseline trial (``"Part 1: LSTM with 8 nodes"``) or
    ``"sampler"``. ``val_accuracy`` is a complete trial's value (its first, in multi-objective
    studies) and the last epoch's validation accuracy a pruned trial recorded;
    ``pruned_at_epoch`` is the 1-based epoch after which it was pruned. A trial of several seeds
    (``--repeats``) has their mean as its accuracies and their standard deviations in
    ``val_accuracy_std`` and ``test_accuracy_std``. ``over_cost_cap`` is the LSTM weight count
    of a sampled trial pruned untrained for being over ``--max-lstm-params``. Missing or
    non-finite figures are NaN.
    """
    rows = [_row(t) for t in trials]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in (*NUMERIC_PARAMS, *MEASURES):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    for col in PARAMS:
        if col not in NUMERIC_PARAMS:
            # The extended space's choices (cell, bidirectional, readout) stay what they are,
            # None where a trial has none (a notebook study's trials).
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    frame["pruned_at_epoch"] = frame["pruned_at_epoch"].astype("Int64")
    return frame


def _row(trial: FrozenTrial) -> dict[str, Any]:
    attrs = trial.user_attrs
    row: dict[str, Any] = {
        "number": trial.number,
        "state": trial.state.name,
        "source": attrs.get("baseline", SAMPLER),
        "device": attrs.get("device"),
        "repeat_mode": attrs.get("repeat_mode"),
        "fail_reason": attrs.get("fail_reason"),
    }
    for name in PARAMS:
        row[name] = trial.params.get(name, math.nan if name in NUMERIC_PARAMS else None)
    for name in MEASURES:
        row[name] = _number(attrs.get(name))
    if trial.state == TrialState.COMPLETE and trial.values:
        # What Optuna recorded as the trial's result (values[0] is validation accuracy in both
        # modes) wins over a user attribute, which a retried trial inherits from the run that died.
        row["val_accuracy"] = _number(trial.values[0])
    pruned_at = None
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        pruned_at = max(trial.intermediate_values) + 1
    row["pruned_at_epoch"] = pruned_at
    return row


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def shown_params(frame: pd.DataFrame) -> list[str]:
    """The params a report shows for these rows, in table order.

    The notebook's always; the extended space's (``cell``, ``bidirectional``, ``readout``,
    ``learning_rate``) only when some row has a value for them, so that a notebook study's
    tables and ``trials.csv`` have no empty columns for axes it never searched.
    """
    present = [p for p in EXTENDED_PARAMS if p in frame and not frame[p].map(is_missing).all()]
    return [*NOTEBOOK_PARAMS, *present]


def shown_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without the extended params no row has (what ``trials.csv`` holds)."""
    absent = [p for p in EXTENDED_PARAMS if p in frame and p not in shown_params(frame)]
    return frame.drop(columns=absent)


def param_text(name: str, value: Any) -> str:
    """A param's value for a reader: ``64``, ``0.25``, ``gru``, ``True``, ``0.00123``.

    The learning rate, a log-scale value, gets 3 significant digits; other floats are shown
    compactly (``%g`` after rounding to 4 digits); a missing value is an em dash.
    """
    if is_missing(value):
        return "—"
    if name == "learning_rate":
        return f"{float(value):.3g}"
    if isinstance(value, bool | str):
        return str(value)
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:.4g}"


#: How ``config_text`` names the extended space's choices.
_CHOICE_WORDS: dict[str, dict[Any, str]] = {
    "cell": {"lstm": "LSTM", "gru": "GRU"},
    "bidirectional": {False: "forward only", True: "bidirectional"},
    "readout": {"last": "last-state readout", "max": "max readout", "mean": "mean readout"},
}


def config_text(params: Mapping[str, Any]) -> str:
    """A configuration for a sentence.

    A notebook configuration reads ``units=64, embedding_dim=32, layers=1, dropout=0.2,
    recurrent_dropout=0.1``; an extended one says its choices first, in words: ``GRU,
    bidirectional, mean readout, learning rate 0.00213; units=64, ...``. Floats get 3
    significant digits.
    """
    plain = [f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
             if k not in EXTENDED_PARAMS]  # fmt: skip
    words = []
    for name in EXTENDED_PARAMS:
        value = params.get(name)
        if is_missing(value):
            continue
        if name == "learning_rate":
            words.append(f"learning rate {param_text(name, value)}")
        else:
            words.append(_CHOICE_WORDS[name].get(value, f"{name}={value}"))
    if not words:
        return ", ".join(plain)
    return "; ".join(part for part in (", ".join(words), ", ".join(plain)) if part)


def param_view(frame: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """``frame`` with the extended params' values as display text (``param_text``).

    The notebook's numeric params keep their numbers (the renderer formats them as before);
    the learning rate becomes 3 significant digits, the choices their names.
    """
    out = frame.copy()
    for name in params:
        if name in EXTENDED_PARAMS and name in out:
            out[name] = [param_text(name, v) for v in out[name]]
    return out


def study_frame(study: optuna.Study) -> pd.DataFrame:
    """``trials_frame`` of every trial of a study, in any state."""
    return trials_frame(study.get_trials(deepcopy=False))


def complete(frame: pd.DataFrame) -> pd.DataFrame:
    """The complete trials with a finite validation accuracy."""
    keep = (frame["state"] == TrialState.COMPLETE.name) & frame["val_accuracy"].notna()
    return frame[keep]


def baseline_table(frame: pd.DataFrame, repeats: pd.DataFrame | None = None) -> pd.DataFrame:
    """The notebook's 14 configurations beside this study's measurements of them.

    Args:
        frame: ``trials_frame`` of the study.
        repeats: ``repeats.summary`` of the confirmation study, or None.

    Returns:
        14 rows in notebook order: ``heading``, the config, ``notebook_params``,
        ``notebook_test_accuracy`` (NaN where the notebook printed none), and the measured
        ``n_params``, ``val_accuracy``, ``test_accuracy``, ``train_seconds`` and ``state`` of the
        study's baseline trial (NaN / ``"missing"`` when it has not run), plus, with repeats,
        ``repeats``, ``val_mean``, ``val_std``, ``test_mean``, ``test_std``.
    """
    rows = []
    for entry in BASELINE_GRID:
        mine = frame[frame["source"] == entry.label]
        done = complete(mine)
        # A re-queued baseline can appear more than once; the complete one is the measurement.
        trial = done.iloc[-1] if len(done) else (mine.iloc[-1] if len(mine) else None)
        row: dict[str, Any] = {
            "heading": entry.label,
            **entry.config.as_params(),
            "notebook_params": entry.notebook_params,
            "notebook_test_accuracy": (
                math.nan if entry.notebook_test_accuracy is None else entry.notebook_test_accuracy
            ),
        }
        for col in ("n_params", "val_accuracy", "test_accuracy", "train_seconds"):
            row[col] = trial[col] if trial is not None else math.nan
        row["state"] = trial["state"] if trial is not None else "missing"
        if repeats is not None:
            key = config_key(entry.config.as_params())
            match = repeats[repeats["config"] == key]
            for col in ("repeats", "val_mean", "val_std", "test_mean", "test_std"):
                row[col] = match.iloc[0][col] if len(match) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


#: ``state_counts``' key for trials pruned untrained over the cost cap.
OVER_COST_CAP = "OVER_COST_CAP"


def over_cap(frame: pd.DataFrame) -> pd.Series:
    """Which trials were pruned untrained for being over the cost cap (``--max-lstm-params``)."""
    return (frame["state"] == TrialState.PRUNED.name) & frame["over_cost_cap"].notna()


def state_counts(frame: pd.DataFrame) -> dict[str, int]:
    """How many trials are in each state, e.g. ``{"COMPLETE": 12, "PRUNED": 4}``.

    Trials pruned untrained over the cost cap are counted apart, under ``OVER_COST_CAP``: they
    were never trained, unlike the pruned ones, which stopped after some epochs.
    """
    capped = over_cap(frame)
    counts = {str(k): int(v) for k, v in frame.loc[~capped, "state"].value_counts().items()}
    if capped.any():
        counts[OVER_COST_CAP] = int(capped.sum())
    return counts


def counts_text(frame: pd.DataFrame) -> str:
    """The trials by state in words; ``"none"`` without trials.

    E.g. ``12 complete, 3 pruned (plus 5 over the cost cap, never trained), 1 fail``.
    """
    counts = state_counts(frame)
    capped = counts.pop(OVER_COST_CAP, 0)
    capped_text = f"{capped} over the cost cap, never trained"
    parts = []
    for state, n in counts.items():
        text = f"{n} {state.lower()}"
        if state == TrialState.PRUNED.name and capped:
            text += f" (plus {capped_text})"
        parts.append(text)
    if capped and TrialState.PRUNED.name not in counts:
        parts.append(capped_text)
    return ", ".join(parts) or "none"
