"""``python -m study.confirm`` on tiny data: repeats the top configurations, resumes, extends."""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from reports import repeats
from reports.build import compute
from reports.tables import study_frame
from search_spaces.config import ModelConfig
from tests.conftest import ROOT
from tests.report_studies import add
from tests.stderr_lines import CONFIRM, foreign_lines


def run_confirm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "study.confirm", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_confirm_repeats_resumes_and_extends(tiny_imdb: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    study = optuna.create_study(storage=url, study_name="s", direction="maximize")
    study.set_user_attr(
        "config",
        {"data": str(tiny_imdb), "maxlen": 20, "epochs": 1, "seed": 0, "val_split": 0.2},
    )
    best, second = ModelConfig(8, 4), ModelConfig(8, 8, 1, 0.1, 0.0)
    add(study, best, 0.9)
    add(study, ModelConfig(12, 4), 0.5)
    add(study, second, 0.8)
    add(study, ModelConfig(16, 4), 0.95, state=TrialState.PRUNED)  # not a candidate
    flags = ["--storage", url, "--study-name", "s", "--top", "2", "--no-baseline",
             "--cache-dir", str(tmp_path / "cache")]  # fmt: skip

    first = run_confirm(*flags, "--repeats", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "ran 4 trainings" in first.stderr
    assert foreign_lines(first.stderr, CONFIRM) == []
    confirm = optuna.load_study(storage=url, study_name="s-confirm")
    assert confirm.metric_names == ["val_accuracy"]  # what the dashboard calls its values
    runs = confirm.get_trials(states=(TrialState.COMPLETE,))
    assert len(runs) == 4
    assert {t.user_attrs["confirm_of"] for t in runs} == {0, 2}
    assert sorted(t.user_attrs["repeat"] for t in runs) == [0, 0, 1, 1]
    assert len({t.user_attrs["seed"] for t in runs}) == 4
    assert {tuple(sorted(t.params.items())) for t in runs} == {
        tuple(sorted(best.as_params().items())),
        tuple(sorted(second.as_params().items())),
    }
    assert all("test_accuracy" in t.user_attrs for t in runs)

    again = run_confirm(*flags, "--repeats", "2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 newly enqueued, 0 to run" in again.stderr
    assert len(optuna.load_study(storage=url, study_name="s-confirm").trials) == 4

    more = run_confirm(*flags, "--repeats", "3", cwd=tmp_path)
    assert more.returncode == 0, more.stderr[-3000:]
    confirm = optuna.load_study(storage=url, study_name="s-confirm")
    summary = repeats.summary(study_frame(confirm))
    assert list(summary["repeats"]) == [3, 3]
    data = compute(study, confirm)
    assert data.repeats is not None and len(data.repeats) == 2
    # The pooled spread, by hand from the runs' values: (n - 1)-weighted variances, pooled.
    runs: dict[str, list[float]] = {}
    for trial in confirm.get_trials(states=(TrialState.COMPLETE,)):
        runs.setdefault(trial.user_attrs["confirm_key"], []).append(trial.value)
    assert sorted(len(v) for v in runs.values()) == [3, 3]
    pooled = sum(2 * statistics.variance(v) for v in runs.values()) / 4
    assert data.spread is not None and data.spread.dof == 4
    assert data.spread.std == pytest.approx(math.sqrt(pooled))
    for key, values in runs.items():
        row = data.repeats[data.repeats["config"] == key].iloc[0]
        assert row["val_mean"] == pytest.approx(statistics.mean(values))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--repeats", "0"], "--repeats must be positive, got 0"),
        (["--trials", "5"], "unrecognized argument '--trials'"),
        (["--study-name", "nope"], "no study 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, flags: list[str], message: str) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    optuna.create_study(storage=url, study_name="s")
    result = run_confirm("--storage", url, "--study-name", "s", *flags, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
