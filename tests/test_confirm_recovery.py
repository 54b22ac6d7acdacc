"""A confirmation whose runs were lost (killed worker) or failed: re-run, never a wrong winner.

Synthetic studies (``tests.report_studies.add``) and a trainer that trains nothing: the state a
SIGKILL leaves is built with the project's own functions (enqueue, ask a group, own it).
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from reports.tables import config_key
from search_spaces.config import ModelConfig
from search_spaces.lstm import suggest_params
from study.reruns.confirmation import (
    Plan,
    candidates,
    confirmation_pending,
    open_confirm_study,
    run_confirmation,
)
from study.reruns.groups import ask_group, enqueue_missing
from study.workers.ownership import OWNER_ATTR
from tests.report_studies import add
from tests.test_confirm import FakeTrainer
from tests.test_workers import dead_local_owner

#: Four configurations and their true accuracies; the confirmation takes the top 3.
TRUE = {ModelConfig(8, 4): 0.84, ModelConfig(16, 8): 0.83, ModelConfig(32, 4): 0.82,
        ModelConfig(12, 4): 0.80}  # fmt: skip
CONFIG = {"epochs": 1, "seed": 0, "data_fingerprint": "tree:x", "data_sizes": {},
          "backend": "jax"}  # fmt: skip
PLAN = Plan(3, 3, False)
#: An owner on another machine: neither dead nor alive as far as this host can tell.
ELSEWHERE = "host-b:boot-b:4026531836:4242:1234"


def four_configurations(tmp_path: Path) -> optuna.Study:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'k.db'}", study_name="s",
                                direction="maximize")  # fmt: skip
    for config, accuracy in TRUE.items():
        add(study, config, accuracy)
    return study


def seeds_around_truth() -> dict[str, list[float]]:
    """Three runs per configuration, spread ±0.001 around its true accuracy."""
    return {config_key(c.as_params()): [a - 0.001, a, a + 0.001] for c, a in TRUE.items()}


def killed_while_training_the_best(study: optuna.Study, owner: str) -> list[int]:
    """The storage a confirmation leaves when its process dies training the first group."""
    confirm = open_confirm_study(study._storage, study.study_name, CONFIG)
    enqueue_missing(confirm, candidates(study, PLAN.top, PLAN.baseline), PLAN.repeats)
    group = ask_group(confirm)  # the 0.84 configuration's three repeats, RUNNING
    for trial in group:
        trial.set_user_attr(OWNER_ATTR, owner)
    return [trial.number for trial in group]


def confirm(study: optuna.Study, trainer: FakeTrainer, catch: tuple = ()) -> int:
    return run_confirmation(
        study, study._storage, CONFIG, lambda: (trainer, catch), PLAN, progress=False
    )


def test_a_confirmation_killed_outright_re_runs_the_lost_runs_and_names_the_true_best(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = four_configurations(tmp_path)
    lost = killed_while_training_the_best(study, dead_local_owner())
    assert confirmation_pending(study, PLAN) == 9  # the dead runs count as to do
    trainer = FakeTrainer(seeds_around_truth())
    assert confirm(study, trainer) == 0
    assert f"re-queued confirmation run(s) {lost}" in capsys.readouterr().err
    best = config_key(ModelConfig(8, 4).as_params())
    assert trainer.trained[-3:] == [(best, r) for r in range(3)]  # re-queued last
    assert len(trainer.trained) == 9
    record = study.user_attrs["confirmed_best"]
    assert record["source_trial"] == 0  # the 0.84 configuration, not the 0.83 one
    assert [c["source_trial"] for c in record["candidates"]] == [0, 1, 2]
    assert record["runs"] == 9
    assert confirmation_pending(study, PLAN) == 0
    states = [t.state for t in optuna.load_study(storage=study._storage,
                                                 study_name="s-confirm").trials]  # fmt: skip
    assert states.count(TrialState.RUNNING) == 0


def test_no_winner_is_recorded_while_a_candidates_runs_run_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = four_configurations(tmp_path)
    killed_while_training_the_best(study, ELSEWHERE)  # alive, for all this host can tell
    assert confirm(study, FakeTrainer(seeds_around_truth())) == 0
    assert "confirmed_best" not in study.user_attrs
    err = capsys.readouterr().err
    assert "no confirmed best recorded: the confirmation is incomplete: " in err
    assert "top 1: trial #0 lacks 3 runs (3 running)" in err


class Diverges(Exception):
    """What a configuration's own failure (NaN loss, out of memory) stands for here."""


class FailsOne(FakeTrainer):
    """Fails the runs of one configuration, as the objective does when they diverge."""

    def __init__(self, values: dict[str, list[float]], failing: str) -> None:
        super().__init__(values)
        self.failing = failing

    def train_together(self, trials: list[optuna.Trial]) -> list[float]:
        if trials[0].user_attrs["confirm_key"] == self.failing:
            for trial in trials:
                suggest_params(trial)
                trial.set_user_attr("fail_reason", "Diverges: loss is NaN")
            raise Diverges
        return super().train_together(trials)


def test_a_candidate_whose_runs_failed_leaves_no_winner_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = four_configurations(tmp_path)
    second = config_key(ModelConfig(16, 8).as_params())
    assert confirm(study, FailsOne(seeds_around_truth(), second), (Diverges,)) == 1
    assert "confirmed_best" not in study.user_attrs
    err = capsys.readouterr().err
    assert "top 2: trial #1 lacks 3 runs (3 failed: Diverges: loss is NaN)" in err
    # A rerun retries them and then records the winner among all three.
    assert confirm(study, FakeTrainer(seeds_around_truth())) == 0
    assert [c["source_trial"] for c in study.user_attrs["confirmed_best"]["candidates"]] == [
        0,
        1,
        2,
    ]


def test_runs_asked_by_a_process_that_died_before_training_are_re_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from study.reruns import groups

    study = four_configurations(tmp_path)
    confirm_study = open_confirm_study(study._storage, study.study_name, CONFIG)
    enqueue_missing(confirm_study, candidates(study, PLAN.top, PLAN.baseline), PLAN.repeats)
    dead = dead_local_owner()
    with monkeypatch.context() as patched:  # this process stands for one that died after ask
        patched.setattr(groups, "owner_id", lambda: dead, raising=False)
        asked = ask_group(confirm_study)
    assert {t.user_attrs[OWNER_ATTR] for t in confirm_study.trials[:3]} == {dead}
    trainer = FakeTrainer(seeds_around_truth())
    assert confirm(study, trainer) == 0
    assert len(trainer.trained) == 9 and len(asked) == 3
    assert study.user_attrs["confirmed_best"]["source_trial"] == 0
