"""The report's figures, checked on their data (traces, Axes), from trials made without training.

History and slice figures are Optuna's (``optuna.visualization`` and its matplotlib twin)
labelled ``val_accuracy``; the importance figure and the Pareto fronts are ours (importances with
intervals and a noise floor, ``reports.importance``), and in a multi-objective study the
accuracy-vs-parameters front must be Optuna's own ``study.best_trials``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from reports import analysis, importance, plots
from reports.importance import ImportanceResult, compute_importances
from reports.tables import NOTEBOOK_PARAMS as PARAMS  # a notebook study's five
from reports.tables import study_frame
from search_spaces.config import ModelConfig
from tests.report_studies import add, add_baselines


@pytest.fixture(autouse=True)
def no_warnings() -> Iterator[None]:
    """Any warning a figure raises would reach the user's terminal: make it an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def study_with(directions: list[str] | None = None) -> optuna.Study:
    study = optuna.create_study(directions=directions or ["maximize"])
    add_baselines(study)
    add(study, ModelConfig(100, 50, 2, 0.3, 0.1), 0.9, seconds=30.0)
    add(study, ModelConfig(20, 10), 0.6, state=TrialState.PRUNED)
    add(study, ModelConfig(20, 10), None, state=TrialState.FAIL)
    return study


def figures(study: optuna.Study, name: str):
    frame = study_frame(study)
    imp = compute_importances(study, resamples=3, permutations=3)
    return (
        plots.static_figure(name, study, frame, imp),
        plots.interactive_figure(name, study, frame, imp),
    )


def complete_values(study: optuna.Study) -> tuple[list[int], list[float]]:
    done = study.get_trials(states=(TrialState.COMPLETE,))
    return [t.number for t in done], [t.values[0] for t in done]


@pytest.mark.parametrize("directions", [["maximize"], ["maximize", "minimize"]])
def test_history_is_optunas_on_validation_accuracy(directions: list[str]) -> None:
    study = study_with(directions)
    numbers, values = complete_values(study)
    static, interactive = figures(study, "history")
    trace = next(t for t in interactive.data if t.name == "val_accuracy")
    assert list(trace.x) == numbers and list(trace.y) == pytest.approx(values)
    assert interactive.layout.yaxis.title.text == "val_accuracy"
    ax = static.axes[0]
    assert ax.get_ylabel() == "val_accuracy"
    assert ax.collections[0].get_offsets().tolist() == [
        [n, v] for n, v in zip(numbers, values, strict=True)
    ]
    best = [t for t in interactive.data if t.name == "Best Value"]
    if len(directions) == 1:  # Optuna draws the best so far only when it knows the direction
        expected = np.maximum.accumulate(values)
        assert [best[0].y[n] for n in numbers] == pytest.approx(expected)
        assert ax.lines[0].get_ydata()[numbers] == pytest.approx(expected)
    else:
        assert not best


def test_slice_is_optunas_with_every_parameter() -> None:
    study = study_with()
    numbers, values = complete_values(study)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    static, interactive = figures(study, "slice")
    assert len(interactive.data) == len(PARAMS)
    axis_titles = {
        interactive.layout[k].title.text: k.replace("axis", "")
        for k in interactive.layout
        if k.startswith("xaxis")
    }
    assert set(axis_titles) == set(PARAMS)
    for trace in interactive.data:
        param = next(p for p, x in axis_titles.items() if x == trace.xaxis)
        assert list(trace.y) == pytest.approx(values)
        assert list(trace.x) == pytest.approx([t.params[param] for t in done])
    panels = [ax for ax in static.axes if ax.get_xlabel() in PARAMS]
    assert sorted(ax.get_xlabel() for ax in panels) == sorted(PARAMS)
    assert panels[0].get_ylabel() == "val_accuracy"
    for ax in panels:
        ys = ax.collections[0].get_offsets()[:, 1]
        assert sorted(ys) == pytest.approx(sorted(values))
    units = next(ax for ax in panels if ax.get_xlabel() == "units")
    assert units.get_xscale() == "log"  # the search space samples units on a log scale


def _result(above: dict[str, bool], target: str = "final") -> ImportanceResult:
    """Importances as ``compute_importances`` returns them, with chosen verdicts."""
    n = len(above)
    table = pd.DataFrame(
        {
            "param": list(above),
            "importance": [1 / n] * n,
            "raw": [0.05 - 0.01 * i for i in range(n)],
            "low": [0.04 - 0.01 * i for i in range(n)],
            "high": [0.07 - 0.01 * i for i in range(n)],
            "first_share": [1 / n] * n,
            "floor": [0.025 + 0.001 * i for i in range(n)],
            "p_value": [0.01 if a else 0.4 for a in above.values()],
            "p_single": [0.01] * n,
            "above_noise": list(above.values()),
        }
    )
    return ImportanceResult(table, "ped-anova", target, 81, 50, 100, 0)


def test_importance_figure_draws_intervals_floors_and_labels_noise() -> None:
    # recurrent_dropout is largest but under its floor: listed after the ones above noise, in
    # search-space order with the other noise, grey and labelled.
    imp = _result({"recurrent_dropout": False, "units": True, "dropout": True,
                   "embedding_dim": False, "layers": False}, target="first-epoch")  # fmt: skip
    view = plots.importance_view(imp)
    assert list(view["param"]) == [
        "units", "dropout", "embedding_dim", "layers", "recurrent_dropout"
    ]  # fmt: skip
    table = imp.table.set_index("param")
    units = view.set_index("param").loc["units"]
    assert units["minus"] == pytest.approx(table.loc["units", "raw"] - table.loc["units", "low"])
    assert units["plus"] == pytest.approx(table.loc["units", "high"] - table.loc["units", "raw"])
    study = optuna.create_study()
    static = plots.static_figure("importance", study, study_frame(study), imp)
    interactive = plots.interactive_figure("importance", study, study_frame(study), imp)
    # plotly: one bar trace per verdict, the labels on the bars, a floor marker per parameter.
    bars = {t.name: t for t in interactive.data if t.type == "bar"}
    assert list(bars[importance.ABOVE].y) == ["units", "dropout"]
    assert list(bars[importance.NOISE].y) == ["embedding_dim", "layers", "recurrent_dropout"]
    assert list(bars[importance.NOISE].text) == [importance.NOISE] * 3
    assert list(bars[importance.ABOVE].error_x.arrayminus) == pytest.approx([0.01, 0.01])
    (floor,) = [t for t in interactive.data if t.type == "scatter"]
    assert dict(zip(floor.y, floor.x, strict=True)) == pytest.approx(dict(table["floor"]))
    assert "after epoch 1, 81 trained" in interactive.layout.title.text
    # matplotlib: the same order top to bottom, the noise text beside each grey bar.
    ax = static.axes[0]
    ticks = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])
    assert [t.get_text() for t in ticks] == list(view["param"])
    labels = [t.get_text().strip() for t in ax.texts]
    assert labels.count(importance.NOISE) == 3
    (floor_line,) = [c for c in ax.collections if c.get_label().startswith("noise floor")]
    assert len(floor_line.get_offsets()) == 5


@pytest.mark.parametrize("directions", [["maximize"], ["maximize", "minimize"]])
def test_importance_figure_draws_the_computed_importances(directions: list[str]) -> None:
    study = optuna.create_study(directions=directions)
    for i, units in enumerate([8, 16, 32, 64, 128] * 3 + [200]):
        add(study, ModelConfig(units, 8 + i), 0.5 + units / 1000)
    static, interactive = figures(study, "importance")
    imp = compute_importances(study, resamples=3, permutations=3)
    drawn = {
        y: x for t in interactive.data if t.type == "bar" for y, x in zip(t.y, t.x, strict=True)
    }
    assert drawn == pytest.approx(dict(zip(imp.table["param"], imp.table["raw"], strict=True)))
    ax = static.axes[0]
    widths = {
        t.get_text(): p.get_width() for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)
    }
    assert widths == pytest.approx(drawn)


def test_pareto_front_marks_baselines_and_its_front() -> None:
    study = study_with()
    frame = study_frame(study)
    static, interactive = figures(study, "pareto")
    for col, cost in enumerate(analysis.COSTS):
        front = frame[analysis.pareto_mask(frame, cost)].sort_values(cost)
        (line,) = [t for t in interactive.data if t.name == "Pareto front" and t.xaxis == (
            "x" if col == 0 else f"x{col + 1}")]  # fmt: skip
        assert list(line.x) == list(front[cost]) and list(line.y) == list(front["val_accuracy"])
        ax = static.axes[col]
        labels = [c.get_label() for c in ax.collections]
        assert labels == ["sampled trial", "notebook configuration", "Pareto front"]
        notebook = ax.collections[1].get_offsets()
        assert len(notebook) == 14  # every baseline is complete here
        assert (
            ax.collections[2].get_offsets().tolist()
            == front[[cost, "val_accuracy"]].values.tolist()
        )


def test_multi_objective_front_is_optunas_best_trials() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    add_baselines(study, {"Part 1: RNN with 8 LSTM units": 0.70})
    for units, emb, val in ((8, 4, 0.79), (12, 6, 0.805), (128, 64, 0.83), (256, 128, 0.82)):
        add(study, ModelConfig(units, emb), val)
    frame = study_frame(study)
    ours = set(frame.loc[analysis.pareto_mask(frame, "n_params"), "number"])
    assert ours == {t.number for t in study.best_trials}
    assert len(ours) > 2


@pytest.mark.parametrize("states", [[], [TrialState.PRUNED, TrialState.FAIL]])
def test_without_complete_trials_every_figure_says_so(tmp_path: Path, states) -> None:
    study = optuna.create_study(direction="maximize")
    for state in states:
        add(study, ModelConfig(8, 8), 0.5 if state == TrialState.PRUNED else None, state=state)
    frame = study_frame(study)
    imp = compute_importances(study)
    written = plots.save_figures(tmp_path, study, frame, imp, ["png", "svg", "html"])
    assert {p.name for p in written} == {
        f"{name}.{fmt}" for name in plots.FIGURES for fmt in ("png", "svg", "html")
    }
    for name in plots.FIGURES:
        static = plots.static_figure(name, study, frame, imp)
        text = " ".join(t.get_text() for t in static.texts)
        interactive = plots.interactive_figure(name, study, frame, imp)
        note = " ".join(a.text for a in interactive.layout.annotations)
        expected = "No parameter importances" if name == "importance" else "No complete trial yet"
        assert expected in text and expected in note, name


def test_one_trial_gets_optunas_plots_and_no_importances(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    add(study, ModelConfig(16, 16), 0.7)
    frame = study_frame(study)
    imp = compute_importances(study)
    assert not imp.available
    plots.save_figures(tmp_path, study, frame, imp, ["png"])
    history = plots.interactive_figure("history", study, frame, imp)
    assert [list(t.x) for t in history.data if t.name == "val_accuracy"] == [[0]]
    importance = plots.static_figure("importance", study, frame, imp)
    assert "needs at least 5 trials" in importance.texts[0].get_text()
