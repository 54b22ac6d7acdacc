"""Two behaviours decided in issue 25: a recorded answer the confirmation study has outgrown is
not shown as final, and a confirmation that would train otherwise than its study is refused."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from reports.build import compute, findings_markdown
from reports.tables import config_key
from search_spaces.config import ModelConfig
from tests.report_studies import add
from tests.test_confirm import FakeTrainer, confirm_with, confirmed_study, run_confirm, sha


def test_a_recorded_answer_is_recomputed_once_the_confirmation_holds_other_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from study.workers.progress import print_summary

    url = f"sqlite:///{tmp_path / 'stale.db'}"
    study = optuna.create_study(storage=url, study_name="s", direction="maximize")
    first, second = ModelConfig(8, 4), ModelConfig(16, 8)
    add(study, first, 0.90)
    add(study, second, 0.85)
    keys = [config_key(c.as_params()) for c in (first, second)]
    trainer = FakeTrainer({keys[0]: [0.84, 0.84, 0.84], keys[1]: [0.83, 0.83, 0.83]})
    assert confirm_with(trainer, study) == 0
    assert study.user_attrs["confirmed_best"]["source_trial"] == 0
    confirm = optuna.load_study(storage=url, study_name="s-confirm")
    assert compute(study, confirm).confirmed == study.user_attrs["confirmed_best"]  # current
    # A later confirmation with more repeats, interrupted: its complete runs change the means.
    for value in (0.80, 0.80, 0.80):
        add(confirm, first, value)
    data = compute(study, confirm)
    assert data.confirmed is not None and data.confirmed["source_trial"] == 1
    assert "provisional: computed by the report from the confirmation's 9 complete runs " in (
        findings_markdown(study, data)
    )
    print_summary(study, url)
    out = capsys.readouterr().out
    assert "confirmed best: trial #1 " in out and "(runs added since the recorded answer)" in out


def test_a_first_confirmation_with_another_seed_than_its_study_is_refused(
    tmp_path: Path, tiny_imdb: Path
) -> None:
    url, db = confirmed_study(tmp_path, tiny_imdb, {})
    optuna.delete_study(study_name="s-confirm", storage=url)  # the first confirmation
    before = sha(db)
    result = run_confirm("--storage", url, "--study-name", "s", "--top", "1", "--no-baseline",
                         "--repeats", "2", "--cache-dir", str(tmp_path / "cache"),
                         "--seed", "1", "--epochs", "2", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--seed 0 (stored) vs 1 (now); --epochs 1 (stored) vs 2 (now)" in lines[0]
    assert "a confirmation trains as the study it confirms" in lines[0]
    assert sha(db) == before
