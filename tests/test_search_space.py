from __future__ import annotations

import optuna
import pytest

from search_spaces import ModelConfig
from search_spaces.baseline import BASELINE_GRID
from search_spaces.lstm import DISTRIBUTIONS, suggest_params

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


def test_sampled_configs_stay_in_range() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        config = suggest_params(study.ask())
        assert 8 <= config.units <= 256 and 4 <= config.embedding_dim <= 128
        assert 1 <= config.layers <= 8 and 0 <= config.dropout <= 0.9


@pytest.mark.parametrize("entry", BASELINE_GRID, ids=lambda e: e.label)
def test_built_baselines_have_the_notebooks_parameter_counts(entry) -> None:
    from study.model import build_model

    model = build_model(entry.config, vocab_size=1000, sequence_length=80)
    assert model.count_params() == entry.notebook_params
