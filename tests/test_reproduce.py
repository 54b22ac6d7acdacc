"""``python -m study.reproduce``: the notebook's protocol, its table, resume, and the report."""

from __future__ import annotations

import hashlib
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from reports.build import build_report, compute, document, findings_markdown
from reports.render import to_markdown
from reports.reproduction import reproduction_table, verdict
from reports.tables import study_frame
from search_spaces.baseline import BASELINE_GRID
from search_spaces.config import ModelConfig
from tests.conftest import ROOT
from tests.report_studies import add
from tests.stderr_lines import REPRODUCE, foreign_lines

PART3 = [e for e in BASELINE_GRID if e.part == "Part 3"]


def run_reproduce(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "study.reproduce", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_table_sets_our_runs_beside_the_notebooks_figures() -> None:
    study = optuna.create_study(direction="maximize")
    first, second = PART3[0], PART3[1]  # notebook: 0.82384 and 0.81728
    for test in (0.820, 0.824, 0.828):  # mean 0.824, std 0.004: the notebook's inside
        add(study, first.config, test, test=test, baseline=first.label, extra={"n_params": 1})
    for test in (0.770, 0.772):  # mean 0.771, std 0.0014: 4.6 pp below, outside
        add(study, second.config, test, test=test, baseline=second.label)
    add(study, ModelConfig(8, 8), 0.9, test=0.9)  # not a notebook row: ignored
    table = reproduction_table(study_frame(study)).set_index("heading")
    assert len(table) == 14
    row = table.loc[first.label]
    assert row["runs"] == 3 and row["n_params"] == 1  # ours, not the notebook's count
    assert row["notebook_params"] == first.notebook_params
    assert math.isclose(row["test_mean"], 0.824) and math.isclose(row["test_std"], 0.004)
    assert math.isclose(row["diff_pp"], 100 * (0.824 - 0.82384))
    assert row["inside"] is True
    row = table.loc[second.label]
    assert row["inside"] is False and math.isclose(row["diff_pp"], 100 * (0.771 - 0.81728))
    missing = table.loc["Part 1: LSTM with 8 nodes"]
    assert missing["runs"] == 0 and missing["inside"] is None
    sentence = verdict(table.reset_index())
    assert sentence.startswith("1 of 2 notebook figures lie within our mean ± 2 std; 1 of 2")
    assert "-4.63 pp, Part 3: Dropout with rate 0.5" in sentence


def test_report_shows_the_reproduction_when_it_exists(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    main = optuna.create_study(storage=url, study_name="s", direction="maximize")
    add(main, ModelConfig(8, 8), 0.8)
    out = tmp_path / "plain"
    assert build_report(main, out, ["png"]).reproduction is None
    assert "reproduced, under its own protocol" not in (out / "report.md").read_text()
    reproduced = optuna.create_study(storage=url, study_name="s-reproduce", direction="maximize")
    for test in (0.81, 0.83):
        add(reproduced, PART3[0].config, test, test=test, baseline=PART3[0].label)
    data = build_report(main, tmp_path / "with", ["png"])
    assert data.reproduction is not None
    assert data.reproduction.set_index("heading").loc[PART3[0].label, "runs"] == 2
    text = (tmp_path / "with" / "report.md").read_text()
    assert "The notebook reproduced, under its own protocol" in text
    assert "0.8200 ± 0.0141" in text


def test_a_reproduction_report_never_speaks_of_validation_or_picks_a_best(
    tmp_path: Path,
) -> None:
    # Its "validation" data is the test set: the report must say test accuracy, watched after
    # every epoch under the notebook's protocol, and rank nothing.
    study = optuna.create_study(direction="maximize", study_name="s-reproduce")
    study.set_user_attr(
        "config",
        {"protocol": "notebook: all training reviews, validation on the test set", "epochs": 5},
    )
    for entry, runs in zip(
        BASELINE_GRID, ([0.80, 0.82], [0.84, 0.85], [0.79, 0.81]), strict=False
    ):
        for test in runs:
            add(study, entry.config, test, test=test, baseline=entry.label)
    data = compute(study)
    assert data.is_reproduction and data.reproduction is not None and not data.sections
    md = to_markdown(document(study, data), tmp_path)
    note = findings_markdown(study, data)
    for text in (md, note):
        assert "validation" not in text.lower(), text
        assert "best" not in text.lower(), text
        assert "test accuracy, watched after every epoch" in text
        assert "never used to choose" in text
    assert "The notebook reproduced, under its own protocol" in md
    assert "0.8450 ± 0.0071" in md  # the second configuration's two runs


def test_reproduce_trains_the_notebook_protocol_resumes_and_extends(
    tiny_imdb: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    flags = ["--storage", url, "--data", str(tiny_imdb), "--maxlen", "20", "--epochs", "1",
             "--parts", "3", "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    first = run_reproduce(*flags, "--repeats", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert foreign_lines(first.stderr, REPRODUCE) == []
    study = optuna.load_study(storage=url, study_name="rnn-design-reproduce")
    runs = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(t.user_attrs["baseline"] for t in runs) == sorted([e.label for e in PART3] * 2)
    assert len({t.user_attrs["seed"] for t in runs}) == 6
    assert {t.user_attrs["dropout_style"] for t in runs} == {"keras2"}
    # A configuration's repeats were trained together, as one vectorized program.
    assert {(t.user_attrs["repeat_mode"], t.user_attrs["trained_with"]) for t in runs} == {
        ("vectorized", 2)
    }
    # The notebook's protocol: every training review, validation on the whole test set.
    config = study.user_attrs["config"]
    assert config["data_sizes"] == {"train": 200, "val": 100, "test": 100}
    for t in runs:
        assert t.user_attrs["val_accuracy"] == pytest.approx(t.user_attrs["test_accuracy"])
        assert t.user_attrs["n_params"] == next(
            e.notebook_params for e in PART3 if e.label == t.user_attrs["baseline"]
        )
    table_lines = [line for line in first.stdout.splitlines() if line.startswith("| Part")]
    assert len(table_lines) == 14
    assert "notebook figures lie within our mean ± 2 std" in first.stdout

    again = run_reproduce(*flags, "--repeats", "2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 newly enqueued, 0 to run" in again.stderr
    more = run_reproduce(*flags, "--repeats", "3", cwd=tmp_path)
    assert more.returncode == 0, more.stderr[-3000:]
    study = optuna.load_study(storage=url, study_name="rnn-design-reproduce")
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 9

    other = run_reproduce(*flags, "--repeats", "3", "--dropout-style", "keras3", cwd=tmp_path)
    assert other.returncode == 2
    assert "--dropout-style keras2 (stored) vs keras3 (now)" in other.stderr.strip()
    assert len(other.stderr.strip().splitlines()) == 1


def test_interrupted_reproduction_leaves_nothing_running_and_resumes(
    tiny_imdb: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    flags = ["--storage", url, "--data", str(tiny_imdb), "--maxlen", "20", "--epochs", "1",
             "--parts", "3", "--repeats", "2", "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "study.reproduce", *flags],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "err.txt").open("w"),
        text=True,
    )
    deadline = time.monotonic() + 300
    done = 0
    while done < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if "newly enqueued" not in _read_so_far(tmp_path / "err.txt"):
            continue  # the schema and the study may still be being created
        study = optuna.load_study(storage=url, study_name="rnn-design-reproduce")
        done = len(study.get_trials(states=(TrialState.COMPLETE,)))
    assert proc.poll() is None, "finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=300)
    stderr = _read_so_far(tmp_path / "err.txt")
    assert proc.returncode == 130, stderr[-3000:]
    assert "rerun the same command to resume" in stderr and "Traceback" not in stderr
    study = optuna.load_study(storage=url, study_name="rnn-design-reproduce")
    assert not study.get_trials(states=(TrialState.RUNNING,))
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) < 6

    resumed = run_reproduce(*flags, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    study = optuna.load_study(storage=url, study_name="rnn-design-reproduce")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted((t.user_attrs["baseline"], t.user_attrs["repeat"]) for t in complete) == sorted(
        (e.label, r) for e in PART3 for r in (0, 1)
    )


def _read_so_far(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--repeats", "0"], "--repeats must be positive, got 0"),
        (["--parts", "5"], "--parts takes a comma-separated subset of 1,2,3,4, got '5'"),
        (["--val-split", "0.2"], "unrecognized arguments: --val-split"),
        (["--data", "nowhere"], "--data nowhere: no such file or folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, flags: list[str], message: str) -> None:
    result = run_reproduce("--storage", f"sqlite:///{tmp_path / 'r.db'}", *flags, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "r.db").exists()


def test_a_reproduction_with_other_epochs_is_refused_and_the_storage_left_untouched(
    tiny_imdb: Path, tmp_path: Path
) -> None:
    db = tmp_path / "r.db"
    stored = optuna.create_study(
        storage=f"sqlite:///{db}", study_name="s-reproduce", direction="maximize"
    )
    stored.set_user_attr("config", {"epochs": 1, "seed": 0})
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    result = run_reproduce(
        "--storage", f"sqlite:///{db}", "--study-name", "s", "--data", str(tiny_imdb),
        "--epochs", "2", "--parts", "3", "--cache-dir", str(tmp_path / "cache"), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--epochs 1 (stored) vs 2 (now)" in lines[0], result.stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
