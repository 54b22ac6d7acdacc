"""Importances with intervals and a noise floor (reports/importance.py), on synthetic studies.

The floor must do both things a floor is for: keep all parameters under it in most studies where
nothing matters (the family-wise rate) and let a real effect through; each is measured over many
small seeded studies, so that a floor too low or too high fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from reports import importance
from reports.importance import compute_importances
from reports.tables import NOTEBOOK_PARAMS as PARAMS  # a notebook study's five
from search_spaces.lstm import DISTRIBUTIONS

optuna.logging.set_verbosity(optuna.logging.WARNING)

Effect = Callable[[dict[str, float]], float]


def synthetic(
    n: int,
    effect: Effect,
    seed: int,
    *,
    noise: float = 0.01,
    directions: list[str] | None = None,
    pruned: int = 0,
    params: tuple[str, ...] = PARAMS,
) -> optuna.Study:
    """``n`` complete trials sampled at random from the search space, value effect + noise.

    ``pruned`` more trials are pruned after reporting step 0 (the first epoch); ``params``
    narrows the search space (fewer parameters: fewer evaluations, faster tests).
    """
    study = optuna.create_study(
        directions=directions or ["maximize"], sampler=optuna.samplers.RandomSampler(seed=seed)
    )
    rng = np.random.default_rng(seed)
    for i in range(n + pruned):
        trial = study.ask(fixed_distributions={p: DISTRIBUTIONS[p] for p in params})
        value = 0.8 + effect(trial.params) + float(rng.normal(0, noise))
        if i >= n:
            trial.report(value, 0)
            study.tell(trial, state=TrialState.PRUNED)
            continue
        if len(study.directions) == 1:
            trial.report(value, 0)
            study.tell(trial, value)
        else:
            study.tell(trial, [value, 1.0])
    return study


def units_effect(params: dict[str, float]) -> float:
    return 0.1 * math.log2(params["units"] / 8) / 5  # 0 at 8 units, +0.1 at 256


def nothing(params: dict[str, float]) -> float:
    return 0.0


def test_the_parameter_that_drives_accuracy_is_above_the_floor_and_the_others_under() -> None:
    result = compute_importances(
        synthetic(40, units_effect, seed=1), resamples=20, permutations=150, seed=0
    )
    table = result.table.set_index("param")
    assert set(table.index) == set(PARAMS)
    assert table.loc["units", "above_noise"]
    assert not table.drop(index="units")["above_noise"].any()
    assert table.loc["units", "p_value"] < importance.ALPHA
    assert (table.drop(index="units")["p_value"] >= importance.ALPHA).all()
    assert result.table["param"].iloc[0] == "units"  # largest first
    assert table["importance"].sum() == pytest.approx(1.0)
    # The resamples rank units first, and its interval lies above every other's median.
    assert (table["low"] < table["high"]).all()
    assert table.loc["units", "first_share"] >= 0.8
    # Each parameter's own floor (min-p): a discrete parameter's null importances run higher.
    assert (table["raw"] > table["floor"]).tolist() == table["above_noise"].tolist()


#: Two parameters of unlike kinds (log-scaled integer, 8-level integer), whose null importances
#: differ, keep the many-study tests fast.
TWO = ("units", "layers")


def _alarms(effect: Effect, studies: int, floor: str = "min-p") -> list[bool]:
    out = []
    for seed in range(studies):
        study = synthetic(30, effect, seed=100 + seed, params=TWO)
        result = compute_importances(study, resamples=0, permutations=79, seed=seed, floor=floor)
        out.append(bool(result.table["above_noise"].any()))
    return out


def test_pure_noise_studies_stay_under_the_floor_at_about_the_nominal_rate() -> None:
    # 40 studies where nothing matters, through the evaluator: a family-wise floor lets about
    # 5 % (at most) raise an alarm; no floor, or one read off normalized importances (which sum
    # to 1 whatever the study), would alarm in most.
    rate = float(np.mean(_alarms(nothing, studies=40)))
    assert rate < 0.15, rate


@pytest.mark.parametrize("method", importance.FLOORS)
def test_the_floors_keep_the_family_wise_rate_of_five_parameters(method: str) -> None:
    # The floors' calibration on its own, fast enough for thousands of studies: five
    # parameters whose null importances differ in scale (as a discrete parameter's do), and
    # fresh noise-only "observed" studies. All five under their floors in about 95 % of them;
    # each parameter's own 95th percentile would let about 23 % through.
    rng = np.random.default_rng(0)
    scale = np.array([1.0, 1.0, 2.0, 1.0, 0.5])
    nulls = pd.DataFrame(rng.gamma(2.0, 1.0, (2000, 5)) * scale, columns=list(PARAMS))
    fresh = rng.gamma(2.0, 1.0, (4000, 5)) * scale
    null = importance.noise_null(nulls, method)
    floors = np.array([null.floor(p) for p in PARAMS])
    rate = float(np.mean((fresh > floors).any(axis=1)))
    assert 0.03 < rate < 0.07, rate
    per_parameter = nulls.quantile(0.95).to_numpy()
    assert float(np.mean((fresh > per_parameter).any(axis=1))) > 0.15  # the broken floor
    if method == "min-p":  # each parameter its own floor, in the scale of its null
        assert floors[2] > floors[0] > floors[4]


def test_a_real_effect_is_detected_in_most_studies() -> None:
    # The same studies with units driving accuracy: a floor set too high (or a p-value read the
    # wrong way round) misses them.
    rate = float(np.mean(_alarms(units_effect, studies=10)))
    assert rate >= 0.8, rate


def test_same_seed_same_figures_other_seed_other_resamples() -> None:
    study = synthetic(20, units_effect, seed=3)
    first = compute_importances(study, resamples=10, permutations=10, seed=5)
    again = compute_importances(study, resamples=10, permutations=10, seed=5)
    other = compute_importances(study, resamples=10, permutations=10, seed=6)
    assert first.table.equals(again.table)
    assert list(first.table["raw"]) == list(other.table["raw"])  # the study's own: no seed
    assert not np.allclose(first.table["low"], other.table["low"])


def test_fanova_is_selectable_and_finds_the_effect() -> None:
    result = compute_importances(
        synthetic(30, units_effect, seed=2, params=TWO),
        evaluator="fanova",
        resamples=2,
        permutations=9,
        seed=0,
    )
    assert result.evaluator == "fanova" and "fANOVA" in result.evaluator_name()
    table = result.table.set_index("param")
    assert result.table["param"].iloc[0] == "units"
    assert table.loc["units", "p_single"] == pytest.approx(0.1)  # beats all 9 permutations
    assert table.loc["layers", "p_single"] > 0.1


def test_first_epoch_target_uses_pruned_trials_too() -> None:
    study = synthetic(10, units_effect, seed=4, pruned=15)
    final = compute_importances(study, resamples=2, permutations=2)
    early = compute_importances(study, target="first-epoch", resamples=2, permutations=2)
    assert final.trials == 10 and early.trials == 25
    assert early.target_name() == (
        "validation accuracy after epoch 1, 25 trained (complete and pruned) trials"
    )
    assert final.target_name() == "final validation accuracy, 10 complete trials"


def test_first_epoch_falls_back_to_final_when_trials_never_reported_an_epoch() -> None:
    study = synthetic(12, units_effect, seed=4)
    for trial in study.get_trials()[:6]:  # complete trials without intermediate values
        study.add_trial(
            optuna.trial.create_trial(
                params=trial.params, distributions=trial.distributions, value=trial.value
            )
        )
    result = compute_importances(study, target="first-epoch", resamples=0, permutations=0)
    assert result.target == "final" and result.trials == 18
    assert "more complete trials (18) than trials with an epoch-1 accuracy" in result.note


def test_multi_objective_is_judged_on_accuracy_and_has_no_epoch_values() -> None:
    study = synthetic(30, units_effect, seed=1, directions=["maximize", "minimize"], params=TWO)
    result = compute_importances(study, target="first-epoch", resamples=2, permutations=79)
    assert result.target == "final" and "multi-objective" in result.note
    assert result.table["param"].iloc[0] == "units"
    assert result.table.set_index("param").loc["units", "above_noise"]


def test_too_few_trials_or_one_value_give_a_reason_not_numbers() -> None:
    few = compute_importances(synthetic(4, units_effect, seed=0))
    assert not few.available and few.reason == "needs at least 5 trials with a value, has 4"
    flat = compute_importances(synthetic(8, nothing, seed=0, noise=0.0))
    assert not flat.available and "same accuracy" in flat.reason


def test_no_permutations_means_no_floor_and_no_verdict_above_noise() -> None:
    result = compute_importances(synthetic(20, units_effect, seed=1), resamples=0, permutations=0)
    assert result.table["floor"].isna().all()
    assert not result.table["above_noise"].any()
    assert result.table["low"].isna().all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"evaluator": "shap"}, "unknown importance evaluator 'shap'"),
        ({"target": "best"}, "unknown importance target 'best'"),
        ({"resamples": -1}, "got -1 and"),
        ({"permutations": -3}, "and -3"),
    ],
)
def test_bad_settings_name_the_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_importances(synthetic(6, nothing, seed=0), **kwargs)
