"""Studies name their objective values, so optuna-dashboard and plots say what they show."""

from __future__ import annotations

import warnings

import optuna
import pytest

from study.setup.create import open_study
from study.setup.sampling import make_pruner, make_sampler


@pytest.mark.parametrize(
    ("directions", "names"),
    [(("maximize",), ["val_accuracy"]), (("maximize", "minimize"), ["val_accuracy", "n_params"])],
)
def test_a_created_study_names_its_metrics(directions: tuple[str, ...], names: list[str]) -> None:
    storage = optuna.storages.InMemoryStorage()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # naming them must not warn (it is experimental in Optuna)
        study, created = open_study(
            storage, "s", sampler=make_sampler(0), pruner=make_pruner("none", 1),
            baseline=False, settings={}, directions=directions,
        )  # fmt: skip
    assert created
    assert study.metric_names == names
    again, created = open_study(
        storage, "s", sampler=make_sampler(0), pruner=make_pruner("none", 1),
        baseline=False, settings={}, directions=directions,
    )  # fmt: skip
    assert not created and again.metric_names == names
