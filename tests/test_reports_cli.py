"""``python -m reports`` end to end on stored studies made without training."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from search_spaces.config import ModelConfig
from tests.conftest import ROOT
from tests.report_studies import add, add_baselines
from tests.stderr_lines import REPORTS, foreign_lines


def run_reports(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reports", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def make_study(path: Path, name: str = "s") -> optuna.Study:
    return optuna.create_study(storage=f"sqlite:///{path}", study_name=name, direction="maximize")


def test_report_writes_every_file(tmp_path: Path) -> None:
    study = make_study(tmp_path / "r.db")
    add_baselines(study, params_offset=7)  # measured counts unlike the notebook's, to tell apart
    add(study, ModelConfig(100, 50, 2, 0.3, 0.1), 0.9)
    add(study, ModelConfig(20, 10), 0.6, state=TrialState.PRUNED)
    add(study, ModelConfig(20, 10), None, state=TrialState.FAIL)
    out = tmp_path / "out"
    flags = ["--storage", f"sqlite:///{tmp_path / 'r.db'}", "--study-name", "s"]
    result = run_reports(*flags, "--out", str(out), "--formats", "png,svg,pdf,html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert foreign_lines(result.stderr, REPORTS) == []
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 17
    assert list(trials["number"]) == list(range(17))
    for name in ("importance", "pareto", "history", "slice"):
        for fmt in ("png", "svg", "pdf", "html"):
            assert (out / f"{name}.{fmt}").stat().st_size > 0, (name, fmt)
    md = (out / "report.md").read_text()
    assert md.count("| Part ") >= 14
    # heading | notebook params | measured params | notebook test acc | measured test acc
    assert "Part 4: RNN with 7 layer LSTM | 12,361 | 12,368 | 0.815" in md
    assert "rests on single runs" in md
    page = (out / "report.html").read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", page)
    assert "data:image/png;base64," in page
    from optuna_dashboard import get_note

    note = get_note(optuna.load_study(storage=f"sqlite:///{tmp_path / 'r.db'}", study_name="s"))
    assert "### LSTM units" in note


def test_default_formats_give_the_pngs_users_paste(tmp_path: Path) -> None:
    add_baselines(make_study(tmp_path / "r.db"))
    out = tmp_path / "out"
    result = run_reports(
        "--storage", f"sqlite:///{tmp_path / 'r.db'}", "--study-name", "s", "--out", str(out),
        "--no-dashboard-note", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (out / "importance.png").exists() and (out / "pareto.png").exists()
    assert not (out / "pareto.svg").exists()


@pytest.mark.parametrize("states", [[], [TrialState.FAIL, TrialState.PRUNED]])
def test_a_study_without_complete_trials_says_so(tmp_path: Path, states) -> None:
    study = make_study(tmp_path / "r.db")
    for state in states:
        add(study, ModelConfig(8, 8), 0.5 if state == TrialState.PRUNED else None, state=state)
    out = tmp_path / "out"
    result = run_reports(
        "--storage", f"sqlite:///{tmp_path / 'r.db'}", "--study-name", "s", "--out", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert foreign_lines(result.stderr, REPORTS) == []  # Optuna's plots warn on empty studies
    assert "no trial has completed" in result.stdout
    assert "No trial has completed yet" in (out / "report.md").read_text()
    assert len(pd.read_csv(out / "trials.csv")) == len(states)
    assert (out / "importance.png").exists()


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    make_study(tmp_path / "r.db")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    cases = [
        (["--storage", url, "--study-name", "nope"], "no study 'nope'"),
        (["--storage", f"sqlite:///{tmp_path / 'missing.db'}"], "no SQLite database"),
        (["--storage", "ftp://x"], "unknown storage"),
        (["--storage", url, "--study-name", "s", "--formats", "png,gif"], "--formats"),
        (
            ["--storage", url, "--study-name", "s", "--importance-evaluator", "shap"],
            "--importance-evaluator must be one of ped-anova, fanova, got 'shap'",
        ),
        (
            ["--storage", url, "--study-name", "s", "--importance-target", "best"],
            "--importance-target must be one of final, first-epoch, got 'best'",
        ),
        (
            ["--storage", url, "--study-name", "s", "--importance-resamples", "-1"],
            "--importance-resamples must be 0 or more, got -1",
        ),
        (
            ["--storage", url, "--study-name", "s", "--importance-permutations", "-5"],
            "--importance-permutations must be 0 or more, got -5",
        ),
    ]
    for args, expected in cases:
        result = run_reports(*args, "--out", str(tmp_path / "out"), cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "missing.db").exists()  # a report never creates a storage
    assert not (tmp_path / "out").exists()


def test_importance_flags_reach_the_report_and_are_recorded(tmp_path: Path) -> None:
    study = make_study(tmp_path / "r.db")
    add_baselines(study)
    for units in (16, 64, 200):
        add(study, ModelConfig(units, 8), 0.6, state=TrialState.PRUNED)  # step 0 = epoch 1
    out = tmp_path / "out"
    result = run_reports(
        "--storage", f"sqlite:///{tmp_path / 'r.db'}", "--study-name", "s", "--out", str(out),
        "--no-dashboard-note", "--importance-target", "first-epoch",
        "--importance-resamples", "2", "--importance-permutations", "3", "--importance-seed", "7",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    md = (out / "report.md").read_text()
    assert (
        "--importance-evaluator ped-anova --importance-target first-epoch "
        "--importance-resamples 2 --importance-permutations 3 --importance-seed 7"
    ) in md
    # 14 complete baselines and 3 pruned trials: all 17 reported epoch 1.
    assert "validation accuracy after epoch 1, 17 trained (complete and pruned) trials" in md
    assert "| p (family-wise) |" in md
