"""``python -m study.optimize`` end to end on tiny data, as a user runs it."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import FrozenTrial, TrialState, create_trial

from reports.tables import study_frame
from search_spaces.baseline import BASELINE_GRID
from search_spaces.lstm import DISTRIBUTIONS
from tests.cli_study import load, run_optimize  # noqa: F401  (run_optimize: imported by others)
from tests.stderr_lines import OPTIMIZE, foreign_lines

COMPLETE_ATTRS = {
    "n_params", "train_seconds", "epochs_run", "val_accuracy", "test_accuracy", "test_loss",
    "device", "backend",
}  # fmt: skip


def test_study_reaches_its_target_with_each_baseline_once(finished_study) -> None:
    work, _, result = finished_study
    # Checked before this test opens the file: the write-ahead log was folded back on exit, so
    # the .db file alone holds the study.
    assert not (work / "t.db-wal").exists()
    study = load(work)
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 15
    labels = [t.user_attrs.get("baseline") for t in study.trials if "baseline" in t.user_attrs]
    assert sorted(labels) == sorted(e.label for e in BASELINE_GRID)
    by_label = {t.user_attrs["baseline"]: t for t in study.trials if "baseline" in t.user_attrs}
    for entry in BASELINE_GRID:
        trial = by_label[entry.label]
        assert trial.state == TrialState.COMPLETE
        assert trial.user_attrs["n_params"] == entry.notebook_params
        assert trial.user_attrs["notebook_part"] == entry.part
    assert "best single run (one seed): trial #" in result.stdout
    assert "optuna-dashboard sqlite:///t.db" in result.stdout


def test_the_study_ends_with_its_race(finished_study) -> None:
    work, _, result = finished_study
    study = load(work)
    confirm = optuna.load_study(
        storage=f"sqlite:///{work / 't.db'}", study_name="rnn-design-confirm"
    )
    runs: dict[tuple, list[FrozenTrial]] = {}
    for trial in confirm.get_trials(states=(TrialState.COMPLETE,)):
        runs.setdefault(tuple(sorted(trial.params.items())), []).append(trial)
    record = study.user_attrs["confirmed_best"]
    race = record["race"]
    # The default budget (15 % of tiny trials' time) affords the first round of the best two.
    assert len(runs) == race["entrants"] >= 2
    assert race["seeds"] >= 2
    # The entrants are the study's best distinct configurations by their single run (tiny data
    # ties often: no configuration left out ran better than one raced).
    single: dict[tuple, FrozenTrial] = {}
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        key = tuple(sorted(trial.params.items()))
        if key not in single or trial.value > single[key].value:
            single[key] = trial
    assert set(runs) <= set(single)
    left_out = [t.value for k, t in single.items() if k not in runs]
    assert min(single[k].value for k in runs) >= max(left_out)
    # Every entrant trained on the same seeds, repeat by repeat.
    seeds = {(t.user_attrs["repeat"], t.user_attrs["seed"]) for v in runs.values() for t in v}
    assert len(seeds) == len({repeat for repeat, _ in seeds})
    # The answer and its figures, recomputed from the survivors' stored runs.
    tied = [tuple(sorted(study.trials[int(name.removeprefix("trial #"))].params.items()))
            for name in race["tied"]]  # fmt: skip
    means = {k: statistics.mean(t.value for t in runs[k]) for k in tied}
    won = tuple(sorted(record["params"].items()))
    assert record["val_mean"] == pytest.approx(max(means.values()))
    assert record["val_mean"] == pytest.approx(means[won])
    assert record["val_std"] == pytest.approx(statistics.stdev(t.value for t in runs[won]))
    tests = [t.user_attrs["test_accuracy"] for t in runs[won]]
    assert record["test_mean"] == pytest.approx(statistics.mean(tests))
    assert record["test_std"] == pytest.approx(statistics.stdev(tests))
    assert record["single_val"] == single[won].value
    assert tuple(sorted(study.trials[record["source_trial"]].params.items())) == won
    answers = ("confirmed best: ", "tied best: ")
    line = next(x for x in result.stdout.splitlines() if x.startswith(answers))
    assert f"trial #{record['source_trial']} (" in line
    assert f"validation {record['val_mean']:.4f} ± {record['val_std']:.4f}" in line
    assert "the race" in line and "race over after" in result.stderr


def test_every_trial_records_what_reports_read(finished_study) -> None:
    study = load(finished_study[0])
    # One epoch per trial: none can be pruned (never after the last epoch), and none failed.
    # Pruned trials from the CLI: test_a_trial_the_cli_prunes_records_what_reports_read.
    assert {t.state for t in study.trials} == {TrialState.COMPLETE}
    for trial in study.trials:
        assert set(trial.user_attrs) >= COMPLETE_ATTRS | {"seed", "sampler_seed"}, trial.number
        assert trial.user_attrs["val_accuracy"] == trial.value
        assert list(trial.intermediate_values) == [0]


def test_a_trial_the_cli_prunes_records_what_reports_read(tiny_imdb: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    study = optuna.create_study(storage=url, study_name="rnn-design", direction="maximize")
    small = BASELINE_GRID[0].config.as_params()  # LSTM(8)
    for units in range(9, 14):  # five finished trials at 100% after both epochs
        study.add_trial(
            create_trial(
                params={**small, "units": units},
                distributions=DISTRIBUTIONS,
                value=1.0,
                intermediate_values={0: 1.0, 1: 1.0},
            )
        )
    study.enqueue_trial(small)  # no baseline label: the median pruner may stop it
    result = run_optimize(
        "--trials", "6", "--epochs", "2", "--pruner", "median", "--data", str(tiny_imdb),
        "--maxlen", "20", "--storage", url, "--cache-dir", str(tmp_path / "cache"),
        "--seed", str(10**12),  # beyond NumPy's 32-bit seeds: every integer --seed works
        "--learning-rate", "1e-6",  # the trial stays near chance: clearly below the others
        "--confirm-top", "0",  # no confirmation afterwards
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert [s.study_name for s in optuna.get_all_study_summaries(url)] == ["rnn-design"]
    study = optuna.load_study(storage=url, study_name="rnn-design")
    trial = study.trials[5]
    assert trial.state == TrialState.PRUNED
    attrs = trial.user_attrs
    assert {"n_params", "train_seconds", "val_accuracy", "device", "backend", "seed"} <= set(attrs)
    assert attrs["epochs_run"] == 1 and list(trial.intermediate_values) == [0]
    row = study_frame(study).iloc[5]
    assert row["state"] == "PRUNED" and row["pruned_at_epoch"] == 1
    assert row["val_accuracy"] == pytest.approx(trial.intermediate_values[0])


def test_a_report_of_the_study_the_cli_trained(finished_study, tmp_path: Path) -> None:
    from reports.build import build_report

    study = load(finished_study[0])
    out = tmp_path / "report"
    data = build_report(study, out, ["png"])
    rows = pd.read_csv(out / "trials.csv")
    assert sorted(rows["number"]) == sorted(t.number for t in study.trials)
    for trial in study.trials:
        row = rows[rows["number"] == trial.number].iloc[0]
        assert row["val_accuracy"] == pytest.approx(trial.value)
        assert row["test_accuracy"] == pytest.approx(trial.user_attrs["test_accuracy"])
        assert row["n_params"] == trial.user_attrs["n_params"]
    # The notebook grid: every configuration measured, and the real model has its counts.
    assert (data.baseline["state"] == "COMPLETE").all()
    assert list(data.baseline["n_params"]) == list(data.baseline["notebook_params"])
    md = (out / "report.md").read_text()
    assert "rests on 15 complete trials" in md
    assert (out / "importance.png").stat().st_size > 0


def test_study_records_its_configuration(finished_study) -> None:
    attrs = load(finished_study[0]).user_attrs
    assert attrs["config"]["trials"] == 15 and attrs["config"]["epochs"] == 1
    assert attrs["config"]["data_fingerprint"].startswith("tree:")
    assert attrs["config"]["data_sizes"] == {"train": 160, "val": 40, "test": 100}
    assert "optuna" in attrs["versions"] and "keras" in attrs["versions"]


def test_rerun_adds_no_trial(finished_study, finished_study_rerun) -> None:
    before = len(load(finished_study[0]).trials)
    work, again = finished_study_rerun  # the same command, on a copy of the study
    assert "on to its race" in again.stdout
    assert len(load(work).trials) == before

    def runs(folder: Path) -> int:
        storage = f"sqlite:///{folder / 't.db'}"
        return len(optuna.load_study(storage=storage, study_name="rnn-design-confirm").trials)

    assert runs(work) == runs(finished_study[0])  # the race was over too: nothing trained
    assert foreign_lines(again.stderr, OPTIMIZE) == []


def test_stderr_holds_only_our_lines(finished_study) -> None:
    """No TensorFlow/absl start-up lines (JAX, the default backend, never imports TensorFlow)."""
    result = finished_study[2]
    assert "created study 'rnn-design'" in result.stderr and "target reached" in result.stderr
    assert foreign_lines(result.stderr, OPTIMIZE) == []


def test_tensorflow_backend_is_quiet_too(tiny_imdb: Path, tmp_path: Path) -> None:
    """The TensorFlow backend imports TensorFlow; its start-up lines are filtered out."""
    result = run_optimize(
        "--trials", "1", "--epochs", "1", "--data", str(tiny_imdb), "--maxlen", "20",
        "--no-baseline", "--backend", "tensorflow", "--storage", "sqlite:///tf.db",
        "--max-lstm-params", "0",  # the sampled trial trains under TensorFlow, whatever it is
        "--confirm-max-seeds", "2",  # its race runs and prints, one round of two seeds
        "--cache-dir", str(tmp_path / "cache"), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "backend tensorflow" in result.stderr
    assert foreign_lines(result.stderr, OPTIMIZE) == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--trials", "0"], "--trials must be positive, got 0"),
        (["--epochs", "-1"], "--epochs must be positive, got -1"),
        (["--val-split", "1.5"], "--val-split must be between 0 and 1"),
        (["--storage", "redis://x"], "unknown storage 'redis://x'"),
        (["--data", "/nonexistent/aclImdb"], "no such file or folder"),
        (["--confirm-top", "-1"], "--confirm-top must be 0 (no race) or more, got -1"),
        (
            ["--confirm-budget", "0"],
            "--confirm-budget must be a positive share of the trials' time, got 0.0",
        ),
        (
            ["--confirm-max-seeds", "1"],
            "--confirm-max-seeds must be at least 2 (a paired test), got 1",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, flags: list[str], message: str) -> None:
    result = run_optimize(*flags, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("postgresql://study:s3cret@db.example/rnn", "postgresql://study:***@db.example/rnn"),
        (
            "postgresql+psycopg://study@db.example:5433/rnn?password=s3cret&sslmode=require",
            "postgresql+psycopg://study@db.example:5433/rnn?password=***&sslmode=require",
        ),
        ("journal:/tmp/s3cret-study.log", "journal:/tmp/s3cret-study.log"),  # no password there
    ],
)
def test_the_recorded_configuration_holds_no_database_password(
    url: str, stored: str, tiny_imdb: Path
) -> None:
    from study.setup.optimize_flags import parse_args, resolved_settings
    from study.training.data import Dataset

    args = parse_args(["--storage", url, "--data", str(tiny_imdb)])
    empty = np.zeros((0, 1))
    data = Dataset(empty, empty, empty, empty, empty, empty, fingerprint="tree:x")
    settings = resolved_settings(args, "jax", data)
    assert settings["storage"] == stored
    if "journal" not in url:
        assert "s3cret" not in json.dumps(settings)


def test_trials_counts_trained_models_and_the_start_up_proposes_under_the_cost_cap(
    tiny_imdb: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'cap.db'}"
    # With --seed 0 and no baseline TPE's own random start-up drew over the default cap from the
    # first proposal; the capped start-up draws again until a configuration fits.
    result = run_optimize(
        "--trials", "5", "--no-baseline", "--epochs", "1", "--data", str(tiny_imdb),
        "--maxlen", "20", "--storage", url, "--cache-dir", str(tmp_path / "cache"),
        "--confirm-top", "0",  # the count is of the study's trials: no confirmation after them
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    trials = optuna.load_study(storage=url, study_name="rnn-design").trials
    assert not [t for t in trials if "over_cost_cap" in t.user_attrs]
    assert len(trials) == 5 and all(t.state == TrialState.COMPLETE for t in trials)
    assert all(t.user_attrs["epochs_run"] == 1 for t in trials)
    # Every trial tells TPE it kept to the cap (Optuna's constraints, read after the start-up).
    assert all(t.constraints.keys() == {"cost_cap"} for t in trials)
    assert all(t.constraints["cost_cap"] <= 0 for t in trials)
    assert result.stdout.startswith("trials: 5 complete\n")


def test_a_cost_cap_below_the_smallest_configuration_is_refused(tmp_path: Path) -> None:
    result = run_optimize("--max-lstm-params", "415", "--storage", "sqlite:///x.db", cwd=tmp_path)
    assert result.returncode == 2
    assert "--max-lstm-params 415 is below the smallest configuration's 416" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_a_baseline_interrupted_by_ctrl_c_is_trained_on_the_rerun(
    tiny_imdb: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    # What Ctrl-C during the baselines leaves (tests/test_workers.py sends the real signal):
    # the interrupted baseline FAIL, the others complete. FAIL does not count toward --trials.
    study = optuna.create_study(storage=url, study_name="rnn-design", direction="maximize")
    study.set_user_attr("baseline_enqueued", True)
    for index, entry in enumerate(BASELINE_GRID):
        labels = {
            "baseline": entry.label,
            "notebook_part": entry.part,
            "notebook_heading": entry.heading,
        }
        study.add_trial(
            create_trial(
                params=entry.config.as_params(),
                distributions=DISTRIBUTIONS,
                state=TrialState.FAIL if index == 0 else TrialState.COMPLETE,
                value=None if index == 0 else 0.8,
                user_attrs={**labels, "fail_reason": "KeyboardInterrupt: SIGINT"}
                if index == 0
                else labels,
            )
        )
    result = run_optimize(
        "--trials", str(len(BASELINE_GRID)), "--epochs", "1", "--data", str(tiny_imdb),
        "--maxlen", "20", "--storage", url, "--cache-dir", str(tmp_path / "cache"),
        "--confirm-top", "0",  # what the rerun trains in the study itself: no confirmation
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    trials = optuna.load_study(storage=url, study_name="rnn-design").trials
    complete = [t.user_attrs.get("baseline") for t in trials if t.state == TrialState.COMPLETE]
    assert sorted(complete) == sorted(entry.label for entry in BASELINE_GRID)
    assert len(trials) == len(BASELINE_GRID) + 1  # the rerun trained the baseline, nothing else
    assert "baselines missing" not in result.stdout
