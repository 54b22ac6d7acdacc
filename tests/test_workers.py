"""Scale out and survive: parallel workers, killed workers, interrupts, diverging trials.

Every test drives the real CLI in subprocesses against real storages (journal file, SQLite and a
PostgreSQL server started by the fixture), on tiny data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search_spaces.baseline import BASELINE_GRID
from tests.conftest import ROOT

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def optimize_cmd(data: Path, storage: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "study.optimize", "--data", str(data), "--maxlen", "20",
        "--storage", storage, "--cache-dir", str(data.parent / "cache"), *extra,
    ]  # fmt: skip


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def start(cmd: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def load(storage: str) -> optuna.Study:
    from storage import open_storage

    return optuna.load_study(
        study_name="rnn-design", storage=open_storage(storage, heartbeat=False)
    )


def storage_file(storage: str) -> Path:
    from storage import JOURNAL_PREFIX, sqlite_path

    path = sqlite_path(storage) if storage.startswith("sqlite") else None
    return path or Path(storage.removeprefix(JOURNAL_PREFIX))


def wait_for_training(storage: str, proc: subprocess.Popen[str], timeout: float = 300) -> int:
    """Waits until a trial is RUNNING and has finished at least one epoch; returns its number."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        if not storage_file(storage).exists():
            time.sleep(0.5)  # let the worker create the storage before opening it here
            continue
        try:
            running = load(storage).get_trials(states=(TrialState.RUNNING,))
        except Exception:  # the worker is still creating the storage or the study
            running = []
        for trial in running:
            if trial.intermediate_values:
                return trial.number
        time.sleep(0.5)
    raise AssertionError("no trial started training in time")


def storage_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "journal":
        return f"journal:{tmp_path / 'study.log'}"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.mark.parametrize("kind", ["journal", "postgresql"])
def test_four_workers_reach_the_target_exactly_once_each(
    kind: str, tiny_imdb: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = storage_url(kind, tmp_path, request)
    cmd = optimize_cmd(tiny_imdb, storage, "--workers", "4", "--trials", "16", "--epochs", "1")
    result = run(cmd, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = load(storage).get_trials()
    assert len([t for t in trials if t.state in FINISHED]) == 16
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    labels = [t.user_attrs["baseline"] for t in trials if "baseline" in t.user_attrs]
    assert sorted(labels) == sorted(entry.label for entry in BASELINE_GRID)
    # Workers are seeded apart: the two sampled trials are not the same configuration.
    sampled = [tuple(t.params.values()) for t in trials if "baseline" not in t.user_attrs]
    assert len(set(sampled)) == len(sampled)


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_killed_worker_is_failed_and_retried_on_rerun(
    kind: str, tiny_imdb: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = storage_url(kind, tmp_path, request)
    cmd = optimize_cmd(tiny_imdb, storage, "--trials", "3", "--epochs", "40", "--no-baseline")
    proc = start(cmd, tmp_path)
    killed = wait_for_training(storage, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert load(storage).trials[killed].state == TrialState.RUNNING  # nobody cleaned up

    # The same command again, with shorter trials so the test stays quick.
    rerun = run(optimize_cmd(tiny_imdb, storage, "--trials", "3", "--epochs", "2"), tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"re-queued trial(s) [{killed}]" in rerun.stderr
    trials = load(storage).trials
    assert trials[killed].state == TrialState.FAIL
    assert "died" in trials[killed].user_attrs["fail_reason"]
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].params == trials[killed].params
    assert retries[0].state in FINISHED
    assert len([t for t in trials if t.state in FINISHED]) == 3
    assert not [t for t in trials if t.state == TrialState.RUNNING]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_records_the_trial_and_prints_how_to_resume(
    sig: signal.Signals, code: int, tiny_imdb: Path, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    cmd = optimize_cmd(tiny_imdb, storage, "--trials", "3", "--epochs", "40", "--no-baseline")
    proc = start(cmd, tmp_path)
    interrupted = wait_for_training(storage, proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr[-3000:]
    assert "resume with: python -m study.optimize" in stderr
    assert "Traceback" not in stderr
    trials = load(storage).trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert trials[interrupted].state == TrialState.FAIL
    assert "interrupted" in trials[interrupted].user_attrs["fail_reason"].lower() or (
        "KeyboardInterrupt" in trials[interrupted].user_attrs["fail_reason"]
        or "Terminated" in trials[interrupted].user_attrs["fail_reason"]
    )


def test_diverging_trials_fail_with_reason_and_stop_after_the_limit(
    tiny_imdb: Path, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    # A learning rate of 1e38 overflows float32 weights: the loss becomes NaN in the first epoch.
    cmd = optimize_cmd(
        tiny_imdb, storage, "--trials", "5", "--epochs", "1", "--no-baseline",
        "--learning-rate", "1e38", "--max-failures", "2",
    )  # fmt: skip
    result = run(cmd, tmp_path)
    assert result.returncode == 1
    assert "2 trials failed in a row" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    trials = load(storage).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]  # the 2nd still ran
    for trial in trials:
        assert "NaN" in trial.user_attrs["fail_reason"]
        assert "n_params" in trial.user_attrs
