"""The objective on tiny in-memory data: what each trial records, and how pruning treats it."""

from __future__ import annotations

import statistics
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search_spaces import ModelSpec
from search_spaces.baseline import BASELINE_GRID
from study.setup.baselines import enqueue_baseline
from study.training.data import DataSettings, load_dataset
from study.training.settings import TrainSettings
from study.training.trainer import train_repeats

COMPLETE_ATTRS = {
    "n_params", "train_seconds", "epochs_run", "val_accuracy", "test_accuracy", "test_loss",
    "device", "backend", "seed",
}  # fmt: skip


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


@pytest.fixture(scope="module")
def tiny_data(tiny_imdb: Path):
    return load_dataset(DataSettings(source=str(tiny_imdb), maxlen=20, cache_dir=None))


def make_objective(
    data,
    epochs: int,
    pruning: bool = True,
    seed: int = 0,
    learning_rate: float = 1e-3,
    repeats: int = 1,
    max_lstm_params: int = 0,
):
    from study.trials.objective import Objective

    return Objective(
        data, TrainSettings(epochs=epochs, learning_rate=learning_rate), vocab_size=1000,
        sequence_length=20, seed=seed, pruning=pruning, repeats=repeats,
        max_lstm_params=max_lstm_params,
    )  # fmt: skip


def test_sampled_trial_is_pruned_but_keeps_its_record(tiny_data) -> None:
    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    study.optimize(make_objective(tiny_data, epochs=2), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert trial.user_attrs["epochs_run"] == 1
    assert trial.user_attrs["n_params"] > 0 and trial.user_attrs["train_seconds"] > 0
    assert list(trial.intermediate_values) == [0]


def test_baseline_is_never_pruned_and_records_everything(tiny_data) -> None:
    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    enqueue_baseline(study)
    study.optimize(make_objective(tiny_data, epochs=2), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    assert trial.user_attrs["baseline"] == BASELINE_GRID[0].label
    assert set(trial.user_attrs) >= COMPLETE_ATTRS
    assert trial.user_attrs["epochs_run"] == 2
    assert trial.value == trial.user_attrs["val_accuracy"]
    assert list(trial.intermediate_values) == [0, 1]
    assert 0.0 <= trial.user_attrs["test_accuracy"] <= 1.0
    assert trial.user_attrs["device"].startswith(("CPU", "GPU"))


def test_no_trial_is_pruned_after_its_last_epoch(tiny_data) -> None:
    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    study.optimize(make_objective(tiny_data, epochs=1), n_trials=1)
    assert study.trials[0].state == TrialState.COMPLETE


def test_same_seed_gives_the_same_trial(tiny_data) -> None:
    values = []
    for _ in range(2):
        study = optuna.create_study(direction="maximize")
        enqueue_baseline(study)
        study.optimize(make_objective(tiny_data, epochs=1), n_trials=1)
        values.append((study.trials[0].value, study.trials[0].user_attrs["test_loss"]))
    assert values[0] == values[1]


def test_repeats_train_several_seeds_and_return_their_mean(tiny_data) -> None:
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(BASELINE_GRID[8].config.as_params())  # dropout: replicas differ
    study.optimize(make_objective(tiny_data, epochs=2, repeats=3), n_trials=1)
    trial = study.trials[0]
    attrs = trial.user_attrs
    assert trial.state == TrialState.COMPLETE and attrs["repeat_mode"] == "vectorized"
    assert attrs["repeats"] == 3 and len(set(attrs["seeds"])) == 3
    assert attrs["seeds"][0] == attrs["seed"]
    # Each seed trained alone, outside the objective: what the trial's numbers must summarize
    # (a mean or spread over the wrong values, or replicas stored in the wrong order, fail).
    alone = [
        train_repeats(
            ModelSpec(BASELINE_GRID[8].config, vocab_size=1000, sequence_length=20),
            tiny_data, TrainSettings(epochs=2), [seed],
        )
        for seed in attrs["seeds"]
    ]  # fmt: skip
    val = [r.val_accuracy[-1][0] for r in alone]
    test = [r.test_accuracy[0] for r in alone]
    assert len(set(val)) > 1  # the spread below is not trivially zero
    assert attrs["val_accuracy_per_seed"] == pytest.approx(val, abs=1e-6)
    assert attrs["test_accuracy_per_seed"] == pytest.approx(test, abs=1e-6)
    assert trial.value == pytest.approx(statistics.fmean(val), abs=1e-6)
    assert attrs["val_accuracy_std"] == pytest.approx(statistics.stdev(val), abs=1e-6)
    assert attrs["test_accuracy"] == pytest.approx(statistics.fmean(test), abs=1e-6)
    assert attrs["test_accuracy_std"] == pytest.approx(statistics.stdev(test), abs=1e-6)
    # The pruner saw the mean after every epoch.
    assert trial.intermediate_values[1] == pytest.approx(trial.value)
    assert attrs["val_accuracy_history"][1] == pytest.approx(trial.value)


def test_repeats_are_pruned_on_their_mean(tiny_data) -> None:
    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    study.optimize(make_objective(tiny_data, epochs=3, repeats=2), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED and trial.user_attrs["epochs_run"] == 1
    assert len(trial.user_attrs["val_accuracy_per_seed"]) == 2


def sampled(config) -> dict:
    """Params to enqueue as an ordinary (prunable) trial: no baseline label."""
    return config.as_params()


def test_a_diverged_trial_fails_even_when_the_pruner_would_prune_it(tiny_data) -> None:
    from study.training.settings import TrainingDiverged
    from study.workers.stopping import FailureGuard

    # A learning rate of 1e38 makes the loss NaN in the first epoch; Keras still validates and
    # calls on_epoch_end, where the pruner (which prunes everything) gets its say.
    objective = make_objective(tiny_data, epochs=2, learning_rate=1e38)
    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    study.enqueue_trial(sampled(BASELINE_GRID[0].config))
    guard = FailureGuard(limit=1)
    study.optimize(objective, n_trials=1, catch=(TrainingDiverged,), callbacks=[guard])
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL
    assert "NaN" in trial.user_attrs["fail_reason"]
    assert guard.tripped  # it counts toward --max-failures


@pytest.mark.parametrize("seed", [-7, 2**40])
def test_every_integer_study_seed_trains(tiny_data, seed: int) -> None:
    study = optuna.create_study(direction="maximize")
    enqueue_baseline(study)
    study.optimize(make_objective(tiny_data, epochs=1, seed=seed), n_trials=2)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    seeds = [t.user_attrs["seed"] for t in done]
    assert len(done) == 2
    assert all(0 <= s < 2**31 for s in seeds) and seeds[0] != seeds[1]


@pytest.mark.parametrize("name", ["median", "hyperband"])
def test_the_study_pruners_stop_a_clearly_worse_trial(tiny_data, name: str) -> None:
    from optuna.trial import create_trial

    from search_spaces.lstm import DISTRIBUTIONS
    from study.setup.sampling import make_pruner

    epochs = 5
    # Named: hyperband assigns trials to brackets by a hash of the study's name and their number.
    study = optuna.create_study(
        study_name="pruners", direction="maximize", pruner=make_pruner(name, epochs)
    )
    for units in range(8, 18):  # ten finished trials at 100% after every epoch
        study.add_trial(
            create_trial(
                params={**sampled(BASELINE_GRID[0].config), "units": units},
                distributions=DISTRIBUTIONS,
                value=1.0,
                intermediate_values={epoch: 1.0 for epoch in range(epochs)},
                # what Optuna's successive halving records for a trial that passed its rungs
                system_attrs={f"completed_rung_{rung}": 1.0 for rung in range(3)},
            )
        )
    study.enqueue_trial(sampled(BASELINE_GRID[0].config))
    # A learning rate of 1e-6 keeps it near chance for every epoch: clearly worse at any rung.
    study.optimize(make_objective(tiny_data, epochs=epochs, learning_rate=1e-6), n_trials=1)
    trial = study.trials[-1]
    assert trial.state == TrialState.PRUNED
    assert trial.user_attrs["epochs_run"] < epochs
    assert len(trial.intermediate_values) == trial.user_attrs["epochs_run"]


# LSTM(64) on an 8-wide embedding: 4 gates x 64 units x (8 inputs + 64 recurrent + 1 bias).
LSTM64 = {"units": 64, "embedding_dim": 8, "layers": 1, "dropout": 0.0, "recurrent_dropout": 0.0}
LSTM64_WEIGHTS = 4 * 64 * (8 + 64 + 1)


def test_a_sampled_configuration_over_the_cost_cap_is_pruned_untrained(tiny_data) -> None:
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(LSTM64)
    study.enqueue_trial(LSTM64)
    study.optimize(make_objective(tiny_data, epochs=1, max_lstm_params=LSTM64_WEIGHTS - 1), 1)
    study.optimize(make_objective(tiny_data, epochs=1, max_lstm_params=LSTM64_WEIGHTS), 1)
    over, at_cap = study.trials
    assert over.state == TrialState.PRUNED
    assert over.user_attrs["over_cost_cap"] == LSTM64_WEIGHTS
    assert "epochs_run" not in over.user_attrs and not over.intermediate_values
    assert at_cap.state == TrialState.COMPLETE  # the cap is the most a trial may have
    assert "over_cost_cap" not in at_cap.user_attrs and at_cap.user_attrs["epochs_run"] == 1
    # TPE learns the cap as a constraint: violated where the cap kept the trial from training.
    assert over.constraints["cost_cap"] > 0
    assert at_cap.constraints == {"cost_cap": 0.0}


def test_an_over_cap_proposal_carries_a_violated_constraint_with_two_objectives(
    tiny_data,
) -> None:
    from study.trials.directions import AccuracyAndParams

    study = optuna.create_study(directions=["maximize", "minimize"])
    study.enqueue_trial(LSTM64)
    objective = make_objective(tiny_data, epochs=1, max_lstm_params=LSTM64_WEIGHTS - 1)
    study.optimize(AccuracyAndParams(objective), n_trials=1)
    (over,) = study.trials
    assert over.state == TrialState.PRUNED and over.constraints["cost_cap"] > 0


def test_the_notebooks_configurations_train_whatever_the_cap(tiny_data) -> None:
    study = optuna.create_study(direction="maximize")
    enqueue_baseline(study)
    study.optimize(make_objective(tiny_data, epochs=1, max_lstm_params=10), n_trials=1)
    assert study.trials[0].state == TrialState.COMPLETE
    # Trained, so feasible: Optuna's best trial stays among the trials that trained.
    assert study.trials[0].constraints == {"cost_cap": 0.0}
    assert study.best_trial.number == 0


def test_the_summary_counts_the_trials_the_cap_kept_from_training(capsys) -> None:
    from optuna.distributions import IntDistribution

    from study.workers.progress import print_summary

    study = optuna.create_study(direction="maximize")
    units = {"units": IntDistribution(8, 256, log=True)}
    study.add_trial(optuna.trial.create_trial(params={"units": 8}, distributions=units, value=0.8))
    for attrs in ({"over_cost_cap": 80_000}, {}):
        study.add_trial(
            optuna.trial.create_trial(
                params={"units": 200},
                distributions=units,
                state=TrialState.PRUNED,
                user_attrs=attrs,
            )
        )
    print_summary(study, "sqlite:///s.db")
    assert capsys.readouterr().out.startswith(
        "trials: 1 complete, 2 pruned (1 of them over --max-lstm-params: not trained, not "
        "counted in --trials)\n"
    )


def raising_training(error: BaseException):
    def train(*args, **kwargs) -> None:
        raise error

    return train


@pytest.mark.parametrize("path", ["optimize", "rerun"])
@pytest.mark.parametrize(
    ("message", "fails_only_the_trial"),
    [("RESOURCE_EXHAUSTED: out of memory", True), ("INTERNAL: boom", False)],
)
def test_only_running_out_of_device_memory_fails_just_the_trial(
    tiny_data, monkeypatch, path: str, message: str, fails_only_the_trial: bool
) -> None:
    """Both paths (``study.optimize``, and the reruns' ``train_together``) share one bookkeeping:
    out of memory fails those trials with its reason and the study goes on; any other XLA error
    (a bug) stops the study."""
    import jax

    from study.reruns.groups import Candidate, enqueue_missing, run_waiting
    from study.trials.objective import trial_errors

    monkeypatch.setattr(
        "study.trials.objective.train_repeats",
        raising_training(jax.errors.JaxRuntimeError(message)),
    )
    study = optuna.create_study(direction="maximize")
    objective = make_objective(tiny_data, epochs=1)
    if path == "optimize":
        enqueue_baseline(study)
        run = lambda: study.optimize(objective, n_trials=2, catch=trial_errors())  # noqa: E731
    else:
        params = BASELINE_GRID[0].config.as_params()
        enqueue_missing(study, [Candidate("a", params, "a", None, None)], repeats=2)
        run = lambda: run_waiting(study, objective, trial_errors())  # noqa: E731
    if not fails_only_the_trial:
        with pytest.raises(jax.errors.JaxRuntimeError, match="INTERNAL: boom"):
            run()
        # The study stopped at the first trial (group), which names the error.
        assert study.trials[0].user_attrs["fail_reason"] == f"JaxRuntimeError: {message}"
        if path == "optimize":  # failed, and the second baseline still waits
            assert [t.state for t in study.trials[:2]] == [TrialState.FAIL, TrialState.WAITING]
        return
    run()
    assert [t.state for t in study.trials[:2]] == [TrialState.FAIL, TrialState.FAIL]
    for trial in study.trials[:2]:
        assert trial.user_attrs["fail_reason"].startswith("TrialOutOfMemory: RESOURCE_EXHAUSTED")


def capped_trial(user_attrs: dict) -> optuna.trial.FrozenTrial:
    from optuna.distributions import IntDistribution

    return optuna.trial.create_trial(
        params={"units": 200},
        distributions={"units": IntDistribution(8, 256, log=True)},
        state=TrialState.PRUNED,
        user_attrs=user_attrs,
    )


def over_cap_proposal(trial: optuna.Trial) -> float:
    trial.set_user_attr("over_cost_cap", 80_000)  # what Objective records before it prunes
    raise optuna.TrialPruned()


def test_proposals_over_the_cost_cap_do_not_count_toward_the_target() -> None:
    from study.workers.stopping import FINISHED, TARGET_STATES, TargetCallback, count_trials

    study = optuna.create_study(direction="maximize")
    for attrs in ({"over_cost_cap": 80_000}, {}, {"over_cost_cap": 90_000}):
        study.add_trial(capped_trial(attrs))
    assert count_trials(study, FINISHED) == count_trials(study, TARGET_STATES) == 1
    target = TargetCallback(2)
    study.optimize(over_cap_proposal, n_trials=3, callbacks=[target])
    assert len(study.trials) == 6  # none of them brought the study closer to its target
    study.optimize(lambda trial: 0.5, n_trials=3, callbacks=[target])
    assert len(study.trials) == 7  # the second trained trial reached it


def test_a_cap_nothing_fits_under_stops_the_worker() -> None:
    from study.workers.stopping import CostCapGuard

    guard = CostCapGuard(limit=3)
    study = optuna.create_study(direction="maximize")
    study.optimize(over_cap_proposal, n_trials=10, callbacks=[guard])
    assert guard.tripped and len(study.trials) == 3
