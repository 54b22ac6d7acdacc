"""The start-up proposes under the cost cap; each categorical choice gets a pruning warm-up.

Synthetic: samplers driven with ``ask``/``tell`` on dummy objectives, pruners judged on trials
made with ``create_trial``. No training.
"""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from search_spaces.cost import NOTEBOOK_MAX_LSTM_PARAMS, over_cap
from search_spaces.lstm import ALL_DISTRIBUTIONS, EXTENDED, NOTEBOOK, SearchSpace
from study.setup.baselines import enqueue_baseline
from study.setup.choice_warmup import WARMUP_COMPLETE
from study.setup.sampling import STARTUP_TRIALS, make_pruner, make_sampler

CAP = NOTEBOOK_MAX_LSTM_PARAMS


def propose(study: optuna.Study, space: SearchSpace, n: int) -> list:
    """``n`` proposals, each told a value that favours small models (no training)."""
    configs = []
    for _ in range(n):
        trial = study.ask()
        config = space.suggest(trial)
        configs.append(config)
        study.tell(trial, 1.0 / config.units)
    return configs


def test_start_up_proposals_of_the_extended_space_all_fit_under_the_cap() -> None:
    study = optuna.create_study(direction="maximize")
    study.sampler = make_sampler(0, 200, space=EXTENDED, max_lstm_params=CAP)
    configs = propose(study, EXTENDED, 200)
    assert not [c for c in configs if over_cap(c, CAP)]
    # Still the whole space, drawn at random: every value of every categorical axis shows up.
    for axis in ("cell", "bidirectional", "readout"):
        assert {c.choice(axis) for c in configs} == set(ALL_DISTRIBUTIONS[axis].choices)  # type: ignore[attr-defined]


def test_the_capped_start_up_is_reproducible_from_its_seed() -> None:
    def first(seed: int) -> list:
        study = optuna.create_study(direction="maximize")
        study.sampler = make_sampler(seed, 20, space=EXTENDED, max_lstm_params=CAP)
        return propose(study, EXTENDED, 10)

    assert first(3) == first(3)
    assert first(3) != first(4)


def test_the_notebook_spaces_proposals_after_its_grid_are_unchanged() -> None:
    # The notebook space's start-up is its enqueued grid (14 >= STARTUP_TRIALS): with the cap,
    # the same seed proposes exactly what TPE alone proposed.
    def proposals(sampler: optuna.samplers.BaseSampler) -> list:
        study = optuna.create_study(direction="maximize", sampler=sampler)
        enqueue_baseline(study)
        return propose(study, NOTEBOOK, 14 + 12)

    capped = make_sampler(5, STARTUP_TRIALS, space=NOTEBOOK, max_lstm_params=CAP)
    assert proposals(capped) == proposals(make_sampler(5, STARTUP_TRIALS))


def _complete(choices: dict, value: float) -> optuna.trial.FrozenTrial:
    return create_trial(
        params=choices,
        distributions={name: ALL_DISTRIBUTIONS[name] for name in choices},
        value=value,
        intermediate_values={0: value},
    )


def _judge(study: optuna.Study, choices: dict, value: float) -> bool:
    study.enqueue_trial(choices)
    trial = study.ask()
    for name in choices:
        trial.suggest_categorical(name, ALL_DISTRIBUTIONS[name].choices)  # type: ignore[attr-defined]
    trial.report(value, 0)
    pruned = trial.should_prune()
    study.tell(trial, state=TrialState.PRUNED)
    return pruned


NOTEBOOKS = {"cell": "lstm", "bidirectional": False, "readout": "last"}
GRU = {"cell": "gru", "bidirectional": False, "readout": "last"}


def test_a_choice_in_its_warm_up_is_not_pruned_then_is_as_the_median_would() -> None:
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", 3, EXTENDED))
    for _ in range(14):  # the notebook's grid: fast starters
        study.add_trial(_complete(NOTEBOOKS, 0.8))
    assert _judge(study, NOTEBOOKS, 0.5)  # below the median, its choices warmed up: pruned
    assert not _judge(study, GRU, 0.5)  # a GRU below the median, but GRUs have no warm-up yet
    for _ in range(WARMUP_COMPLETE - 1):
        study.add_trial(_complete(GRU, 0.8))
    assert not _judge(study, GRU, 0.5)  # one short of the warm-up
    study.add_trial(_complete(GRU, 0.8))
    assert _judge(study, GRU, 0.5)  # warmed up: judged by the median as any trial
    assert not _judge(study, GRU, 0.9)  # above the median: the median keeps it


@pytest.mark.parametrize("name", ["median", "hyperband", "none"])
def test_the_notebook_spaces_pruner_is_optunas_own(name: str) -> None:
    expected = {
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "none": optuna.pruners.NopPruner,
    }[name]
    assert type(make_pruner(name, 3)) is expected
    assert type(make_pruner(name, 3, NOTEBOOK)) is expected
    # The extended space's keeps the type Optuna checks (TPE reads a Hyperband bracket's trials).
    assert isinstance(make_pruner(name, 3, EXTENDED), expected)
