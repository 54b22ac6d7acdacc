"""The report of a fixed synthetic study equals a committed one, byte for byte.

The guard for changes that must not change what a report says (renames, refactors): two stored
studies (a notebook one with repeats, a confirmation and a reference model; an extended one),
built with ``optuna.trial.create_trial``, no training. A change that means to change the report
regenerates the expected files with ``python -m tests.test_report_unchanged`` and shows the diff.
"""

from __future__ import annotations

import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from reports.build import build_report
from reports.repeats import confirmed_best
from reports.tables import study_frame
from search_spaces.baseline import BASELINE_GRID
from search_spaces.config import ModelConfig
from tests.report_studies import add, add_baselines

EXPECTED = Path(__file__).parent / "expected"
CASES = ("notebook", "extended")
#: Few resamples and permutations: the importance table is part of the report, and seeded.
IMPORTANCE = {"resamples": 3, "permutations": 3, "seed": 0}

REFERENCES = {
    "data_fingerprint": "x",
    "models": [
        {
            "name": "bigrams",
            "label": "bag of bigrams",
            "features": "f",
            "n_features": 1000,
            "c": 0.03,
            "val_accuracy": 0.835,
            "test_accuracy": 0.8331,
            "test_low": 0.828,
            "test_high": 0.838,
            "n_test": 25000,
            "fit_seconds": 2.0,
        }  # fmt: skip
    ],
}

SAMPLED_NOTEBOOK = [
    (ModelConfig(100, 50, 2, 0.3, 0.1), 0.83),
    (ModelConfig(16, 8, 1, 0.0, 0.2), 0.79),
    (ModelConfig(64, 32, 3, 0.5, 0.0), 0.825),
    (ModelConfig(8, 64, 1, 0.1, 0.4), 0.805),
]
SAMPLED_EXTENDED = [
    (ModelConfig(64, 32, 1, 0.2, 0.1, "gru", True, "mean", 0.005), 0.84),
    (ModelConfig(16, 8, 2, 0.0, 0.3, "gru", False, "max", 0.0002), 0.82),
    (ModelConfig(32, 16, 1, 0.5, 0.0, "gru", True, "mean", 0.002), 0.83),
    (ModelConfig(100, 50, 3, 0.1, 0.2, "lstm", True, "max", 0.008), 0.79),
]


def guard_study(storage: str, case: str) -> optuna.Study:
    """The fixed study ``case`` (with its confirmation, for the notebook one) in ``storage``."""
    extended = case == "extended"
    study = optuna.create_study(storage=storage, study_name=case, direction="maximize")
    study.set_user_attr("config", {"space": case, "epochs": 2, "repeats": 1})
    study.set_user_attr("reference_models", REFERENCES)
    add_baselines(study, extended=extended)
    for i, (config, val) in enumerate(SAMPLED_EXTENDED if extended else SAMPLED_NOTEBOOK):
        add(study, config, val, seconds=3.0 + i, epochs=2)
    add(study, ModelConfig(20, 10).with_notebook_choices() if extended else ModelConfig(20, 10),
        0.6, state=TrialState.PRUNED)  # fmt: skip
    add(study, ModelConfig(40, 10), None, state=TrialState.FAIL)
    if not extended:
        confirm = optuna.create_study(
            storage=storage, study_name=f"{case}-confirm", direction="maximize"
        )
        lstm128 = BASELINE_GRID[4]
        for r in range(3):
            offset = (r - 1) * 0.002
            add(confirm, SAMPLED_NOTEBOOK[0][0], 0.83 + offset, test=0.82 + offset,
                extra={"repeat": r})  # fmt: skip
            add(confirm, lstm128.config, 0.81 + offset, test=0.80 + offset,
                baseline=lstm128.label, extra={"repeat": r})  # fmt: skip
        # What a finished confirmation records (study.reruns.confirmation.record_winner).
        runs = study_frame(confirm)
        record = confirmed_best(study_frame(study), runs, 2)
        assert record is not None
        study.set_user_attr("confirmed_best", {**record, "runs": len(runs)})
    return study


def write_report(case: str, folder: Path) -> Path:
    """Builds the study ``case`` in a new SQLite file under ``folder``; returns its report."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = guard_study(f"sqlite:///{folder / f'{case}.db'}", case)
    out = folder / case
    build_report(study, out, ["png"], IMPORTANCE)
    return out


@pytest.mark.parametrize("case", CASES)
def test_the_report_of_a_fixed_study_is_unchanged(case: str, tmp_path: Path) -> None:
    out = write_report(case, tmp_path)
    for name in ("report.md", "trials.csv"):
        expected = (EXPECTED / f"{case}_{name}").read_text(encoding="utf-8")
        assert (out / name).read_text(encoding="utf-8") == expected, (case, name)


if __name__ == "__main__":  # regenerate the expected files (a change meant to change the report)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            out = write_report(case, Path(tmp))
            for name in ("report.md", "trials.csv"):
                (EXPECTED / f"{case}_{name}").write_text((out / name).read_text("utf-8"), "utf-8")
    sys.exit(0)
