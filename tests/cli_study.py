"""The study ``python -m study.optimize`` trains on tiny data, made once per run for the tests.

Several tests only read what the command left (trials, stored reference models, what it printed),
so ``finished_study`` runs it once per test run, and ``finished_study_rerun`` runs the same
command once more on a copy: both are shared by every xdist worker (``build_once``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from tests.conftest import ROOT, build_once


def run_optimize(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "study.optimize", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
    )


def load(work: Path) -> optuna.Study:
    return optuna.load_study(storage=f"sqlite:///{work / 't.db'}", study_name="rnn-design")


def _save(work: Path, flags: list[str], result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    record = {"flags": flags, "stdout": result.stdout, "stderr": result.stderr}
    (work / "run.json").write_text(json.dumps(record))


def _read(work: Path) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    record = json.loads((work / "run.json").read_text())
    args = ["study.optimize", *record["flags"]]
    return record["flags"], subprocess.CompletedProcess(
        args, 0, record["stdout"], record["stderr"]
    )


@pytest.fixture(scope="session")
def finished_study(tiny_imdb: Path, run_root: Path):
    """A 15-trial study (baselines, then TPE, then its confirmation): folder, flags, result.

    The flags name the tiny data of the worker that built it, which lives as long as the run.
    """

    def build(work: Path) -> None:
        flags = [
            "--trials", "15", "--epochs", "1", "--data", str(tiny_imdb), "--maxlen", "20",
            "--storage", "sqlite:///t.db", "--cache-dir", str(work / "cache"),
        ]  # fmt: skip
        _save(work, flags, run_optimize(*flags, cwd=work))

    work = build_once(run_root, "finished_study", build)
    flags, result = _read(work)
    return work, flags, result


@pytest.fixture(scope="session")
def finished_study_rerun(finished_study, run_root: Path):
    """The same command rerun on a copy of the finished study: the copy's folder and the result.

    On a copy, so that the study the other tests read stays exactly as the first run left it.
    """
    shared, flags, _ = finished_study

    def build(work: Path) -> None:
        shutil.copy2(shared / "t.db", work / "t.db")
        _save(work, flags, run_optimize(*flags, cwd=work))

    work = build_once(run_root, "finished_study_rerun", build)
    return work, _read(work)[1]
