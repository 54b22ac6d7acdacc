"""``--space extended``: the cell, direction, readout and learning rate beyond the notebook's axes.

Each choice must build the model it names (layer types, and parameter counts computed here by
hand), train through the same trainer under both backends, be counted by the cost cap for what a
step costs, and travel through the study: recorded as a result setting, enqueued with the
notebook's grid at the notebook's values, carried into the confirmation's candidates.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from search_spaces import ModelConfig, ModelSpec
from search_spaces.baseline import BASELINE_GRID
from search_spaces.config import NOTEBOOK_CHOICES
from search_spaces.cost import lstm_params, over_cap
from search_spaces.keys import config_key, row_params
from search_spaces.lstm import ALL_DISTRIBUTIONS, DISTRIBUTIONS, EXTENDED, NOTEBOOK, get_space
from study.training.data import DataSettings, load_dataset
from study.training.model import build_model
from study.training.settings import TrainSettings
from study.training.trainer import train_repeats
from tests.conftest import ROOT
from tests.test_optimize_cli import run_optimize

VOCAB = 1000


def _count(model: keras.Model, kind: type) -> int:
    return sum(isinstance(layer, kind) for layer in model.layers)


# -- the space -------------------------------------------------------------------------------
def test_the_notebook_space_is_unchanged_and_the_extended_adds_four_axes() -> None:
    assert NOTEBOOK.distributions == DISTRIBUTIONS
    assert list(DISTRIBUTIONS) == ["units", "embedding_dim", "layers", "dropout",
                                   "recurrent_dropout"]  # fmt: skip
    assert list(EXTENDED.distributions) == [*DISTRIBUTIONS, "cell", "bidirectional", "readout",
                                            "learning_rate"]  # fmt: skip
    lr = EXTENDED.distributions["learning_rate"]
    assert lr.log and lr.low < 1e-3 < lr.high  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="--space must be one of notebook, extended, got 'wide'"):
        get_space("wide")


def test_a_notebook_trial_has_five_params_and_an_extended_one_nine() -> None:
    notebook = optuna.create_study()
    NOTEBOOK.suggest(notebook.ask())
    extended = optuna.create_study()
    config = EXTENDED.suggest(extended.ask())
    assert len(notebook.trials[0].params) == 5
    assert set(extended.trials[0].params) == set(ALL_DISTRIBUTIONS)
    assert config.as_params() == extended.trials[0].params


def test_the_extended_baselines_are_the_notebooks_models_inside_the_distributions() -> None:
    for entry in BASELINE_GRID:
        config = EXTENDED.baseline_config(entry.config)
        params = config.as_params()
        assert {k: params[k] for k in NOTEBOOK_CHOICES} == NOTEBOOK_CHOICES
        for name, value in params.items():
            dist = ALL_DISTRIBUTIONS[name]
            assert dist._contains(dist.to_internal_repr(value)), (entry.label, name)
        # One key in both spaces: reports match an extended study's baselines to the grid.
        assert config_key(params) == config_key(entry.config.as_params())
        assert NOTEBOOK.baseline_config(entry.config) == entry.config


def test_config_keys_tell_every_extended_choice_apart_and_round_trip() -> None:
    base = EXTENDED.baseline_config(ModelConfig(8, 8))
    variants = [
        base,
        ModelConfig(8, 8, cell="gru", bidirectional=False, readout="last", learning_rate=1e-3),
        ModelConfig(8, 8, cell="lstm", bidirectional=True, readout="last", learning_rate=1e-3),
        ModelConfig(8, 8, cell="lstm", bidirectional=False, readout="max", learning_rate=1e-3),
        ModelConfig(8, 8, cell="lstm", bidirectional=False, readout="mean", learning_rate=1e-3),
        ModelConfig(8, 8, cell="lstm", bidirectional=False, readout="last", learning_rate=2e-4),
        ModelConfig(
            8, 8, cell="lstm", bidirectional=False, readout="last", learning_rate=2.0001e-4
        ),  # noqa: E501
    ]
    keys = [config_key(v.as_params()) for v in variants]
    assert len(set(keys)) == len(keys), keys
    for variant in variants:
        assert row_params(variant.as_params()) == variant.as_params()


def test_an_unknown_cell_or_readout_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="cell must be one of lstm, gru, got 'rnn'"):
        ModelConfig(8, 8, cell="rnn")
    with pytest.raises(ValueError, match="readout must be one of last, max, mean, got 'sum'"):
        ModelConfig(8, 8, readout="sum")


# -- the model -------------------------------------------------------------------------------
# (config, parameter count by hand: embedding + recurrent layers + classifier)
HAND_COUNTS = [
    # GRU(8) on 8: Keras' GRU has reset_after: 3 gates x 8 x (8 inputs + 8 units + 2 biases).
    (ModelConfig(8, 8, cell="gru"), VOCAB * 8 + 3 * 8 * (8 + 8 + 2) + (8 + 1)),
    # Bidirectional LSTM(8) on 8: two LSTMs, and the classifier reads both (16 + 1).
    (ModelConfig(8, 8, bidirectional=True), VOCAB * 8 + 2 * 4 * 8 * (8 + 8 + 1) + (16 + 1)),
    # 2 x bidirectional GRU(4) on 6, mean readout: the second layer's inputs are 2 x 4 wide.
    (
        ModelConfig(4, 6, 2, cell="gru", bidirectional=True, readout="mean"),
        VOCAB * 6 + 2 * 3 * 4 * (6 + 4 + 2) + 2 * 3 * 4 * (8 + 4 + 2) + (8 + 1),
    ),
    # Max readout adds no weights: the notebook's LSTM(8) count, 8,553.
    (ModelConfig(8, 8, readout="max", learning_rate=3e-3), 8553),
]


@pytest.mark.parametrize("style", ["keras2", "keras3"])
@pytest.mark.parametrize(("config", "expected"), HAND_COUNTS)
def test_parameter_counts_match_the_hand_computed_ones(
    config: ModelConfig, expected: int, style: str
) -> None:
    model = build_model(
        ModelSpec(config, vocab_size=VOCAB, sequence_length=20, dropout_style=style)
    )
    assert model.count_params() == expected
    embedding = VOCAB * config.embedding_dim
    directions = 2 if config.bidirectional else 1
    classifier = directions * config.units + 1
    assert lstm_params(config) == expected - embedding - classifier


def test_the_notebooks_grid_keeps_its_counts_in_the_extended_space() -> None:
    for entry in BASELINE_GRID:
        config = EXTENDED.baseline_config(entry.config)
        assert (
            build_model(ModelSpec(config, sequence_length=80)).count_params()
            == entry.notebook_params
        )


@pytest.mark.parametrize("style", ["keras2", "keras3"])
def test_each_choice_builds_the_layers_it_names(style: str) -> None:
    from study.training.keras2_gru import Keras2GRU
    from study.training.keras2_lstm import Keras2LSTM

    gru = build_model(ModelSpec(ModelConfig(8, 8, 2, 0.2, 0.3, cell="gru"), dropout_style=style))
    recurrent = [la for la in gru.layers if isinstance(la, keras.layers.RNN)]
    assert len(recurrent) == 2 and all(isinstance(la, keras.layers.GRU) for la in recurrent)
    assert all(isinstance(la, Keras2GRU) == (style == "keras2") for la in recurrent)
    assert gru.name == "gru_classifier"

    bi = build_model(
        ModelSpec(ModelConfig(8, 8, 1, 0.2, 0.3, bidirectional=True), dropout_style=style)
    )
    (wrapper,) = [la for la in bi.layers if isinstance(la, keras.layers.Bidirectional)]
    assert isinstance(wrapper.forward_layer, keras.layers.LSTM)
    assert wrapper.backward_layer.go_backwards and not wrapper.forward_layer.go_backwards
    assert isinstance(wrapper.backward_layer, Keras2LSTM) == (style == "keras2")

    for readout, pooling in (("max", keras.layers.GlobalMaxPooling1D),
                             ("mean", keras.layers.GlobalAveragePooling1D)):  # fmt: skip
        model = build_model(ModelSpec(ModelConfig(8, 8, 2, readout=readout), dropout_style=style))
        assert _count(model, pooling) == 1
        last = [la for la in model.layers if isinstance(la, keras.layers.LSTM)][-1]
        assert last.return_sequences  # the pooling reads every step's state
    plain = build_model(ModelSpec(ModelConfig(8, 8, 2), dropout_style=style))
    assert _count(plain, keras.layers.GlobalMaxPooling1D) == 0
    (last,) = [la for la in plain.layers if isinstance(la, keras.layers.LSTM)][-1:]
    assert not last.return_sequences


def test_the_configurations_learning_rate_wins_over_the_settings() -> None:
    own = build_model(ModelSpec(ModelConfig(8, 8, learning_rate=3e-3), default_learning_rate=1e-3))
    notebook = build_model(ModelSpec(ModelConfig(8, 8), default_learning_rate=5e-4))
    assert float(own.optimizer.learning_rate) == pytest.approx(3e-3)
    assert float(notebook.optimizer.learning_rate) == pytest.approx(5e-4)


# -- the cost cap ----------------------------------------------------------------------------
def test_the_cap_counts_a_bidirectional_layer_twice() -> None:
    forward = ModelConfig(64, 8)
    both = ModelConfig(64, 8, bidirectional=True)
    assert lstm_params(both) == 2 * lstm_params(forward)
    cap = lstm_params(forward)
    assert not over_cap(forward, cap) and over_cap(both, cap)
    # Stacked, the second layer also reads twice as many inputs: more than twice.
    assert lstm_params(ModelConfig(8, 8, 2, bidirectional=True)) > 2 * lstm_params(
        ModelConfig(8, 8, 2)
    )


def test_the_cap_counts_a_gru_by_its_three_gates() -> None:
    assert lstm_params(ModelConfig(16, 8, cell="gru")) == 3 * 16 * (8 + 16 + 2)


# -- training --------------------------------------------------------------------------------
EXTENDED_CONFIG = ModelConfig(
    8, 8, 2, 0.3, 0.4, cell="gru", bidirectional=True, readout="mean", learning_rate=3e-3
)


def test_an_extended_configuration_trains_as_replicas_under_jax(tiny_imdb: Path) -> None:
    data = load_dataset(DataSettings(source=str(tiny_imdb), maxlen=20, cache_dir=None))
    spec = ModelSpec(EXTENDED_CONFIG, vocab_size=VOCAB, sequence_length=20)
    result = train_repeats(spec, data, TrainSettings(epochs=1, eval_batch_size=40), [1, 2])
    assert result.mode == "vectorized"
    assert (
        result.n_params
        == build_model(ModelSpec(EXTENDED_CONFIG, sequence_length=20)).count_params()
    )
    assert len(result.val_accuracy[0]) == 2 and all(np.isfinite(result.loss[0]))
    assert not np.array_equal(result.weights[0][1], result.weights[1][1])


def test_an_extended_configuration_trains_under_tensorflow(tiny_imdb: Path) -> None:
    code = textwrap.dedent(
        f"""
        import json
        from search_spaces import ModelConfig, ModelSpec
        from study.training.data import DataSettings, load_dataset
        from study.training.settings import TrainSettings
        from study.training.trainer import train_repeats

        data = load_dataset(DataSettings(source={str(tiny_imdb)!r}, maxlen=20, cache_dir=None))
        config = ModelConfig(8, 8, 2, 0.3, 0.4, cell="gru", bidirectional=True, readout="mean",
                             learning_rate=3e-3)
        spec = ModelSpec(config, vocab_size=1000, sequence_length=20)
        result = train_repeats(spec, data, TrainSettings(epochs=1, eval_batch_size=40), [1])
        print(json.dumps({{"mode": result.mode, "val": result.val_accuracy,
                          "loss": result.loss, "n_params": result.n_params}}))
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["mode"] == "sequential" and len(out["val"]) == 1
    assert (
        out["n_params"]
        == build_model(ModelSpec(EXTENDED_CONFIG, sequence_length=20)).count_params()
    )
    assert np.isfinite(out["loss"][0][0])


# -- the study -------------------------------------------------------------------------------
def test_the_confirmation_takes_the_extended_params_of_the_best_trials() -> None:
    from study.reruns.confirmation import candidates

    study = optuna.create_study(direction="maximize")
    study.set_user_attr("config", {"space": "extended"})
    best = EXTENDED_CONFIG.as_params()
    study.add_trial(create_trial(params=best, distributions=ALL_DISTRIBUTIONS, value=0.8))
    found = candidates(study, top=1, baseline=True)
    top = [c for c in found if c.source_trial is not None]
    assert len(top) == 1 and top[0].params == best
    assert top[0].key == config_key(best)
    baselines = [c for c in found if c.source_trial is None]
    assert len(baselines) == 14
    assert all({k: c.params[k] for k in NOTEBOOK_CHOICES} == NOTEBOOK_CHOICES for c in baselines)


def _dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        return list(connection.iterdump())


def test_an_unknown_space_is_refused_in_one_line(tmp_path: Path) -> None:
    result = run_optimize("--space", "wide", "--storage", "sqlite:///s.db", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--space" in result.stderr
    assert "'wide'" in result.stderr and not (tmp_path / "s.db").exists()


def test_a_learning_rate_flag_with_the_extended_space_is_refused(tmp_path: Path) -> None:
    result = run_optimize(
        "--space", "extended", "--learning-rate", "0.01", "--storage", "sqlite:///s.db",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "--learning-rate 0.01 with --space extended" in result.stderr
    assert not (tmp_path / "s.db").exists()


def test_an_extended_study_runs_records_its_space_and_refuses_another(
    tiny_imdb: Path, tmp_path: Path
) -> None:
    flags = [
        "--space", "extended", "--trials", "3", "--no-baseline", "--epochs", "1",
        "--data", str(tiny_imdb), "--maxlen", "20", "--storage", "sqlite:///s.db",
        "--cache-dir", str(tmp_path / "cache"), "--confirm-top", "0",
    ]  # fmt: skip
    first = run_optimize(*flags, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "; space extended" in first.stderr
    study = optuna.load_study(storage=f"sqlite:///{tmp_path / 's.db'}", study_name="rnn-design")
    assert study.user_attrs["config"]["space"] == "extended"
    trained = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(trained) >= 3
    assert all(set(t.params) == set(ALL_DISTRIBUTIONS) for t in trained)

    before = _dump(tmp_path / "s.db")
    notebook = [f for f in flags if f not in ("--space", "extended")]
    again = run_optimize(*notebook, cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.strip().count("\n") == 0
    assert "--space extended (stored) vs notebook (now)" in again.stderr
    assert _dump(tmp_path / "s.db") == before


def test_the_extended_space_samples_its_new_axes_after_the_notebooks_grid() -> None:
    # The grid sits at one value of each new axis; TPE fed only the grid kept proposing it.
    from study.setup.baselines import enqueue_baseline
    from study.setup.sampling import (
        EXTENDED_STARTUP_TRIALS,
        STARTUP_TRIALS,
        make_sampler,
        startup_trials,
    )

    notebook = optuna.create_study(direction="maximize")
    enqueue_baseline(notebook)
    assert startup_trials(notebook) == STARTUP_TRIALS

    study = optuna.create_study(direction="maximize")
    study.set_user_attr("config", {"space": "extended"})
    enqueue_baseline(study)
    assert startup_trials(study) == 14 + EXTENDED_STARTUP_TRIALS
    study.sampler = make_sampler(0, startup_trials(study))
    rng = np.random.default_rng(0)
    proposed = []
    for _ in range(14 + EXTENDED_STARTUP_TRIALS):
        trial = study.ask()
        proposed.append(EXTENDED.suggest(trial))
        study.tell(trial, 0.8 + rng.normal(0, 0.01))  # noise: no choice is better
    sampled = proposed[14:]
    assert sum(c.cell == "gru" for c in sampled) >= 5
    assert sum(bool(c.bidirectional) for c in sampled) >= 5
    assert sum(c.readout != "last" for c in sampled) >= 5
