"""``--repeats auto``: seeds per trial chosen by device when the study is created, then kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest

from study.setup.optimize_flags import AUTO_REPEATS, parse_args, resolve_repeats
from study.training.data import fingerprint_source
from tests.test_optimize_cli import run_optimize
from tests.test_resume import STORED


def test_auto_is_chosen_by_device_for_a_new_study_and_kept_on_resume(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import jax

    args = parse_args(["--repeats", "auto"])
    resolve_repeats(args, None)
    assert args.repeats == AUTO_REPEATS[jax.default_backend()]
    monkeypatch.setitem(AUTO_REPEATS, jax.default_backend(), 5)
    args = parse_args(["--repeats", "auto"])
    resolve_repeats(args, None)
    assert args.repeats == 5
    args = parse_args(["--repeats", "auto"])
    resolve_repeats(args, {"repeats": 3})  # the study's own, whatever this device would pick
    assert args.repeats == 3
    args = parse_args(["--repeats", "2"])
    resolve_repeats(args, {"repeats": 3})  # a number stays: the resume check refuses it
    assert args.repeats == 2


def test_repeats_takes_a_number_or_auto_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--repeats", "many"])
    assert stopped.value.code == 2
    assert "takes a number or 'auto', got 'many'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--repeats", "0"])
    assert "--repeats must be positive, got 0" in capsys.readouterr().err


def test_a_resumed_study_keeps_its_recorded_repeats_under_auto(
    tiny_tarball: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=url, study_name="rnn-design", direction="maximize")
    recorded = {**STORED, "data": str(tiny_tarball), "limit_test": None, "maxlen": 20}
    recorded.update(data_fingerprint=fingerprint_source(tiny_tarball), epochs=1, repeats=3)
    study.set_user_attr("config", recorded)
    copy = tmp_path / "reviews.tar.gz"
    shutil.copy(tiny_tarball, copy)
    common = ["--data", str(copy), "--storage", url, "--maxlen", "20", "--epochs", "1"]
    common += ["--cache-dir", str(tmp_path / "cache"), "--confirm-top", "0", "--trials", "1"]
    # Nothing trains: the study holds no trial and 1 is asked, so the refusal comes first.
    refused = run_optimize(*common, "--repeats", "2", cwd=tmp_path)
    assert refused.returncode == 2 and "repeats" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    kept = run_optimize(*common, "--repeats", "auto", "--no-baseline", cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr[-2000:]
    trained = [
        t
        for t in optuna.load_study(study_name="rnn-design", storage=url).trials
        if "repeats" in t.user_attrs
    ]
    assert trained and all(t.user_attrs["repeats"] == 3 for t in trained)
    assert all(len(t.user_attrs["seeds"]) == 3 for t in trained)
    assert all(t.user_attrs["scan_unroll"] >= 1 for t in trained)  # recorded with the device
