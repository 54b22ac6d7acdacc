"""`--objectives accuracy,params`: a multi-objective study, without pruning, read by reports."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.artifacts import get_all_artifact_meta
from optuna.trial import TrialState

from reports.build import compute
from search_spaces import ModelConfig
from study.setup.settings import StudySetupError, check_compatible
from tests.report_studies import n_params
from tests.stderr_lines import OPTIMIZE, foreign_lines
from tests.test_optimize_cli import run_optimize


def test_pruning_flags_are_refused_in_multi_objective_mode(tmp_path: Path) -> None:
    result = run_optimize("--objectives", "accuracy,params", "--pruner", "median", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--pruner median cannot be combined" in lines[0], result.stderr
    assert not list(tmp_path.iterdir())


def test_stored_directions_must_match() -> None:
    single = optuna.create_study(direction="maximize", study_name="one")
    check_compatible(single)
    with pytest.raises(StudySetupError, match=r"\[maximize\], not \[maximize, minimize\]"):
        check_compatible(single, ("maximize", "minimize"))
    multi = optuna.create_study(directions=["maximize", "minimize"])
    check_compatible(multi, ("maximize", "minimize"))
    with pytest.raises(StudySetupError, match="not \\[maximize\\]"):
        check_compatible(multi)


def test_multi_objective_study_runs_and_reports(tiny_imdb: Path, tmp_path: Path) -> None:
    flags = [
        "--trials", "3", "--epochs", "2", "--data", str(tiny_imdb), "--maxlen", "20",
        "--no-baseline", "--storage", "sqlite:///m.db", "--cache-dir", str(tmp_path / "cache"),
        "--objectives", "accuracy,params", "--artifact-dir", str(tmp_path / "artifacts"),
        "--max-lstm-params", "0",  # three random configurations: all must train
    ]  # fmt: skip
    result = run_optimize(*flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert foreign_lines(result.stderr, OPTIMIZE) == []  # --artifact-dir draws with matplotlib
    study = optuna.load_study(storage=f"sqlite:///{tmp_path / 'm.db'}", study_name="rnn-design")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["val_accuracy", "n_params"]
    assert study.user_attrs["config"]["pruner"] == "none"
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 3
    for trial in done:
        # The second objective is the model's size, counted by hand (embedding, LSTM gates,
        # dense), not read back from the attribute the objective wrote beside it.
        expected = n_params(ModelConfig(**trial.params))
        assert trial.values[1] == expected and trial.user_attrs["n_params"] == expected
        assert trial.values[0] == trial.user_attrs["val_accuracy"]
        assert trial.user_attrs["epochs_run"] == 2
        # --artifact-dir: the learning curve as CSV and PNG, attached to the trial
        metas = get_all_artifact_meta(trial, storage=study._storage)
        assert sorted(m.filename for m in metas) == [
            f"trial-{trial.number}-history.csv",
            f"trial-{trial.number}-history.png",
        ]
    assert len(list((tmp_path / "artifacts").iterdir())) == 6
    data = compute(study)
    assert data.frame["val_accuracy"].notna().sum() == 3

    single = flags[: flags.index("--objectives")]
    again = run_optimize(*single, cwd=tmp_path)
    assert again.returncode == 2
    assert "pick another --study-name" in again.stderr
