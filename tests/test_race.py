"""The race on synthetic studies (``tests.report_studies.add``) with a trainer that trains nothing.

Each run's accuracy is its configuration's true accuracy plus its seed's shared effect plus
noise, drawn from the seed the race enqueued it with: what the race decides can be checked
against the truth, and the pairing on shared seeds is visible.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from optuna_dashboard import get_note, save_note

from reports.build import compute, findings_markdown
from reports.repeats import confirmed_text
from reports.tables import config_key
from search_spaces.config import ModelConfig
from search_spaces.lstm import suggest_params
from study.reruns.race import RacePlan, run_race
from tests.report_studies import add

CONFIG = {"epochs": 1, "seed": 0, "data_fingerprint": "tree:x", "data_sizes": {},
          "backend": "jax"}  # fmt: skip
CONFIGS = [ModelConfig(8, 4), ModelConfig(16, 8), ModelConfig(32, 4), ModelConfig(12, 4)]


class SeededTrainer:
    """A run's accuracy: the truth of its configuration, its seed's shared effect, noise.

    ``seconds``: each run's recorded training time; ``noise``: the std of a run (its seed's
    shared effect has three quarters of it). ``interrupt_at``: the call (0-based) that
    raises KeyboardInterrupt, as Ctrl-C would; ``fail_at``: the call whose runs diverge.
    """

    def __init__(
        self,
        truth: dict[str, float],
        seconds: float = 1.0,
        interrupt_at: int | None = None,
        fail_at: int | None = None,
        noise: float = 0.004,
    ) -> None:
        self.truth = truth
        self.noise = noise
        self.seconds = seconds
        self.interrupt_at = interrupt_at
        self.fail_at = fail_at
        self.calls = 0
        self.trained: list[tuple[str, int, int]] = []  # key, repeat, seed

    def train_together(self, trials: list[optuna.Trial]) -> list[float]:
        self.calls += 1
        if self.calls - 1 == self.interrupt_at:
            raise KeyboardInterrupt
        if self.calls - 1 == self.fail_at:
            raise Diverged
        out = []
        for trial in trials:
            suggest_params(trial)
            key, seed = trial.user_attrs["confirm_key"], trial.user_attrs["seed"]
            shared = np.random.default_rng(seed).normal(0.0, 0.75 * self.noise)
            noise = np.random.default_rng([seed, zlib.crc32(key.encode())]).normal(0.0, self.noise)
            value = self.truth[key] + shared + noise
            trial.set_user_attr("test_accuracy", value - 0.01)
            trial.set_user_attr("n_params", 100)
            trial.set_user_attr("train_seconds", self.seconds)
            self.trained.append((key, trial.user_attrs["repeat"], seed))
            out.append(value)
        return out


class Diverged(Exception):
    """A configuration's own failure (NaN loss), which fails only its runs."""


def study_of(tmp_path: Path, truth: list[float], seconds: float = 2.0) -> optuna.Study:
    """A study whose i-th trial is ``CONFIGS[i]`` with single run ``truth[i]`` (best first)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'r.db'}", study_name="s",
                                direction="maximize")  # fmt: skip
    for config, accuracy in zip(CONFIGS, truth, strict=False):
        add(study, config, accuracy, seconds=seconds)
    return study


def truth_of(values: list[float]) -> dict[str, float]:
    return {config_key(c.as_params()): v for c, v in zip(CONFIGS, values, strict=False)}


def race(study: optuna.Study, trainer: SeededTrainer, plan: RacePlan, catch: tuple = ()) -> int:
    return run_race(study, study._storage, CONFIG, lambda: (trainer, catch), plan, progress=False)


def test_a_truly_better_configuration_wins_alone_on_shared_seeds(tmp_path: Path) -> None:
    # Single runs rank trial #1 first; the truth is that #2 is better by 3 seed stds.
    study = study_of(tmp_path, [0.80, 0.83, 0.81, 0.79])
    trainer = SeededTrainer(truth_of([0.80, 0.80, 0.812, 0.80]))
    assert race(study, trainer, RacePlan(top=4, budget=10.0, max_seeds=16)) == 0
    record = study.user_attrs["confirmed_best"]
    assert record["source_trial"] == 2
    assert record["race"]["tied"] == ["trial #2"]
    assert record["race"]["stopped"] == "one left"
    assert sorted(d["name"] for d in record["race"]["dropped"]) == ["trial #0", "trial #1",
                                                                    "trial #3"]  # fmt: skip
    assert record["repeats"] == record["race"]["seeds"] < 16
    seeds = {}
    for _, repeat, seed in trainer.trained:
        seeds.setdefault(repeat, set()).add(seed)
    assert all(len(s) == 1 for s in seeds.values())  # every configuration, the same seeds
    assert record["runs"] == len(trainer.trained)
    assert confirmed_text(record).startswith("confirmed best: trial #2 ")
    assert "the race of 4 stopped: one left; dropped trial #" in confirmed_text(record)
    assert confirmed_text(record) in get_note(study)  # on the dashboard, until a report
    confirm = optuna.load_study(storage=study._storage, study_name="s-confirm")
    assert f"**Answer**: {confirmed_text(record)}" in findings_markdown(
        study, compute(study, confirm)
    )


def test_a_rerun_of_a_finished_race_leaves_a_reports_note_alone(tmp_path: Path) -> None:
    study = study_of(tmp_path, [0.80, 0.83, 0.81])
    plan = RacePlan(top=3, budget=10.0, max_seeds=4)
    assert race(study, SeededTrainer(truth_of([0.80, 0.80, 0.812])), plan) == 0
    save_note(study, "## Findings (a report's)")
    assert race(study, SeededTrainer(truth_of([0.80, 0.80, 0.812])), plan) == 0
    assert get_note(study) == "## Findings (a report's)"


def test_a_tie_is_called_a_tie(tmp_path: Path) -> None:
    study = study_of(tmp_path, [0.83, 0.82, 0.81])
    trainer = SeededTrainer(truth_of([0.80, 0.80, 0.80]))
    assert race(study, trainer, RacePlan(top=3, budget=10.0, max_seeds=8)) == 0
    record = study.user_attrs["confirmed_best"]
    assert sorted(record["race"]["tied"]) == ["trial #0", "trial #1", "trial #2"]
    assert record["race"]["dropped"] == []
    assert record["race"]["stopped"] == "seed cap"
    assert len(trainer.trained) == 3 * 8
    text = confirmed_text(record)
    assert text.startswith("tied best: trial #")
    assert "on 8 shared seeds (not told apart at 5%; the race stopped: at its cap of 8" in text


def test_the_budget_cuts_the_field_and_stops_the_rounds(tmp_path: Path) -> None:
    # Four trials of 20 s: a budget of 50 % is 40 s. The first round costs 2 x 20 s per
    # entrant by their trials, so only the best two enter (at least two do); their four runs
    # take 10 s each, and a second round (2 x 2 x 10 s more) would pass the budget. No noise:
    # the two are tied whatever the seeds.
    study = study_of(tmp_path, [0.80, 0.83, 0.81, 0.79], seconds=20.0)
    trainer = SeededTrainer(truth_of([0.80, 0.80, 0.80, 0.80]), seconds=10.0, noise=0.0)
    assert race(study, trainer, RacePlan(top=4, budget=0.5, max_seeds=16)) == 0
    record = study.user_attrs["confirmed_best"]
    assert sorted(record["race"]["tied"]) == ["trial #1", "trial #2"]
    assert record["race"]["entrants"] == 2
    assert (record["race"]["stopped"], record["race"]["seeds"]) == ("budget", 2)
    assert (record["race"]["spent_seconds"], record["race"]["budget_seconds"]) == (40.0, 40.0)
    assert len(trainer.trained) == 4
    assert "the race stopped: its budget, 40 of 40 s spent" in confirmed_text(record)


def test_an_interrupted_race_resumes_to_the_same_answer(tmp_path: Path) -> None:
    truth = truth_of([0.80, 0.80, 0.812, 0.80])
    plan = RacePlan(top=4, budget=10.0, max_seeds=16)
    whole = study_of(tmp_path / "whole", [0.80, 0.83, 0.81, 0.79])
    assert race(whole, SeededTrainer(truth), plan) == 0
    study = study_of(tmp_path / "cut", [0.80, 0.83, 0.81, 0.79])
    assert race(study, SeededTrainer(truth, interrupt_at=5), plan) == 130
    assert "confirmed_best" not in study.user_attrs
    again = SeededTrainer(truth)
    assert race(study, again, plan) == 0
    confirm = optuna.load_study(storage=study._storage, study_name="s-confirm")
    complete = confirm.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == len({(t.user_attrs["confirm_key"], t.user_attrs["repeat"])
                                 for t in complete})  # fmt: skip
    answer = study.user_attrs["confirmed_best"]
    expected = whole.user_attrs["confirmed_best"]
    assert answer["race"]["tied"] == expected["race"]["tied"]
    assert answer["race"]["dropped"] == expected["race"]["dropped"]
    assert answer["val_mean"] == pytest.approx(expected["val_mean"])
    rerun = SeededTrainer(truth)
    assert race(study, rerun, plan) == 0  # a finished race trains nothing more
    assert rerun.calls == 0
    assert study.user_attrs["confirmed_best"]["race"] == answer["race"]


def test_a_round_whose_runs_failed_records_nothing_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = study_of(tmp_path, [0.80, 0.83, 0.81])
    truth = truth_of([0.80, 0.80, 0.80])
    plan = RacePlan(top=3, budget=10.0, max_seeds=4)
    assert race(study, SeededTrainer(truth, fail_at=1), plan, catch=(Diverged,)) == 1
    assert "confirmed_best" not in study.user_attrs
    assert "lacks 2 runs (2 failed" in capsys.readouterr().err
    assert race(study, SeededTrainer(truth), plan, catch=(Diverged,)) == 0
    assert study.user_attrs["confirmed_best"]["race"]["seeds"] == 4


def test_a_round_begun_is_finished_whatever_the_budget_says_on_resume(tmp_path: Path) -> None:
    study = study_of(tmp_path, [0.80, 0.83, 0.81])
    truth = truth_of([0.80, 0.80, 0.80])
    # Round one is three calls (a configuration's seeds train together); the fifth call is in
    # round two, which the first budget affords.
    cut = SeededTrainer(truth, noise=0.0, interrupt_at=4)
    assert race(study, cut, RacePlan(top=3, budget=10.0, max_seeds=16)) == 130
    # Resumed with a budget that pays for nothing more: the begun round is completed, then it
    # stops.
    again = SeededTrainer(truth, noise=0.0)
    assert race(study, again, RacePlan(top=3, budget=0.01, max_seeds=16)) == 0
    record = study.user_attrs["confirmed_best"]
    assert (record["race"]["stopped"], record["race"]["seeds"]) == ("budget", 4)
    assert record["race"]["entrants"] == 3  # the budget would afford two now, three had begun
    assert sorted(repeat for _, repeat, _ in again.trained) == [2, 2, 3, 3]
