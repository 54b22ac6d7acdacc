"""Report data (tables, findings, Pareto fronts, importances) from trials made without training."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from reports import analysis, importance, repeats
from reports.build import compute, document, findings_markdown, importance_lines
from reports.findings import AXES, axis_sections, controlled_table
from reports.render import to_markdown
from reports.tables import COLUMNS, baseline_table, config_key, study_frame
from search_spaces.baseline import BASELINE_GRID
from search_spaces.config import ModelConfig
from tests.report_studies import add, add_baselines, n_params


def new_study(directions: list[str] | None = None) -> optuna.Study:
    return optuna.create_study(directions=directions or ["maximize"])


def test_trials_frame_has_one_row_per_trial_in_every_state() -> None:
    study = new_study()
    add(study, ModelConfig(8, 8), 0.8, baseline=BASELINE_GRID[0].label)
    add(study, ModelConfig(32, 16), 0.7, state=TrialState.PRUNED, epochs=2)
    add(study, ModelConfig(64, 4), None, state=TrialState.FAIL, extra={"fail_reason": "boom"})
    frame = study_frame(study)
    assert list(frame.columns) == list(COLUMNS)
    assert list(frame["state"]) == ["COMPLETE", "PRUNED", "FAIL"]
    assert list(frame["source"]) == [BASELINE_GRID[0].label, "sampler", "sampler"]
    assert frame.loc[1, "pruned_at_epoch"] == 2
    assert frame["pruned_at_epoch"].isna().tolist() == [True, False, True]
    assert math.isnan(frame.loc[2, "val_accuracy"])
    assert frame.loc[2, "fail_reason"] == "boom"
    assert frame.loc[0, "n_params"] == 8553  # the helper counts like Keras (notebook: 8,553)


def test_a_complete_trials_accuracy_is_its_value_not_a_user_attribute() -> None:
    study = new_study()
    # A retried trial starts with the user attributes of the run that died (Optuna's retry
    # callback copies them); the value Optuna stored for the trial is what it measured.
    add(study, ModelConfig(8, 8), 0.8, extra={"val_accuracy": 0.55})
    add(study, ModelConfig(8, 16), 0.6, state=TrialState.PRUNED)  # a pruned one has no value
    frame = study_frame(study)
    assert frame.loc[0, "val_accuracy"] == pytest.approx(0.8)
    assert frame.loc[1, "val_accuracy"] == pytest.approx(0.6)
    multi = new_study(["maximize", "minimize"])
    add(multi, ModelConfig(8, 8), 0.7, extra={"val_accuracy": 0.55})
    assert study_frame(multi).loc[0, "val_accuracy"] == pytest.approx(0.7)


def test_nan_and_garbage_attributes_become_nan() -> None:
    study = new_study()
    add(study, ModelConfig(8, 8), 0.8, extra={"test_accuracy": float("nan"), "n_params": "x"})
    frame = study_frame(study)
    assert math.isnan(frame.loc[0, "test_accuracy"])
    assert math.isnan(frame.loc[0, "n_params"])
    assert frame.loc[0, "val_accuracy"] == pytest.approx(0.8)


def test_baseline_table_sets_the_notebook_beside_the_measurement() -> None:
    study = new_study()
    add_baselines(study, params_offset=7)  # measured counts differ from the notebook's here
    add(study, ModelConfig(100, 100), 0.9)  # a sampled trial is not a baseline row
    table = baseline_table(study_frame(study))
    assert len(table) == 14
    assert list(table["heading"]) == [e.label for e in BASELINE_GRID]
    assert list(table["notebook_params"]) == [e.notebook_params for e in BASELINE_GRID]
    assert list(table["n_params"]) == [e.notebook_params + 7 for e in BASELINE_GRID]
    assert table.loc[0, "notebook_test_accuracy"] == pytest.approx(0.82284)
    assert table.loc[0, "test_accuracy"] == pytest.approx(0.79)  # measured: val - 0.01
    assert math.isnan(table.loc[6, "notebook_test_accuracy"])  # none printed for embedding 16
    assert table.loc[3, "val_accuracy"] == pytest.approx(0.803)
    assert table.loc[3, "train_seconds"] == pytest.approx(4.0)


def test_baseline_table_marks_missing_and_pruned_baselines() -> None:
    study = new_study()
    first = BASELINE_GRID[0]
    add(study, first.config, 0.7, state=TrialState.PRUNED, baseline=first.label)
    table = baseline_table(study_frame(study))
    assert table.loc[0, "state"] == "PRUNED"
    assert (table.loc[1:, "state"] == "missing").all()
    assert table.loc[0, "val_accuracy"] == pytest.approx(0.7)  # its last epoch, marked PRUNED
    assert table.loc[1:, "val_accuracy"].isna().all()
    assert table.loc[0, "n_params"] == 8553


def test_axis_findings_say_they_rest_on_single_runs() -> None:
    study = new_study()
    labels = [e.label for e in BASELINE_GRID]
    add_baselines(study, {labels[0]: 0.70, labels[4]: 0.85})  # units 8 worst, 128 best
    data = compute(study)
    units = data.sections[0]
    assert units.axis.param == "units"
    assert list(units.controlled["value"]) == [8, 16, 32, 64, 128]
    assert units.findings[0].startswith("units 128 vs 8")
    assert "15.0 pp apart" in units.findings[0]
    assert "rests on single runs, so no interval can be given" in units.findings[0]
    assert "±" not in units.findings[0] and "ANOVA" not in units.findings[0]
    assert units.difference == pytest.approx(0.15) and units.difference_ci is None
    assert units.anova_p is None and units.anova_f is None and units.param == "units"
    assert "8,553 to 78,273" in units.findings[1]
    dropout = data.sections[2]
    assert "leaves the parameter count unchanged (33,321)" in dropout.findings[1]
    for section in data.sections:
        assert section.findings, section.axis.title
    assert "### Stacked LSTM layers" in findings_markdown(study, data)


def test_single_runs_get_an_interval_from_a_spread_measured_elsewhere() -> None:
    # The spread comes from repeats of two dropout-axis configurations; the units axis has only
    # its single runs, so each side of the difference is one run: n = 1 and 1.
    labels = [e.label for e in BASELINE_GRID]
    dropout_axis = [ModelConfig(8, 32, 1, 0.4, 0.5), ModelConfig(8, 32, 1, 0.7, 0.5)]
    confirm = confirm_study(0.005, {dropout_axis[0]: 0.80, dropout_axis[1]: 0.81})
    summary = repeats.summary(study_frame(confirm))
    study = new_study()
    add_baselines(study, {labels[0]: 0.70, labels[4]: 0.85})
    units = axis_sections(study_frame(study), summary, repeats.pooled_spread(summary))[0]
    half = 2.7764451 * 0.005 * math.sqrt(2)  # t(0.975, 4) from tables
    assert units.difference_ci == pytest.approx(half, rel=1e-6)
    assert f"15.0 ± {100 * half:.1f} pp apart (single runs; 95 %" in units.findings[0]
    assert units.anova_p is not None


def test_embedding_and_layer_axes_include_the_part_1_reference() -> None:
    study = new_study()
    add_baselines(study)
    frame = study_frame(study)
    by_param = {axis.param: controlled_table(axis, frame) for axis in AXES}
    assert list(by_param["embedding_dim"]["value"]) == [4, 8, 16, 32]
    assert list(by_param["layers"]["value"]) == [1, 3, 4, 8]
    assert list(by_param["dropout"]["value"]) == [0.4, 0.5, 0.7]


def confirm_study(spread: float, means: dict[ModelConfig, float], runs: int = 3) -> optuna.Study:
    study = new_study()
    labels = {e.config: e.label for e in BASELINE_GRID}
    for config, mean in means.items():
        for r in range(runs):
            offset = spread * (r - (runs - 1) / 2)
            add(study, config, mean + offset, baseline=labels.get(config), extra={"repeat": r})
    return study


def test_repeats_summary_gives_mean_and_std_per_configuration() -> None:
    a, b = ModelConfig(8, 8), ModelConfig(128, 8)
    study = confirm_study(0.01, {a: 0.80, b: 0.82})
    add(study, a, None, state=TrialState.FAIL)  # a failed repeat counts for nothing
    table = repeats.summary(study_frame(study))
    assert list(table["config"]) == [config_key(b.as_params()), config_key(a.as_params())]
    assert list(table["repeats"]) == [3, 3]
    assert table.loc[1, "val_mean"] == pytest.approx(0.80)
    assert table.loc[1, "val_std"] == pytest.approx(0.01)
    spread = repeats.pooled_spread(table)
    assert spread is not None and spread.std == pytest.approx(0.01)
    assert spread.dof == 4 and spread.configs == 2


@pytest.mark.parametrize(("gap", "verdict"), [(0.004, "within"), (0.05, "beyond")])
def test_axis_findings_compare_the_difference_with_the_spread(gap: float, verdict: str) -> None:
    a, b = ModelConfig(8, 8), ModelConfig(128, 8)
    confirm = confirm_study(0.005, {a: 0.80, b: 0.80 + gap})
    summary = repeats.summary(study_frame(confirm))
    spread = repeats.pooled_spread(summary)
    study = new_study()
    add_baselines(study)
    frame = study_frame(study)
    from reports.findings import axis_sections

    units = axis_sections(frame, summary, spread)[0]
    text = units.findings[0]
    assert text.startswith("units 128 vs 8"), text
    # Three repeats at 0.80 - 0.005, 0.80, 0.80 + 0.005 (and the same around 0.80 + gap): the
    # pooled std is 0.005 with 2 + 2 degrees of freedom; t(0.975, 4) = 2.7764 (tables).
    half = 2.7764451 * 0.005 * math.sqrt(1 / 3 + 1 / 3)
    assert units.difference == pytest.approx(gap)
    assert units.difference_ci == pytest.approx(half, rel=1e-6)
    assert f"{100 * gap:.1f} ± {100 * half:.1f} pp apart (means of 3 and 3 repeats; 95 %" in text
    assert "0.5 pp pooled over 2 configurations with 4 degrees of freedom" in text
    assert f"{verdict} seed noise" in text
    assert units.anova_p is not None and (units.anova_p < 0.05) == (verdict == "beyond")
    # F by hand: two settings of 3 runs, grand mean halfway: 2 * 3 * (gap / 2)^2 / 1 over 0.005^2
    assert units.anova_f == pytest.approx(6 * (gap / 2) ** 2 / 0.005**2)
    assert "one-way ANOVA across the 2 settings" in text
    assert "single runs" not in text
    table = baseline_table(frame, summary)
    assert table.loc[0, "repeats"] == 3 and table.loc[0, "val_mean"] == pytest.approx(0.80)
    assert math.isnan(table.loc[1, "val_mean"])  # not re-trained


def test_pareto_mask_keeps_only_undominated_trials() -> None:
    study = new_study()
    add(study, ModelConfig(8, 4), 0.70)  # smallest: on the front
    add(study, ModelConfig(8, 8), 0.65)  # bigger and worse: dominated
    add(study, ModelConfig(16, 8), 0.80)  # better: on the front
    add(study, ModelConfig(128, 64), 0.79)  # biggest and worse: dominated
    add(study, ModelConfig(8, 16), None, state=TrialState.FAIL)
    frame = study_frame(study)
    mask = analysis.pareto_mask(frame, "n_params")
    assert mask.tolist() == [True, False, True, False, False]
    assert n_params(ModelConfig(8, 4)) < n_params(ModelConfig(8, 8)) < n_params(ModelConfig(16, 8))


def test_pareto_fronts_hold_each_costs_front_cheapest_first() -> None:
    study = new_study()
    add(study, ModelConfig(16, 8), 0.80, seconds=1.0)  # big but fast and best: both fronts
    add(study, ModelConfig(8, 4), 0.70, seconds=5.0)  # smallest: the parameters' front only
    add(study, ModelConfig(8, 8), 0.65, seconds=0.5)  # fastest: the time front only
    add(study, ModelConfig(8, 4), 0.90, state=TrialState.PRUNED)  # pruned: on no front
    fronts = analysis.pareto_fronts(study_frame(study))
    assert list(fronts) == list(analysis.COSTS)
    assert fronts["n_params"]["number"].tolist() == [1, 0]
    assert fronts["train_seconds"]["number"].tolist() == [2, 0]


def test_importances_need_trials_and_say_what_they_explain() -> None:
    study = new_study()
    assert compute(study).importances.reason.startswith("needs at least 5 trials")
    rng = np.random.default_rng(0)
    for i, units in enumerate([8, 16, 32, 64, 128, 8, 16, 32, 64, 128, 8, 16, 32, 64, 128, 200]):
        add(study, ModelConfig(units, 8 + i), 0.5 + units / 1000 + rng.normal(0, 0.001))
    data = compute(study, importance_settings={"resamples": 5, "permutations": 5})
    imp = data.importances
    assert "PED-ANOVA" in imp.evaluator_name()
    assert imp.target_name() == "final validation accuracy, 16 complete trials"
    assert imp.table["param"].iloc[0] == "units"
    assert imp.table["importance"].sum() == pytest.approx(1.0)
    # Five permutations cannot reach a family-wise 5 %: nothing is called above noise, and the
    # note ranks nothing.
    assert not imp.table["above_noise"].any()
    assert "No parameter's importance is distinguishable from noise" in (
        findings_markdown(study, data)
    )


def _verdicts(above: dict[str, bool]) -> importance.ImportanceResult:
    table = pd.DataFrame(
        {
            "param": list(above),
            "importance": 0.2,
            "raw": [0.05 - 0.01 * i for i in range(len(above))],
            "low": 0.0,
            "high": 0.1,
            "first_share": 0.2,
            "floor": 0.03,
            "p_value": [0.01 if a else 0.5 for a in above.values()],
            "p_single": 0.01,
            "above_noise": list(above.values()),
        }
    )
    return importance.ImportanceResult(table, "ped-anova", "final", 39, 10, 10, 0)


def test_importance_note_names_only_parameters_above_noise_and_explains_disagreements() -> None:
    study = new_study()
    add_baselines(study)
    data = compute(study)
    ps = {"units": 0.32, "embedding_dim": 0.001, "dropout": 0.5, "layers": None}
    sections = [s._replace(anova_p=ps[s.axis.param]) for s in data.sections]
    imp = _verdicts({"units": True, "layers": True, "embedding_dim": False, "dropout": False,
                     "recurrent_dropout": False})  # fmt: skip
    lines = importance_lines(data._replace(sections=sections, importances=imp))
    assert lines[0].startswith("Above the noise floor") and "units, layers (largest" in lines[0]
    assert lines[1] == (
        "Not distinguishable from noise: embedding_dim, dropout, recurrent_dropout."
    )
    # units: importance above noise, ANOVA within seed noise; embedding_dim: the reverse;
    # dropout agrees (both noise); layers has no ANOVA.
    (units,) = [line for line in lines if line.startswith("units:")]
    assert "within seed noise (p = 0.320)" in units and "they test different things" in units
    (emb,) = [line for line in lines if line.startswith("embedding_dim:")]
    assert "differ beyond seed noise (p = 0.001)" in emb
    assert not any(line.startswith(("dropout:", "layers:")) for line in lines)
    none_above = _verdicts({"units": False, "layers": False})
    lines = importance_lines(data._replace(sections=sections, importances=none_above))
    assert "No parameter's importance is distinguishable from noise" in lines[0]
    assert "units:" not in " ".join(lines)  # both call units noise: they agree


def test_axis_section_carries_the_anova_p_value_its_sentence_quotes() -> None:
    a, b = ModelConfig(8, 8), ModelConfig(128, 8)
    confirm = confirm_study(0.005, {a: 0.80, b: 0.804})
    summary = repeats.summary(study_frame(confirm))
    spread = repeats.pooled_spread(summary)
    study = new_study()
    add_baselines(study)
    units = axis_sections(study_frame(study), summary, spread)[0]
    assert units.anova_p is not None
    assert f"p = {units.anova_p:.3f}" in units.findings[0]
    assert axis_sections(study_frame(study))[0].anova_p is None  # single runs: no test


def test_multi_objective_study_is_read_on_its_first_objective() -> None:
    study = new_study(["maximize", "minimize"])
    add_baselines(study)
    data = compute(study)
    assert data.frame["val_accuracy"].notna().all()
    assert data.importances.evaluator == "ped-anova"
    assert data.importances.trials == 14  # judged on accuracy, the first objective


def test_a_study_with_no_complete_trial_reports_so() -> None:
    study = new_study()
    add(study, ModelConfig(8, 8), 0.6, state=TrialState.PRUNED)
    add(study, ModelConfig(8, 8), None, state=TrialState.FAIL)
    data = compute(study)
    assert len(data.frame) == 2
    assert not data.importances.available
    assert "too few to compare" in data.sections[0].findings[0]
    assert data.sections[0].study.empty
    assert not analysis.pareto_mask(data.frame, "n_params").any()


def test_zero_and_one_trial_studies() -> None:
    empty = compute(new_study())
    assert empty.frame.empty and len(empty.baseline) == 14
    one = new_study()
    add(one, ModelConfig(16, 16), 0.7, baseline=BASELINE_GRID[6].label)
    data = compute(one)
    assert len(data.frame) == 1
    assert data.baseline.loc[6, "val_accuracy"] == pytest.approx(0.7)
    assert analysis.pareto_mask(data.frame, "train_seconds").tolist() == [True]
    assert "1 of the notebook's 4" in data.sections[1].findings[0]


def test_whole_study_finding_gives_the_rank_correlation() -> None:
    study = new_study()
    for units, val in ((8, 0.6), (16, 0.65), (32, 0.7), (64, 0.75)):
        add(study, ModelConfig(units, 8), val)
    units = compute(study).sections[0]
    assert "rank correlation of units with validation accuracy is +1.00" in units.findings[-1]
    assert "best trial (#3, 75.00%) used units = 64" in units.findings[-1]
    assert units.study["trials"].tolist() == [1, 1, 1, 1]


UNITS_AXIS = [
    e for e in BASELINE_GRID if e.config in {ModelConfig(u, 8) for u in (8, 16, 32, 64, 128)}
]


def repeats_frame(values: dict[ModelConfig, list[float]]) -> pd.DataFrame:
    """A confirmation study's trials_frame: one COMPLETE row per repeat."""
    labels = {e.config: e.label for e in BASELINE_GRID}
    rows = []
    for config, runs in values.items():
        for run in runs:
            rows.append({"number": len(rows), "state": "COMPLETE", "source": labels[config],
                         **config.as_params(), "val_accuracy": run, "test_accuracy": run,
                         "n_params": n_params(config), "train_seconds": 1.0})  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))


def test_axis_findings_flag_noise_at_their_level_and_find_a_real_difference() -> None:
    # Five settings of equal accuracy, three seeded repeats each: any verdict of a difference is
    # a false alarm. A test at the 5% level for five settings must not raise one in 20-27% of
    # studies, as comparing best and worst against a two-setting threshold did.
    study = new_study()
    add_baselines(study)
    frame = study_frame(study)
    rng = np.random.default_rng(0)
    draws, alarms = 120, 0
    for _ in range(draws):
        noise = {e.config: list(0.8 + rng.normal(0, 0.01, size=3)) for e in UNITS_AXIS}
        summary = repeats.summary(repeats_frame(noise))
        units = axis_sections(frame, summary, repeats.pooled_spread(summary))[0]
        assert units.axis.param == "units"
        alarms += "beyond" in units.findings[0]
    # 5% expected; 12% lies more than three binomial standard deviations above it.
    assert alarms / draws < 0.12, f"{alarms} false alarms in {draws} noise-only studies"
    # ... and not by never saying anything: one setting 4 seed-stds better (the F-test's power
    # is 98% with 3 repeats of 5 settings, F(4, 10)) must be seen in most such studies.
    found, tries = 0, 40
    for _ in range(tries):
        runs = {e.config: list(0.8 + rng.normal(0, 0.01, size=3)) for e in UNITS_AXIS}
        runs[ModelConfig(64, 8)] = [v + 0.04 for v in runs[ModelConfig(64, 8)]]
        summary = repeats.summary(repeats_frame(runs))
        units = axis_sections(frame, summary, repeats.pooled_spread(summary))[0]
        found += "beyond" in units.findings[0]
    assert found / tries > 0.8, f"a real difference found in only {found} of {tries} studies"


def test_axis_findings_see_one_clearly_better_setting_among_five() -> None:
    study = new_study()
    add_baselines(study)
    rng = np.random.default_rng(1)
    runs = {e.config: list(0.8 + rng.normal(0, 0.01, size=3)) for e in UNITS_AXIS}
    runs[ModelConfig(32, 8)] = [v + 0.05 for v in runs[ModelConfig(32, 8)]]
    summary = repeats.summary(repeats_frame(runs))
    text = axis_sections(study_frame(study), summary, repeats.pooled_spread(summary))[0].findings[
        0
    ]
    assert text.startswith("units 32 vs"), text
    assert "beyond seed noise" in text and "one-way ANOVA across the 5 settings" in text


def test_every_axis_section_says_what_it_rests_on_and_that_pruned_trials_are_left_out() -> None:
    study = new_study()
    add_baselines(study)
    add(study, ModelConfig(100, 50, 2, 0.3, 0.1), 0.9)
    add(study, ModelConfig(20, 10), 0.95, state=TrialState.PRUNED)
    add(study, ModelConfig(30, 10), 0.97, state=TrialState.PRUNED)
    add(study, ModelConfig(40, 10), None, state=TrialState.FAIL)
    data = compute(study)
    expected_notebook = {"units": 5, "embedding_dim": 4, "dropout": 3, "layers": 4}
    for section in data.sections:
        text = section.basis
        assert "rests on 15 complete trials" in text, text
        assert f"{expected_notebook[section.axis.param]} of them the notebook's" in text, text
        assert "2 pruned trials are left out" in text and "1 failed" in text, text
    assert data.sections[0].basis in findings_markdown(study, data)


def test_trials_over_the_cost_cap_are_counted_apart_from_pruned_ones(tmp_path: Path) -> None:
    # Pruned untrained for --max-lstm-params: not "pruned" (stopped after some epochs) anywhere
    # the report counts trials.
    study = new_study()
    add_baselines(study)
    add(study, ModelConfig(20, 10), 0.95, state=TrialState.PRUNED)
    add(study, ModelConfig(30, 10), 0.97, state=TrialState.PRUNED)
    for units in (200, 220, 240):
        config = ModelConfig(units, 100, 3)
        add(study, config, None, state=TrialState.PRUNED, extra={"over_cost_cap": 400_000})
    add(study, ModelConfig(40, 10), None, state=TrialState.FAIL)
    data = compute(study)
    for section in data.sections:
        assert "2 pruned trials are left out" in section.basis, section.basis
        assert "(so are 3 over the cost cap, never trained)" in section.basis, section.basis
    md = to_markdown(document(study, data), tmp_path)
    counted = "14 complete, 2 pruned (plus 3 over the cost cap, never trained), 1 fail"
    assert f"- trials: {counted}" in md
    assert "5 pruned" not in md


def test_a_study_run_with_repeats_knows_every_trials_spread() -> None:
    # --repeats 3: each trial trained three seeds and recorded their mean and spread.
    per_seed = {
        "Part 1: LSTM with 8 nodes": [0.80, 0.82, 0.81],
        "Part 1: LSTM with 16 nodes": [0.70, 0.74, 0.72],
        "Part 1: LSTM with 32 nodes": [0.78, 0.79, 0.81],
    }
    study = optuna.create_study(direction="maximize")
    for entry in BASELINE_GRID:
        if entry.label in per_seed:
            values = per_seed[entry.label]
            add(
                study,
                entry.config,
                statistics.fmean(values),
                baseline=entry.label,
                extra={
                    "repeats": 3,
                    "val_accuracy_std": statistics.stdev(values),
                    "test_accuracy_std": 0.01,
                },
            )
    add(study, ModelConfig(64, 16), 0.75)  # one seed: not part of the spread
    data = compute(study)
    assert data.repeats_source is not None and "--repeats" in data.repeats_source
    assert data.repeats is not None and sorted(data.repeats["repeats"]) == [3, 3, 3]
    assert data.spread is not None and data.spread.dof == 6
    pooled = math.sqrt(statistics.fmean(statistics.variance(v) for v in per_seed.values()))
    assert data.spread.std == pytest.approx(pooled)
    units = next(s for s in data.sections if s.axis.param == "units")
    assert any("one-way ANOVA across the 3 settings" in f for f in units.findings)
    assert "means of 3 and 3 repeats" in " ".join(units.findings)
