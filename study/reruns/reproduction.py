"""The reproduction: the notebook's configurations trained R times under its own protocol.

``python -m study.reproduce`` enqueues them (``study.reruns.groups``) into ``<NAME>-reproduce``,
trains what waits with the study's objective, and prints the notebook's figures beside ours.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna

from reports.render import markdown_table
from reports.reproduction import reproduction_table, verdict
from search_spaces.baseline import BASELINE_GRID
from search_spaces.keys import config_key
from study.reruns.groups import Candidate, run_waiting
from study.workers.run import build_objective

#: Added to ``--seed`` for the reproduction's trial seeds, apart from the study's and the
#: confirmation's (``study.reruns.confirmation.SEED_OFFSET``).
SEED_OFFSET = 2000
#: The notebook's parts, as ``--parts`` names them.
PARTS = ("1", "2", "3", "4")
#: What the table's columns are called when printed.
SHOWN_COLUMNS = {
    "heading": "configuration",
    "notebook_params": "notebook params",
    "n_params": "our params",
    "runs": "runs",
    "notebook_test_accuracy": "notebook test acc",
    "test_mean": "our mean",
    "test_std": "our std",
    "diff_pp": "diff (pp)",
    "inside": "notebook inside mean ± 2 std",
}


def candidates(parts: Sequence[str] = PARTS) -> list[Candidate]:
    """The notebook's configurations of the given parts (all 14 by default)."""
    return [
        Candidate(config_key(e.config.as_params()), e.config.as_params(), e.label, e.label, None)
        for e in BASELINE_GRID
        if e.part.removeprefix("Part ") in parts
    ]


def printed_table(frame: Any) -> str:
    """The reproduction table as Markdown, with the verdict under it."""
    table = reproduction_table(frame)
    shown = table[list(SHOWN_COLUMNS)].copy()
    for column, digits in (("test_mean", 4), ("test_std", 4), ("diff_pp", 2)):
        shown[column] = [_fixed(v, digits, signed=column == "diff_pp") for v in shown[column]]
    shown = shown.rename(columns=SHOWN_COLUMNS)
    return "\n".join([*markdown_table(shown), "", verdict(table)])


def _fixed(value: float, digits: int, signed: bool = False) -> str:
    if value != value:  # NaN: no runs, or no notebook figure
        return "—"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def train(study: optuna.Study, data: Any, args: argparse.Namespace) -> int:
    """Trains the reproduction's waiting runs; returns ``run_waiting``'s exit code."""
    from study.trials.objective import trial_errors  # imports Keras

    objective = build_objective(args, data, seed=args.seed + SEED_OFFSET, pruning=False)
    return run_waiting(study, objective, trial_errors())


def recorded_settings(args: argparse.Namespace, backend: str, data: Any) -> dict[str, Any]:
    """What the reproduction study records once: every flag that decides what a run measures."""
    # --repeats and --parts say how much of the reproduction to run, and may grow on a rerun;
    # the storage URL may hold a password. Everything else decides what a run measures.
    unrecorded = ("storage", "repeats", "parts")
    config = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in unrecorded
    }
    config.update(
        backend=backend,
        data_fingerprint=data.fingerprint,
        data_sizes=data.sizes(),
        protocol="notebook: all training reviews, validation on the test set",
    )
    return config
