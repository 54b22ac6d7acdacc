"""Reports of an extended study (``--space extended``), and a notebook study's left as it was.

Studies are built with ``optuna.trial.create_trial`` on the real distributions
(``search_spaces.lstm.ALL_DISTRIBUTIONS``): no training anywhere.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState
from scipy import stats

from reports import choices, plots, reference
from reports.build import build_report, compute, document, findings_markdown
from reports.importance import compute_importances
from reports.tables import (
    EXTENDED_PARAMS,
    NOTEBOOK_PARAMS,
    PARAMS,
    config_key,
    config_text,
    shown_params,
    study_frame,
)
from search_spaces.baseline import BASELINE_GRID
from search_spaces.config import ModelConfig
from search_spaces.keys import row_params
from search_spaces.lstm import ALL_DISTRIBUTIONS
from tests.conftest import ROOT
from tests.report_studies import add, add_baselines

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: The sampled trials of ``extended_study``, numbered 14.. after the notebook's 14.
SAMPLED: list[tuple[ModelConfig, float]] = [
    (ModelConfig(64, 32, 1, 0.2, 0.1, "gru", True, "mean", 0.005), 0.84),  # 14: the best
    (ModelConfig(16, 8, 2, 0.0, 0.3, "gru", False, "max", 0.0002), 0.82),  # 15
    (ModelConfig(32, 16, 1, 0.5, 0.0, "gru", True, "mean", 0.002), 0.83),  # 16
    (ModelConfig(100, 50, 3, 0.1, 0.2, "lstm", True, "max", 0.008), 0.79),  # 17
    (ModelConfig(12, 9, 1, 0.3, 0.4, "lstm", False, "mean", 0.0005), 0.81),  # 18
]
BEST = SAMPLED[0][0]
NOTEBOOK_VALS = [0.80 + 0.001 * i for i in range(14)]  # add_baselines' accuracies
BIGRAMS_TEST = 0.8331


def ref_model(name: str, label: str, val: float, test: float) -> dict[str, Any]:
    return {
        "name": name, "label": label, "features": "f", "n_features": 1000, "c": 0.03,
        "val_accuracy": val, "test_accuracy": test, "test_low": test - 0.005,
        "test_high": test + 0.005, "n_test": 25000, "fit_seconds": 2.0,
    }  # fmt: skip


REFERENCES = {
    "data_fingerprint": "x",
    "models": [
        ref_model("bow", "bag of words", 0.82, 0.825),
        ref_model("bigrams", "bag of bigrams", 0.835, BIGRAMS_TEST),
    ],
}


def extended_study(storage: str | None = None, name: str = "s") -> optuna.Study:
    """An extended study: the notebook's 14 at its choices, 5 sampled, 1 pruned, 1 failed."""
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    study.set_user_attr("config", {"space": "extended", "epochs": 2})
    study.set_user_attr("reference_models", REFERENCES)
    add_baselines(study, extended=True)
    for config, val in SAMPLED:
        add(study, config, val)
    add(study, ModelConfig(20, 10, 1, 0.0, 0.0, "gru", True, "last", 0.001), 0.6,
        state=TrialState.PRUNED)  # fmt: skip
    add(study, ModelConfig(40, 10, 1, 0.0, 0.0, "lstm", False, "max", 0.003), None,
        state=TrialState.FAIL)  # fmt: skip
    return study


def confirm_study(study: optuna.Study, best_test: float, test_std: float = 0.001) -> None:
    """``<name>-confirm`` in the same storage: the best and the notebook's LSTM(128), 3 seeds."""
    confirm = optuna.create_study(
        storage=study._storage, study_name=f"{study.study_name}-confirm", direction="maximize"
    )
    lstm128 = BASELINE_GRID[4]
    for r in range(3):
        offset = (r - 1) * test_std
        add(confirm, BEST, 0.835 + offset, test=best_test + offset, extra={"repeat": r})
        add(confirm, lstm128.config.with_notebook_choices(), 0.81 + offset, test=0.80 + offset,
            baseline=lstm128.label, extra={"repeat": r})  # fmt: skip


def notebook_study() -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    add_baselines(study)
    add(study, ModelConfig(100, 50, 2, 0.3, 0.1), 0.9)
    add(study, ModelConfig(20, 10), 0.6, state=TrialState.PRUNED)
    study.set_user_attr("reference_models", REFERENCES)
    return study


FAST = {"resamples": 2, "permutations": 3}


# --- tables ----------------------------------------------------------------------------------


def test_the_four_params_are_columns_with_their_values() -> None:
    frame = study_frame(extended_study())
    assert shown_params(frame) == list(PARAMS)
    best = frame.loc[14]
    assert (best["cell"], best["bidirectional"], best["readout"]) == ("gru", True, "mean")
    assert best["learning_rate"] == pytest.approx(0.005)
    assert frame.loc[0, ["cell", "bidirectional", "readout"]].tolist() == ["lstm", False, "last"]
    assert frame.loc[0, "learning_rate"] == pytest.approx(1e-3)


def test_config_key_and_row_params_roundtrip_through_the_table() -> None:
    frame = study_frame(extended_study())
    for number, (config, _) in enumerate(SAMPLED, start=14):
        row = frame.loc[number]
        assert row_params(row) == config.as_params()
        assert config_key(row) == config_key(config.as_params())
        assert "cell=" in config_key(row) or config.cell == "lstm"
    # A notebook configuration at the notebook's choices has the notebook space's key.
    assert config_key(frame.loc[4]) == config_key(BASELINE_GRID[4].config.as_params())
    assert row_params(frame.loc[4]) == BASELINE_GRID[4].config.with_notebook_choices().as_params()


def test_a_configuration_reads_in_words() -> None:
    assert config_text(BEST.as_params()) == (
        "GRU, bidirectional, mean readout, learning rate 0.005; "
        "units=64, embedding_dim=32, layers=1, dropout=0.2, recurrent_dropout=0.1"
    )
    lr = ModelConfig(8, 8, 1, 0.0, 0.0, "lstm", False, "max", 0.0012345)
    assert config_text(lr.as_params()).startswith(
        "LSTM, forward only, max readout, learning rate 0.00123;"
    )
    notebook = BASELINE_GRID[0].config.as_params()
    assert config_text(notebook) == (
        "units=8, embedding_dim=8, layers=1, dropout=0, recurrent_dropout=0"
    )


def test_the_reports_tables_show_the_four_params_readably(tmp_path: Path) -> None:
    study = extended_study()
    confirm_study(study, 0.845)
    data = compute(study, optuna.load_study(study_name="s-confirm", storage=study._storage))
    doc = document(study, data)
    tables = [body for kind, body in doc.blocks if kind == "table"]
    pareto = [t for t in tables if "val_accuracy" in t.columns and "number" in t.columns]
    assert pareto and all(set(PARAMS) <= set(t.columns) for t in pareto)
    top = pareto[0].set_index("number").loc[14]  # the best is on both fronts
    assert (top["cell"], top["bidirectional"], top["learning_rate"]) == ("gru", "True", "0.005")
    repeated = next(t for t in tables if {"source", "val acc"} <= set(t.columns))
    assert set(EXTENDED_PARAMS) <= set(repeated.columns)
    assert sorted(repeated["cell"]) == ["gru", "lstm"]
    md = findings_markdown(study, data)
    answer = next(line for line in md.splitlines() if line.startswith("**Answer**"))
    assert "trial #14 (GRU, bidirectional, mean readout, learning rate 0.005; units=64" in answer
    facts = next(body for kind, body in doc.blocks if kind == "ul")
    assert any(f.startswith("search space: extended") for f in facts)
    best_run = next(f for f in facts if f.startswith("best single run"))
    assert "cell=gru, bidirectional=True, readout=mean, learning_rate=0.005" in best_run


# --- the extended axes -----------------------------------------------------------------------


def _groups(key) -> dict[Any, list[float]]:
    """Validation accuracies of the complete trials by ``key(config)``, computed by hand."""
    out: dict[Any, list[float]] = {}
    notebook = [e.config.with_notebook_choices() for e in BASELINE_GRID]
    for config, val in [*zip(notebook, NOTEBOOK_VALS, strict=True), *SAMPLED]:
        out.setdefault(key(config), []).append(val)
    return out


def _lr_bin(config: ModelConfig) -> str:
    lr = config.learning_rate
    assert lr is not None
    edges = choices.LEARNING_RATE_BINS
    i = next(i for i in range(len(edges) - 1) if edges[i] <= lr < edges[i + 1])
    return f"{edges[i]:g}–{edges[i + 1]:g}"


@pytest.mark.parametrize(
    ("param", "key", "notebook_group"),
    [
        ("cell", lambda c: c.cell, "lstm"),
        ("bidirectional", lambda c: str(c.bidirectional), "False"),
        ("readout", lambda c: c.readout, "last"),
        ("learning_rate", _lr_bin, "0.001–0.003"),
    ],
)
def test_each_extended_param_has_a_section_of_its_groups(param, key, notebook_group) -> None:
    data = compute(extended_study(), importance_settings=FAST)
    assert [c.param for c in data.choices] == list(EXTENDED_PARAMS)
    section = next(c for c in data.choices if c.param == param)
    table = section.table.set_index("value")
    expected = _groups(key)
    assert table.loc[table["trials"] > 0].index.tolist() == [
        v for v in table.index if v in expected
    ]  # the space's order, every tried value
    for value, vals in expected.items():
        assert table.loc[value, "trials"] == len(vals), value
        assert table.loc[value, "val_median"] == pytest.approx(statistics.median(vals)), value
        assert table.loc[value, "val_best"] == pytest.approx(max(vals)), value
        assert table.loc[value, "notebook_configs"] == (14 if value == notebook_group else 0)
    assert table["trials"].sum() == 19  # the pruned and the failed trial are left out
    assert "19 complete trials grouped by" in section.basis
    assert "1 pruned trial is left out" in section.basis and "1 failed" in section.basis
    text = " ".join(section.findings)
    assert "not a controlled comparison" in text and "not the seed-to-seed spread" in text
    assert f"#14, 84.00%) used {param} =" in text
    leader = max(expected, key=lambda v: statistics.median(expected[v]))
    assert f"highest first: {leader} {statistics.median(expected[leader]):.2%}" in text
    md = findings_markdown(extended_study(), data)
    assert f"### {section.title}" in md and section.findings[0] in md


def test_learning_rate_bins_close_on_the_left_and_hold_the_spaces_top() -> None:
    values = pd.Series([1e-4, 2.99e-4, 3e-4, 1e-3, 3e-3, 0.0099, 1e-2])
    assert choices.group_labels("learning_rate", values).tolist() == [
        "0.0001–0.0003", "0.0001–0.0003", "0.0003–0.001", "0.001–0.003", "0.003–0.01",
        "0.003–0.01", "0.003–0.01",
    ]  # fmt: skip


def test_a_value_no_trial_tried_is_listed_and_said() -> None:
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("config", {"space": "extended"})
    for i, cell in enumerate(["lstm", "gru", "lstm"]):
        add(study, ModelConfig(8 + i, 8, 1, 0.0, 0.0, cell, False, "last", 1e-3), 0.7 + 0.01 * i)
    data = compute(study)
    readout = next(c for c in data.choices if c.param == "readout")
    assert readout.table["trials"].tolist() == [3, 0, 0]
    assert "every complete trial used last (3 trials): nothing to compare" in readout.findings[0]
    cell = next(c for c in data.choices if c.param == "cell")
    assert "lstm 71.00% (70.00%–72.00%; 2 trials); gru 71.00% (1 trial)" in cell.findings[0]
    assert "lstm leads gru by 0.0 pp (no interval: gru has 1 trial)" in cell.findings[0]


def test_groups_compare_with_intervals_that_tell_a_lead_from_the_spread() -> None:
    # Six GRUs clearly above six LSTMs; within each cell, bidirectional and forward interleave.
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("config", {"space": "extended"})
    rng = np.random.default_rng(3)
    vals: dict[tuple[str, bool], list[float]] = {}
    for i in range(12):
        cell, bidirectional = ("gru", "lstm")[i % 2], bool(i // 2 % 2)
        val = (0.84 if cell == "gru" else 0.80) + float(rng.normal(0, 0.004))
        vals.setdefault((cell, bidirectional), []).append(val)
        add(study, ModelConfig(8 + i, 8, 1, 0.0, 0.0, cell, bidirectional, "last", 1e-3), val)
    data = compute(study)
    cell = next(c for c in data.choices if c.param == "cell").table.set_index("value")
    for value in ("gru", "lstm"):
        group = [v for (c, _), vs in vals.items() if c == value for v in vs]
        low, mid, high = cell.loc[value, ["val_low", "val_median", "val_high"]]
        assert min(group) <= low < mid < high <= max(group), value
    assert cell.loc["gru", "val_low"] > cell.loc["lstm", "val_high"]
    (text,) = next(c for c in data.choices if c.param == "cell").findings[:1]
    assert "By medians, gru leads lstm by" in text and "beyond the trials' spread" in text
    gap = text.split("gru leads lstm by ")[1]
    low, high = (float(x) for x in gap.split("95 % interval ")[1].split(" pp")[0].split(" to "))
    assert 0 < low < float(gap.split(" pp")[0]) < high
    (text,) = next(c for c in data.choices if c.param == "bidirectional").findings[:1]
    assert "within the trials' spread" in text and "beyond" not in text
    assert compute(study).choices[0].table.equals(data.choices[0].table)  # rebuilt the same


@pytest.mark.parametrize("states", [[], [TrialState.PRUNED, TrialState.FAIL]])
def test_an_extended_study_without_complete_trials_says_so(tmp_path: Path, states) -> None:
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("config", {"space": "extended"})
    config = ModelConfig(8, 8, 1, 0.0, 0.0, "gru", True, "max", 0.002)
    for state in states:
        add(study, config, 0.5 if state == TrialState.PRUNED else None, state=state)
    data = build_report(study, tmp_path, ["png"])
    assert [c.param for c in data.choices] == list(EXTENDED_PARAMS)
    for choice in data.choices:
        assert choice.findings == [f"{choice.param}: no complete trial has it yet."]
        assert choice.table["trials"].sum() == 0
        assert choice.basis.startswith(
            f"This section reads the whole study, 0 complete trials grouped by {choice.param};"
        )
    assert ("1 pruned trial is left out" in data.choices[0].basis) == bool(states)


def test_the_confirmed_configurations_are_set_out_by_value() -> None:
    study = extended_study()
    confirm_study(study, 0.845)
    data = compute(study, optuna.load_study(study_name="s-confirm", storage=study._storage))
    cell = next(c for c in data.choices if c.param == "cell")
    (sentence,) = [f for f in cell.findings if f.startswith("Of the 2 configurations repeated")]
    assert "gru: 1 configuration, best mean 83.50% ± 0.10 pp over 3 seeds" in sentence
    assert "lstm: 1 configuration, best mean 81.00% ± 0.10 pp over 3 seeds" in sentence
    assert "The best by mean uses cell = gru" in sentence


# --- importances and figures -----------------------------------------------------------------


def sampled_extended(n: int, seed: int) -> optuna.Study:
    """``n`` trials drawn at random from the extended space; a GRU is 3 pp better."""
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed)
    )
    rng = np.random.default_rng(seed)
    for _ in range(n):
        trial = study.ask(fixed_distributions=ALL_DISTRIBUTIONS)
        gain = 0.03 if trial.params["cell"] == "gru" else 0.0
        study.tell(trial, 0.8 + gain + float(rng.normal(0, 0.005)))
    return study


def test_importances_judge_the_four_params_against_their_own_floors() -> None:
    # Nine params: min-p needs about 20 * (9 + 1) permutations to reach 5 % family-wise.
    result = compute_importances(sampled_extended(40, 0), resamples=5, permutations=200, seed=0)
    table = result.table.set_index("param")
    assert set(table.index) == set(PARAMS)
    assert table.loc["cell", "above_noise"] and table.loc["cell", "p_value"] <= 0.05
    assert not table.drop(index="cell")["above_noise"].any()
    assert np.isfinite(table.loc[list(EXTENDED_PARAMS), "floor"]).all()
    assert result.verdicts()["cell"] and list(result.verdicts())[0] == "cell"


def test_fanova_takes_the_categorical_params_too() -> None:
    result = compute_importances(
        sampled_extended(20, 1), evaluator="fanova", resamples=1, permutations=2, seed=0
    )
    assert set(result.table["param"]) == set(PARAMS)
    assert result.table["param"].iloc[0] == "cell"


def test_the_slice_figure_has_a_panel_per_param_with_unquoted_choices() -> None:
    study = extended_study()
    frame = study_frame(study)
    imp = compute_importances(study, **FAST)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        interactive = plots.interactive_figure("slice", study, frame, imp)
        static = plots.static_figure("slice", study, frame, imp)
    titles = {
        interactive.layout[k].title.text: k.replace("axis", "")
        for k in interactive.layout
        if k.startswith("xaxis")
    }
    assert set(titles) == set(PARAMS) and len(interactive.data) == len(PARAMS)
    by_param = {p: next(t for t in interactive.data if t.xaxis == x) for p, x in titles.items()}
    for param in ("cell", "readout"):  # Optuna groups a choice's points; colour: the trial
        trace = by_param[param]
        drawn = dict(zip(trace.marker.color, trace.x, strict=True))
        assert drawn == {t.number: t.params[param] for t in done}, param
    assert list(by_param["learning_rate"].x) == pytest.approx(
        [t.params["learning_rate"] for t in done]
    )
    panels = {ax.get_xlabel(): ax for ax in static.axes if ax.get_xlabel() in PARAMS}
    assert set(panels) == set(PARAMS)
    assert [t.get_text() for t in panels["cell"].get_xticklabels()] == ["lstm", "gru"]
    assert panels["learning_rate"].get_xscale() == "log"


# --- the question: can any RNN design beat a bag of bigrams? ---------------------------------


def _half_width(rnn_test: float, std: float) -> float:
    """The 95 % interval of RNN minus bigrams: 3 seeds' t-interval and both test samplings."""
    seeds = stats.t.ppf(0.975, 2) * std / math.sqrt(3)
    sampling = 1.959964**2 * (rnn_test * (1 - rnn_test) + BIGRAMS_TEST * (1 - BIGRAMS_TEST))
    return math.sqrt(seeds**2 + sampling / 25000)


@pytest.mark.parametrize(
    ("best_test", "answer", "where", "noise"),
    [
        (0.845, "Yes", "above", "beyond noise"),
        (0.836, "Not beyond noise", "above", "within noise"),
        (0.830, "Not beyond noise", "below", "within noise"),
        (0.820, "No", "below", "beyond noise"),
    ],
)
def test_the_reference_sentence_answers_the_question_and_names_the_configuration(
    best_test: float, answer: str, where: str, noise: str
) -> None:
    study = extended_study()
    confirm_study(study, best_test)
    data = compute(study, optuna.load_study(study_name="s-confirm", storage=study._storage))
    assert data.confirmed is not None and data.confirmed["source_trial"] == 14
    sentence = reference.finding(
        data.frame, data.repeats, data.references, data.confirmed, data.space
    )
    assert sentence is not None
    diff, half = best_test - BIGRAMS_TEST, _half_width(best_test, 0.001)
    assert (abs(diff) > half) == (noise == "beyond noise")  # the cases are what they say
    assert sentence.startswith(
        "Can any RNN design of the extended space beat the best reference model, bag of "
        f"bigrams? {answer}: "
    ), sentence
    assert (
        "trial #14's configuration (GRU, bidirectional, mean readout, learning rate 0.005; "
        "units=64, embedding_dim=32, layers=1, dropout=0.2, recurrent_dropout=0.1), mean of 3 "
        f"seeds: {best_test:.4f} ± 0.0010"
    ) in sentence
    assert f"{100 * abs(diff):.2f} pp {where} bag of bigrams (0.8331" in sentence
    assert f"{noise} (95 % interval of the difference ± {100 * half:.2f} pp" in sentence
    md = findings_markdown(study, data)
    assert f"- {sentence}" in md  # the dashboard note carries it


def test_without_confirmation_the_sentence_names_the_single_best_trial() -> None:
    data = compute(extended_study())
    sentence = reference.finding(
        data.frame, data.repeats, data.references, data.confirmed, data.space
    )
    assert sentence is not None
    assert "best trial by validation, #14 (GRU, bidirectional, mean readout" in sentence
    assert "a single run" in sentence and "one run measures no seed spread" in sentence


# --- a notebook study's report is what it was ------------------------------------------------


def test_a_notebook_studys_report_has_no_extended_columns_or_sections(tmp_path: Path) -> None:
    study = notebook_study()
    data = build_report(study, tmp_path, ["png"], FAST)
    header = (tmp_path / "trials.csv").read_text().splitlines()[0].split(",")
    assert [c for c in header if c in PARAMS] == list(NOTEBOOK_PARAMS)
    doc = document(study, data)
    for kind, body in doc.blocks:
        if kind == "table":
            assert not set(EXTENDED_PARAMS) & set(body.columns), list(body.columns)
    md = (tmp_path / "report.md").read_text() + findings_markdown(study, data)
    for word in ("cell", "bidirectional", "readout", "extended", "Can any RNN"):
        assert word not in md, word
    assert "On test accuracy the best RNN (the best trial by validation, #14, a single run" in md
    assert data.space == "notebook" and data.choices == ()
    assert data.importances.table["param"].tolist() == [] or set(
        data.importances.table["param"]
    ) <= set(NOTEBOOK_PARAMS)


def test_python_m_reports_on_an_extended_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    study = extended_study(storage=url)
    confirm_study(study, 0.845)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "reports", "--storage", url, "--study-name", "s", "--out",
         str(out), "--importance-resamples", "2", "--importance-permutations", "3"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 21 and set(PARAMS) <= set(trials.columns)
    assert trials.loc[14, "cell"] == "gru" and bool(trials.loc[14, "bidirectional"])
    md = (out / "report.md").read_text()
    for choice in choices.TITLES.values():
        assert f"## Axis: {choice}" in md
    assert "| 0.003–0.01 | 2 | 0 |" in md  # trials 14 (0.005) and 17 (0.008)
    assert "bag of bigrams? Yes: " in md
    from optuna_dashboard import get_note

    note = get_note(optuna.load_study(storage=url, study_name="s"))
    assert "### Learning rate (extended space)" in note and "bag of bigrams? Yes" in note
