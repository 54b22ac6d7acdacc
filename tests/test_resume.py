"""Resuming a stored study: settings that change results must match, the others stay free."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
from optuna.trial import create_trial

from search_spaces.lstm import DISTRIBUTIONS
from study.data import fingerprint_source
from study.optimize_args import build_parser
from study.study_setup import FREE_SETTINGS, RESULT_SETTINGS, StudySetupError, check_settings
from tests.test_optimize_cli import run_optimize

STORED = {
    "data": "/somewhere/aclImdb.tar.gz", "data_fingerprint": "sha256:" + "ab" * 32,
    "max_features": 1000, "maxlen": 80, "val_split": 0.2, "limit_train": None,
    "limit_test": 500, "seed": 0, "epochs": 5, "batch_size": 32, "learning_rate": 0.001,
    "workers": 1, "heartbeat_grace": 90, "artifact_dir": None, "backend": "jax",
    "dropout_style": "keras2", "repeats": 1, "max_lstm_params": 70144,
}  # fmt: skip


def stored_study(config: dict | None) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    if config is not None:
        study.set_user_attr("config", config)
    return study


def test_every_command_line_setting_is_either_a_result_setting_or_free() -> None:
    # A new flag must be sorted into one of the two tuples of study/study_setup.py (one line).
    flags = {a.dest for a in build_parser()._actions if a.dest != "help"}
    result_flags = {s for s in RESULT_SETTINGS if s != "data_fingerprint"}
    assert flags == result_flags | set(FREE_SETTINGS)
    assert not result_flags & set(FREE_SETTINGS)


def test_the_same_settings_resume() -> None:
    check_settings(stored_study(STORED), dict(STORED))


def test_free_settings_may_differ_and_the_data_path_with_them() -> None:
    now = {**STORED, "data": "/elsewhere/copy.tar.gz", "workers": 4, "heartbeat_grace": 10,
           "artifact_dir": "out", "backend": "tensorflow", "learning_rate": 1e-3}  # fmt: skip
    check_settings(stored_study(STORED), now)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("seed", 1, "--seed 0 (stored) vs 1 (now)"),
        ("epochs", 1, "--epochs 5 (stored) vs 1 (now)"),
        ("val_split", 0.25, "--val-split 0.2 (stored) vs 0.25 (now)"),
        ("limit_train", 2000, "--limit-train unset (stored) vs 2000 (now)"),
        ("limit_test", None, "--limit-test 500 (stored) vs unset (now)"),
        ("max_features", 2000, "--max-features 1000 (stored) vs 2000 (now)"),
        ("maxlen", 100, "--maxlen 80 (stored) vs 100 (now)"),
        ("batch_size", 64, "--batch-size 32 (stored) vs 64 (now)"),
        ("learning_rate", 0.01, "--learning-rate 0.001 (stored) vs 0.01 (now)"),
    ],
)
def test_a_setting_that_changes_results_is_refused(name: str, value, expected: str) -> None:
    with pytest.raises(StudySetupError) as info:
        check_settings(stored_study(STORED), {**STORED, name: value})
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert "pick another --study-name" in message


def test_other_data_is_refused_by_content_with_both_fingerprints() -> None:
    now = {**STORED, "data": STORED["data"], "data_fingerprint": "sha256:" + "cd" * 32}
    with pytest.raises(StudySetupError) as info:
        check_settings(stored_study(STORED), now)
    message = str(info.value)
    assert "--data" in message and "sha256:abababababab" in message
    assert "sha256:cdcdcdcdcdcd" in message and "another path" in message


def test_every_differing_setting_is_named_in_one_line() -> None:
    with pytest.raises(StudySetupError) as info:
        check_settings(stored_study(STORED), {**STORED, "seed": 7, "epochs": 1})
    assert "--seed 0 (stored) vs 7 (now)" in str(info.value)
    assert "--epochs 5 (stored) vs 1 (now)" in str(info.value)


def test_a_study_without_a_recorded_value_is_not_refused_on_it() -> None:
    old = {k: v for k, v in STORED.items() if k not in ("batch_size", "data_fingerprint")}
    check_settings(stored_study(old), {**STORED, "batch_size": 64, "data_fingerprint": "x"})
    check_settings(stored_study(None), {**STORED, "seed": 3})
    with pytest.raises(StudySetupError, match="--seed"):
        check_settings(stored_study(old), {**STORED, "seed": 3})


def test_the_same_tarball_at_another_path_resumes_from_the_cli(
    tiny_tarball: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=url, study_name="rnn-design", direction="maximize")
    study.set_user_attr(
        "config",
        {**STORED, "data": str(tiny_tarball), "data_fingerprint": fingerprint_source(tiny_tarball),
         "limit_test": None, "maxlen": 20, "epochs": 1},
    )  # fmt: skip
    params = {
        "units": 8,
        "embedding_dim": 8,
        "layers": 1,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
    }
    study.add_trial(create_trial(params=params, distributions=DISTRIBUTIONS, value=0.7))
    copy = tmp_path / "copy" / "reviews.tar.gz"
    copy.parent.mkdir()
    shutil.copy(tiny_tarball, copy)
    result = run_optimize(
        "--data", str(copy), "--storage", url, "--trials", "1", "--maxlen", "20", "--epochs", "1",
        "--workers", "1", "--heartbeat-grace", "30", "--cache-dir", str(tmp_path / "cache"),
        "--confirm-top", "0",  # at its target with nothing else to do
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "nothing to do" in result.stdout
