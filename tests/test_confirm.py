"""``python -m study.confirm`` on tiny data: repeats the top configurations, resumes, extends."""

from __future__ import annotations

import hashlib
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
from reports.build import compute, document, findings_markdown
from reports.render import to_markdown
from reports.tables import config_key, study_frame
from search_spaces.config import ModelConfig
from search_spaces.lstm import suggest_params
from study.reruns.confirmation import Plan, confirmation_pending, run_confirmation
from study.reruns.race import race_seed
from tests.conftest import ROOT
from tests.report_studies import add
from tests.stderr_lines import CONFIRM, RACE, foreign_lines
from tests.test_optimize_cli import run_optimize


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


def test_confirm_races_on_shared_seeds_through_the_real_trainer(
    tiny_imdb: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    study = optuna.create_study(storage=url, study_name="s", direction="maximize")
    study.set_user_attr(
        "config",
        {"data": str(tiny_imdb), "maxlen": 20, "epochs": 1, "seed": 0, "val_split": 0.2},
    )
    add(study, ModelConfig(8, 4), 0.9)
    add(study, ModelConfig(12, 4), 0.5)
    add(study, ModelConfig(8, 8, 1, 0.1, 0.0), 0.8)
    flags = ["--storage", url, "--study-name", "s", "--race", "--top", "2", "--max-seeds", "2",
             "--budget", "10", "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    result = run_confirm(*flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert foreign_lines(result.stderr, RACE) == []
    runs = optuna.load_study(storage=url, study_name="s-confirm").get_trials(
        states=(TrialState.COMPLETE,)
    )
    assert {t.user_attrs["confirm_of"] for t in runs} == {0, 2}
    # The objective trained each repeat on the seed the race enqueued it with: the same two
    # seeds for both configurations.
    pairs = {(t.user_attrs["repeat"], t.user_attrs["seed"]) for t in runs}
    assert len(runs) == 4 and len(pairs) == 2
    assert {seed for _, seed in pairs} == {race_seed(0, 0), race_seed(0, 1)}
    record = optuna.load_study(storage=url, study_name="s").user_attrs["confirmed_best"]
    assert (record["race"]["entrants"], record["race"]["seeds"]) == (2, 2)
    assert record["race"]["stopped"] in ("one left", "seed cap")
    assert "best: trial #" in result.stdout and "the race" in result.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--race", "--repeats", "3"], "--repeats is the fixed confirmation's: a race gives"),
        (["--race", "--budget", "-1"], "--budget must be a positive share of the trials' time"),
        (["--race", "--max-seeds", "1"], "--max-seeds must be at least 2 (a paired test), got 1"),
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


class FakeTrainer:
    """Trains nothing: each run's validation accuracy is chosen per (configuration, repeat).

    ``interrupt_at``: the call (0-based) that raises KeyboardInterrupt instead, as Ctrl-C would.
    """

    def __init__(self, values: dict[str, list[float]], interrupt_at: int | None = None) -> None:
        self.values = values
        self.interrupt_at = interrupt_at
        self.trained: list[tuple[str, int]] = []
        self.calls = 0

    def train_together(self, trials: list[optuna.Trial]) -> list[float]:
        self.calls += 1
        if self.calls - 1 == self.interrupt_at:
            raise KeyboardInterrupt
        out = []
        for trial in trials:
            suggest_params(trial)  # the enqueued configuration, as the real objective asks it
            key, repeat = trial.user_attrs["confirm_key"], trial.user_attrs["repeat"]
            value = self.values[key][repeat]
            trial.set_user_attr("test_accuracy", value - 0.01)
            trial.set_user_attr("n_params", 100)
            self.trained.append((key, repeat))
            out.append(value)
        return out


def confirm_with(trainer: FakeTrainer, study: optuna.Study, top: int = 2) -> int:
    config = {"epochs": 1, "seed": 0, "data_fingerprint": "tree:x", "data_sizes": {},
              "backend": "jax"}  # fmt: skip
    return run_confirmation(
        study, study._storage, config, lambda: (trainer, ()), Plan(top, 3, False),
        progress=False,
    )  # fmt: skip


def by_hand(confirm: optuna.Study) -> dict[str, list[float]]:
    runs: dict[str, list[float]] = {}
    for trial in confirm.get_trials(states=(TrialState.COMPLETE,)):
        runs.setdefault(trial.user_attrs["confirm_key"], []).append(trial.value)
    return runs


def test_the_confirmed_best_is_the_best_mean_not_the_best_single_run(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'w.db'}", study_name="s",
                                direction="maximize")  # fmt: skip
    lucky, steady = ModelConfig(8, 4), ModelConfig(16, 8)
    add(study, lucky, 0.90)  # trial 0: the best single run
    add(study, steady, 0.85)  # trial 1: the runner-up
    add(study, ModelConfig(32, 4), 0.60)
    keys = {c: config_key(c.as_params()) for c in (lucky, steady)}
    trainer = FakeTrainer({keys[lucky]: [0.80, 0.82, 0.78], keys[steady]: [0.84, 0.85, 0.83]})
    assert confirm_with(trainer, study) == 0
    record = study.user_attrs["confirmed_best"]
    assert record["source_trial"] == 1 and record["params"] == steady.as_params()
    assert record["single_val"] == pytest.approx(0.85)  # reported beside, not pooled in
    runs = by_hand(optuna.load_study(storage=study._storage, study_name="s-confirm"))
    assert record["repeats"] == 3
    assert record["val_mean"] == pytest.approx(statistics.mean(runs[keys[steady]]))
    assert record["val_std"] == pytest.approx(statistics.stdev(runs[keys[steady]]))
    assert record["test_mean"] == pytest.approx(statistics.mean(runs[keys[steady]]) - 0.01)
    compared = {c["source_trial"]: c["val_mean"] for c in record["candidates"]}
    assert compared == {0: pytest.approx(0.80), 1: pytest.approx(0.84)}


def test_an_interrupted_confirmation_resumes_with_the_missing_runs_only(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'i.db'}", study_name="s",
                                direction="maximize")  # fmt: skip
    configs = [ModelConfig(8, 4), ModelConfig(16, 8), ModelConfig(32, 4)]
    for value, config in zip((0.9, 0.8, 0.7), configs, strict=True):
        add(study, config, value)
    keys = [config_key(c.as_params()) for c in configs]
    values = {key: [0.7, 0.71, 0.72] for key in keys}
    stopped = FakeTrainer(values, interrupt_at=1)  # Ctrl-C during the second configuration
    assert confirm_with(stopped, study, top=3) == 130
    assert "confirmed_best" not in study.user_attrs
    assert stopped.trained == [(keys[0], r) for r in range(3)]
    # What study.optimize, rerun at its target, finds left to do: the interrupted runs and the
    # third configuration's, still waiting.
    assert confirmation_pending(study, Plan(3, 3, False)) == 6
    resumed = FakeTrainer(values)
    assert confirm_with(resumed, study, top=3) == 0
    assert sorted(resumed.trained) == [(k, r) for k in sorted(keys[1:]) for r in range(3)]
    assert confirmation_pending(study, Plan(3, 3, False)) == 0
    confirm = optuna.load_study(storage=study._storage, study_name="s-confirm")
    assert sorted(len(v) for v in by_hand(confirm).values()) == [3, 3, 3]
    assert study.user_attrs["confirmed_best"]["repeats"] == 3


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def confirmed_study(tmp_path: Path, tiny_imdb: Path, confirm_config: dict) -> tuple[str, Path]:
    """A study with one trial and its confirmation study, which recorded ``confirm_config``."""
    db = tmp_path / "r.db"
    url = f"sqlite:///{db}"
    study = optuna.create_study(storage=url, study_name="s", direction="maximize")
    study.set_user_attr(
        "config",
        {"data": str(tiny_imdb), "maxlen": 20, "epochs": 1, "seed": 0, "val_split": 0.2,
         "dropout_style": "keras2", "max_lstm_params": 70144},
    )  # fmt: skip
    add(study, ModelConfig(8, 4), 0.9)
    confirm = optuna.create_study(storage=url, study_name="s-confirm", direction="maximize")
    confirm.set_user_attr("config", confirm_config)
    return url, db


@pytest.mark.parametrize(
    ("stored", "flags", "message"),
    [
        ({"epochs": 1}, ["--epochs", "2"], "--epochs 1 (stored) vs 2 (now)"),
        ({"data_fingerprint": "sha256:" + "0" * 64}, [], "--data: other reviews"),
    ],
)
def test_confirm_refuses_runs_trained_another_way_and_writes_nothing(
    tmp_path: Path, tiny_imdb: Path, stored: dict, flags: list[str], message: str
) -> None:
    url, db = confirmed_study(tmp_path, tiny_imdb, stored)
    before = sha(db)
    result = run_confirm("--storage", url, "--study-name", "s", "--top", "1", "--no-baseline",
                         "--repeats", "2", "--cache-dir", str(tmp_path / "cache"), *flags,
                         cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert sha(db) == before


def test_optimize_refuses_a_stored_confirmation_trained_another_way_before_its_trials(
    tmp_path: Path, tiny_imdb: Path
) -> None:
    url, db = confirmed_study(tmp_path, tiny_imdb, {"epochs": 2})
    before = sha(db)
    result = run_optimize(
        "--storage", url, "--study-name", "s", "--data", str(tiny_imdb), "--maxlen", "20",
        "--epochs", "1", "--trials", "3", "--dropout-style", "keras2",
        "--cache-dir", str(tmp_path / "cache"), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'s-confirm' was run with other settings" in lines[0], lines
    assert "--epochs 2 (stored) vs 1 (now)" in lines[0]
    assert sha(db) == before


def test_the_report_headlines_the_confirmed_best_and_labels_the_single_run(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'rep.db'}"
    study = optuna.create_study(storage=url, study_name="s", direction="maximize")
    lucky, steady = ModelConfig(8, 4), ModelConfig(16, 8)
    add(study, lucky, 0.90)
    add(study, steady, 0.85)
    plain = to_markdown(document(study, compute(study)), tmp_path)
    assert "best single run (one seed): #0" in plain and "confirmed" not in plain
    # A confirmation study without a recorded confirmed_best (made before it was recorded):
    # the report computes the same answer from its runs.
    confirm = optuna.create_study(storage=url, study_name="s-confirm", direction="maximize")
    for config, values in ((lucky, (0.80, 0.82)), (steady, (0.84, 0.86))):
        for value in values:
            add(confirm, config, value, test=value - 0.02)
    data = compute(study, confirm)
    text = to_markdown(document(study, data), tmp_path)
    assert (
        "best trial, confirmed (mean ± std over other seeds): trial #1 (units=16, "
        "embedding_dim=8, layers=1, dropout=0, recurrent_dropout=0): validation 0.8500 ± 0.0141, "
        "test 0.8300 ± 0.0141 (2 seeds); its single run: 0.8500 / 0.8400"
    ) in text
    assert "best single run (one seed): #0" in text
    note = findings_markdown(study, data).splitlines()
    assert note[2].startswith("**Answer**: confirmed best: trial #1 (units=16,")
