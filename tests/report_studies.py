"""Studies for report tests, built with ``optuna.trial.create_trial``: no training anywhere."""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import TrialState, create_trial

from search_spaces.baseline import BASELINE_GRID
from search_spaces.config import ModelConfig
from search_spaces.lstm import ALL_DISTRIBUTIONS


def n_params(config: ModelConfig) -> int:
    """The Keras parameter count of the project's model (embedding, LSTM stack, dense).

    Of an extended configuration, approximately: GRU and bidirectional layers are counted as
    LSTM ones, and the dense layer reads the last layer's units.
    """
    count = 1000 * config.embedding_dim
    width = config.embedding_dim
    for _ in range(config.layers):
        count += 4 * (config.units * (width + config.units + 1))
        width = config.units
    return count + config.units + 1


def add(
    study: optuna.Study,
    config: ModelConfig,
    val: float | None,
    *,
    state: TrialState = TrialState.COMPLETE,
    baseline: str | None = None,
    test: float | None = None,
    seconds: float = 2.0,
    epochs: int = 1,
    extra: dict[str, Any] | None = None,
) -> None:
    attrs: dict[str, Any] = {
        "n_params": n_params(config),
        "train_seconds": seconds,
        "epochs_run": epochs,
        "device": "CPU: test",
    }
    if val is not None:
        attrs["val_accuracy"] = val
        attrs["test_accuracy"] = val - 0.01 if test is None else test
        attrs["test_loss"] = 0.5
    if baseline is not None:
        attrs["baseline"] = baseline
    attrs.update(extra or {})
    value: Any = None
    if state == TrialState.COMPLETE:
        value = [val, attrs["n_params"]] if len(study.directions) > 1 else val
    intermediate = {e: val for e in range(epochs)} if val is not None else {}
    study.add_trial(
        create_trial(
            state=state,
            value=None if isinstance(value, list) else value,
            values=value if isinstance(value, list) else None,
            params=config.as_params(),
            # A notebook configuration's five, an extended one's nine (``as_params``).
            distributions={p: ALL_DISTRIBUTIONS[p] for p in config.as_params()},
            user_attrs=attrs,
            intermediate_values=intermediate,
        )
    )


def add_baselines(
    study: optuna.Study,
    accuracy: dict[str, float] | None = None,
    params_offset: int = 0,
    extended: bool = False,
) -> None:
    """All 14 notebook configurations; accuracy 0.80 + 0.001 * index unless given by label.

    ``params_offset`` is added to each measured parameter count, so that a table putting the
    notebook's count where the measured one belongs (the two are equal for the real model) fails.
    ``extended``: as an extended study enqueues them, with the notebook's cell, direction,
    readout and learning rate as params.
    """
    for i, entry in enumerate(BASELINE_GRID):
        val = (accuracy or {}).get(entry.label, 0.80 + 0.001 * i)
        extra = {"n_params": n_params(entry.config) + params_offset} if params_offset else None
        config = entry.config.with_notebook_choices() if extended else entry.config
        add(study, config, val, baseline=entry.label, seconds=1.0 + i, extra=extra)


def nan() -> float:
    return math.nan
