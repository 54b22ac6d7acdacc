from __future__ import annotations

import math
import subprocess
import sys

import optuna
import pytest

from search_spaces import ModelConfig, ModelSpec
from search_spaces.baseline import BASELINE_GRID
from search_spaces.lstm import DISTRIBUTIONS, suggest_params
from tests.conftest import ROOT

NOTEBOOK_PARAMS = [8553, 9617, 13281, 26753, 78273, 5361, 18129, 35153, 33321, 9641, 10185, 12361]


def test_grid_has_the_notebooks_14_distinct_configurations() -> None:
    configs = [entry.config for entry in BASELINE_GRID]
    assert len(configs) == 14 and len(set(configs)) == 14
    assert sorted(set(e.notebook_params for e in BASELINE_GRID)) == sorted(NOTEBOOK_PARAMS)
    assert len({e.label for e in BASELINE_GRID}) == 14


def test_every_baseline_value_lies_inside_the_search_space() -> None:
    for entry in BASELINE_GRID:
        for name, value in entry.config.as_params().items():
            assert DISTRIBUTIONS[name]._contains(DISTRIBUTIONS[name].to_internal_repr(value)), (
                entry.label,
                name,
            )


def test_param_names_are_the_ones_reports_read() -> None:
    assert set(DISTRIBUTIONS) == {
        "units",
        "embedding_dim",
        "layers",
        "dropout",
        "recurrent_dropout",
    }


def test_suggest_params_returns_a_frozen_config() -> None:
    trial = optuna.trial.FixedTrial(
        {"units": 32, "embedding_dim": 16, "layers": 2, "dropout": 0.1, "recurrent_dropout": 0.0}
    )
    config = suggest_params(trial)
    assert config == ModelConfig(32, 16, 2, 0.1, 0.0)
    with pytest.raises(AttributeError):
        config.units = 8  # type: ignore[misc]


def propose(
    sampler: optuna.samplers.BaseSampler, n: int
) -> tuple[optuna.Study, list[ModelConfig]]:
    """n configurations from the study's sampler, told a score so TPE leaves its start-up phase."""
    study = optuna.create_study(direction="maximize", sampler=sampler)
    configs = []
    for _ in range(n):
        trial = study.ask()
        config = suggest_params(trial)
        configs.append(config)
        study.tell(trial, -abs(math.log(config.units / 32)) - config.dropout)
    return study, configs


FIELD_TYPES = {
    "units": int,
    "embedding_dim": int,
    "layers": int,
    "dropout": float,
    "recurrent_dropout": float,
}


def test_suggest_params_asks_each_distribution_and_fills_its_own_field() -> None:
    from study.setup.sampling import make_sampler, sampler_seed

    sampler = make_sampler(sampler_seed(0, concurrent=False))
    assert isinstance(sampler, optuna.samplers.TPESampler) and sampler._constant_liar
    study, configs = propose(sampler, 25)  # 10 random start-up trials, then TPE's own proposals
    for trial, config in zip(study.trials, configs, strict=True):
        # Our code asked for every parameter with the search space's own distribution (range,
        # log scale, step): what a stored study is checked against on resume.
        assert trial.distributions == DISTRIBUTIONS
        for name, kind in FIELD_TYPES.items():
            value = getattr(config, name)
            assert type(value) is kind, (name, value)
            assert value == trial.params[name], (name, value, trial.params)
    # TPE's proposals, not random ones: after start-up it concentrates near units=32.
    units = [abs(math.log(t.params["units"] / 32)) for t in study.trials]
    assert sum(units[15:]) / 10 < sum(units[:10]) / 10


def test_suggest_params_does_not_mix_up_fields() -> None:
    # Five different values: a field filled from another parameter's answer cannot pass.
    params = {"units": 40, "embedding_dim": 12, "layers": 3, "dropout": 0.25,
              "recurrent_dropout": 0.5}  # fmt: skip
    config = suggest_params(optuna.trial.FixedTrial(params))
    assert config.as_params() == params
    assert [type(getattr(config, name)) for name in FIELD_TYPES] == list(FIELD_TYPES.values())


def seeds_in_a_new_process(seed: int) -> tuple[int, int]:
    code = (
        "from study.setup.sampling import sampler_seed\n"
        f"print(sampler_seed({seed}, concurrent=False), sampler_seed({seed}, concurrent=True))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.parametrize("seed", [0, -3, 2**70])
def test_sampler_seeds_repeat_alone_and_differ_between_processes(seed: int) -> None:
    from study.setup.sampling import make_sampler

    alone_a, shared_a = seeds_in_a_new_process(seed)
    alone_b, shared_b = seeds_in_a_new_process(seed)
    assert alone_a == alone_b  # one process alone: the same command proposes the same trials
    assert shared_a != shared_b  # processes that share a study are seeded apart
    assert propose(make_sampler(alone_a), 3)[1] == propose(make_sampler(alone_b), 3)[1]
    assert propose(make_sampler(shared_a), 3)[1] != propose(make_sampler(shared_b), 3)[1]


@pytest.mark.parametrize("entry", BASELINE_GRID, ids=lambda e: e.label)
def test_built_baselines_have_the_notebooks_parameter_counts(entry) -> None:
    from study.training.model import build_model

    model = build_model(ModelSpec(entry.config, vocab_size=1000, sequence_length=80))
    assert model.count_params() == entry.notebook_params


def test_lstm_params_are_the_notebooks_counts_less_embedding_and_classifier() -> None:
    from search_spaces.cost import NOTEBOOK_MAX_LSTM_PARAMS, lstm_params

    for entry in BASELINE_GRID:
        c = entry.config
        embedding, classifier = 1000 * c.embedding_dim, c.units + 1
        assert lstm_params(c) == entry.notebook_params - embedding - classifier, entry.label
    # The default cap is the notebook's costliest model, LSTM(128) on an 8-wide embedding.
    assert NOTEBOOK_MAX_LSTM_PARAMS == 78_273 - 1000 * 8 - 129
