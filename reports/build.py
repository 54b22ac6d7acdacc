"""Builds a report from a study: computes every table and finding, draws figures, writes files.

``build_report`` reads only; saving the findings as the study's dashboard note is the one write,
done by ``save_dashboard_note`` when the command asks for it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import optuna
import pandas as pd

from reports import analysis, importance, plots, reference, render, repeats, reproduction
from reports.choices import ChoiceSection, choice_sections
from reports.findings import ALPHA, AxisSection, axis_sections
from reports.load import load_confirm_study, load_sibling
from reports.tables import (
    baseline_table,
    complete,
    counts_text,
    param_text,
    param_view,
    shown_columns,
    shown_params,
    study_frame,
)
from search_spaces.keys import EXTENDED_PARAMS, NOTEBOOK_PARAMS
from search_spaces.lstm import NOTEBOOK, study_space


class ReportData(NamedTuple):
    """Everything a report shows, computed from the stored trials."""

    frame: pd.DataFrame
    baseline: pd.DataFrame
    sections: list[AxisSection]
    importances: importance.ImportanceResult
    repeats: pd.DataFrame | None
    spread: repeats.Spread | None
    reproduction: pd.DataFrame | None
    #: Each cost's Pareto front (``analysis.pareto_fronts``), for the table and the figures.
    fronts: dict[str, pd.DataFrame]
    repeats_source: str | None = None
    references: pd.DataFrame | None = None
    #: The study is itself a reproduction (``python -m study.reproduce``): its "validation"
    #: accuracy is test accuracy, so its report ranks nothing (no axis sections, no best trial).
    is_reproduction: bool = False
    confirmed: dict[str, Any] | None = None
    #: The search space the study recorded (``--space``): ``"notebook"`` or ``"extended"``.
    space: str = "notebook"
    #: One section per extended-space param the study has (none for a notebook study).
    choices: tuple[ChoiceSection, ...] = ()


def compute(
    study: optuna.Study,
    confirm: optuna.Study | None = None,
    reproduced: optuna.Study | None = None,
    importance_settings: dict[str, Any] | None = None,
) -> ReportData:
    """Computes the data behind every table and finding of a study's report.

    Args:
        study: The study reported on.
        confirm: Its confirmation study (``python -m study.confirm``), if any.
        reproduced: Its reproduction of the notebook (``python -m study.reproduce``), if any.
        importance_settings: Keyword arguments of ``importance.compute_importances``
            (evaluator, target, resamples, permutations, seed); its defaults when None.
    """
    frame = study_frame(study)
    own = is_reproduction(study)
    if own and reproduced is None:
        reproduced = study
    spread = None
    summary, source = repeats.seed_table(frame, None if confirm is None else study_frame(confirm))
    if summary is not None:
        spread = repeats.pooled_spread(summary)
    # The answer: what study.optimize / study.confirm recorded while it is current, else the
    # same computed from the confirmation study, marked provisional.
    confirmed = repeats.current_confirmed(
        study.user_attrs.get("confirmed_best"),
        frame,
        None if confirm is None else study_frame(confirm),
    )
    space = study_space(study).name
    # An extended study reads its further axes from its trials; a notebook study has none (an
    # old report of one never grows empty sections).
    extended = [p for p in EXTENDED_PARAMS if space != "notebook" or p in shown_params(frame)]
    return ReportData(
        frame=frame,
        baseline=baseline_table(frame, summary),
        sections=[] if own else axis_sections(frame, summary, spread, source),
        importances=importance.compute_importances(study, **(importance_settings or {})),
        repeats=summary,
        spread=spread,
        reproduction=(
            None
            if reproduced is None
            else reproduction.reproduction_table(study_frame(reproduced))
        ),
        fronts=analysis.pareto_fronts(frame),
        repeats_source=source,
        references=reference.reference_table(study),
        is_reproduction=own,
        confirmed=confirmed or None,
        space=space,
        choices=() if own else tuple(choice_sections(frame, extended, summary)),
    )


def is_reproduction(study: optuna.Study) -> bool:
    """Whether ``study`` is a reproduction of the notebook (``python -m study.reproduce``).

    Its protocol watches the test set after every epoch as if it were validation data.
    """
    settings = study.user_attrs.get("config") or {}
    return str(settings.get("protocol", "")).startswith("notebook")


def reproduction_of(study: optuna.Study) -> optuna.Study | None:
    """The reproduction study of ``study``, or the study itself when it is one."""
    if is_reproduction(study):
        return study
    return load_sibling(study, reproduction.reproduce_study_name(study.study_name))


def build_report(
    study: optuna.Study,
    out: Path,
    formats: list[str],
    importance_settings: dict[str, Any] | None = None,
) -> ReportData:
    """Writes ``trials.csv``, the figures, ``report.md`` and ``report.html`` into ``out``.

    ``importance_settings`` are passed to ``importance.compute_importances``.
    """
    out.mkdir(parents=True, exist_ok=True)
    data = compute(study, load_confirm_study(study), reproduction_of(study), importance_settings)
    shown_columns(data.frame).to_csv(out / "trials.csv", index=False)
    if not data.is_reproduction:  # its figures would rank test accuracy as validation
        plots.save_figures(out, study, data.frame, data.importances, formats, data.fronts)
    doc = document(study, data)
    (out / "report.md").write_text(render.to_markdown(doc, out), encoding="utf-8")
    (out / "report.html").write_text(render.to_html(doc, out), encoding="utf-8")
    return data


def findings_markdown(study: optuna.Study, data: ReportData) -> str:
    """The axis findings as a short Markdown note (for the dashboard)."""
    lines = [f"## Findings for {study.study_name}", ""]
    if data.confirmed:
        lines += [f"**Answer**: {repeats.confirmed_text(data.confirmed)}", ""]
    versus = _reference_finding(data)
    if versus:
        lines += ["### Reference models", f"- {versus}", ""]
    if data.is_reproduction:
        lines += [REPRODUCTION_ONLY, ""]
        if data.reproduction is not None:
            lines += [reproduction.verdict(data.reproduction), ""]
    for section in data.sections:
        lines += [
            f"### {section.axis.title}",
            *(f"- {s}" for s in section.findings),
            f"- {section.basis}",
            "",
        ]
    for choice in data.choices:
        lines += [
            f"### {choice.title}",
            *(f"- {s}" for s in choice.findings),
            f"- {choice.basis}",
            "",
        ]
    if not data.is_reproduction:  # its "validation" accuracy is test accuracy: rank nothing
        lines += ["### Parameter importances", *(f"- {s}" for s in importance_lines(data)), ""]
    lines.append("(written by `python -m reports`; rebuilt on every report)")
    return "\n".join(lines)


def save_dashboard_note(study: optuna.Study, data: ReportData) -> None:
    """Saves the findings as the study's note, shown on its optuna-dashboard page."""
    from optuna_dashboard import save_note

    save_note(study, findings_markdown(study, data))


#: What a reproduction study's report says instead of ranking its trials.
REPRODUCTION_ONLY = (
    "This study reproduces the notebook (`python -m study.reproduce`): it trained the notebook's "
    "14 configurations under the notebook's own protocol, all 25,000 training reviews with the "
    "test reviews watched after every epoch. Every accuracy it recorded is therefore test "
    "accuracy, watched after every epoch as the notebook did, and never used to choose: this "
    "report compares it with the notebook's figures and ranks no configuration. For findings, "
    "report on the study it reproduces for (`python -m study.optimize`)."
)


def _reproduction_document(study: optuna.Study, data: ReportData) -> render.Report:
    doc = render.Report(f"Study report: {study.study_name}")
    doc.heading("Study")
    doc.paragraph(REPRODUCTION_ONLY)
    doc.bullets(_study_facts(study, data.frame, reproduction=True))
    doc.heading("The notebook reproduced, under its own protocol")
    if data.reproduction is not None:
        doc.paragraph(reproduction.verdict(data.reproduction))
        doc.table(_reproduction_view(data.reproduction))
    doc.heading("Files")
    doc.paragraph(
        "`trials.csv` holds one row per trial (every state); its `val_accuracy` column is the "
        "test accuracy watched after the last epoch, under the notebook's protocol."
    )
    return doc


def document(study: optuna.Study, data: ReportData) -> render.Report:
    """Lays the report out as blocks (rendered to Markdown and HTML by ``render``).

    A reproduction study (``data.is_reproduction``) gets a short report of its own: what it
    is, its facts and its table beside the notebook's figures, with no ranking.
    """
    if data.is_reproduction:
        return _reproduction_document(study, data)
    frame = data.frame
    done = complete(frame)
    doc = render.Report(f"Study report: {study.study_name}")
    doc.heading("Study")
    doc.bullets(_study_facts(study, frame, data.confirmed))
    if done.empty:
        shown = counts_text(frame) if len(frame) else "no trials at all"
        doc.paragraph(
            f"No trial has completed yet ({shown}): tables and figures below are empty, and "
            "findings wait for complete trials."
        )
    doc.heading("The notebook grid beside the notebook")
    doc.paragraph(
        "The notebook's 14 configurations with the parameter count and test accuracy it printed, "
        "beside this study's measurement of the same configuration. The notebook validated on "
        "its test set, so compare test with test and expect ours a little lower."
    )
    doc.table(_baseline_view(data.baseline, data.references))
    versus = _reference_finding(data)
    if data.references is not None and not data.references.empty:
        doc.subheading("Reference models")
        doc.paragraph(
            "The rows whose heading starts with 'reference:' are not RNNs: logistic regressions "
            "on the same inputs (the same vocabulary, the same last tokens, the same split), one "
            "on which words a review holds, one also on which adjacent word pairs. Each chose its "
            "regularisation C on the validation split and was fitted on the training reviews "
            "only; its test accuracy was measured once, with a 95 % Wilson interval over the test "
            "reviews (their sampling only). " + (versus or "")
        )
    if data.reproduction is not None:
        doc.heading("The notebook reproduced, under its own protocol")
        doc.paragraph(
            "`python -m study.reproduce` trained the notebook's 14 configurations as the notebook "
            "did: all 25,000 training reviews, the test reviews as validation data after every "
            "epoch, 5 epochs, batch 32, several seeds each. That protocol watches the test set, "
            "so this table reproduces the notebook and is never used to choose. "
            + reproduction.verdict(data.reproduction)
        )
        doc.table(_reproduction_view(data.reproduction))
    if data.repeats is not None:
        doc.heading(f"Repeated runs ({data.repeats_source})")
        if data.spread is None:
            doc.paragraph("No configuration has two complete runs yet.")
        else:
            doc.paragraph(
                f"Seed-to-seed spread of one run's validation accuracy: "
                f"{100 * data.spread.std:.2f} pp (pooled std over {data.spread.configs} "
                f"configurations, typically {data.spread.repeats} repeats each). Each axis "
                "section tests its settings against it with one one-way ANOVA F-test across "
                "all of them (5% level), not best against worst."
            )
        doc.table(_repeats_view(data.repeats))
    else:
        doc.paragraph(
            "No confirmation study and one seed per trial: every figure is a single training "
            "run. `python -m study.confirm` repeats the best and the notebook's configurations "
            "with other seeds (or `python -m study.optimize --repeats 3` trains every trial "
            "with three), and this report then shows mean ± std."
        )
    for section in data.sections:
        doc.heading(f"Axis: {section.axis.title}")
        doc.paragraph(section.basis)
        doc.bullets(section.findings)
        doc.subheading("The notebook's configurations along this axis")
        doc.table(section.controlled)
        doc.subheading("All complete trials along this axis")
        doc.table(section.study)
    for choice in data.choices:
        doc.heading(f"Axis: {choice.title}")
        doc.paragraph(choice.basis)
        doc.bullets(choice.findings)
        doc.subheading(f"All complete trials by {choice.param}")
        doc.table(choice.table)
    doc.heading("Parameter importances")
    imp = data.importances
    doc.paragraph(_importance_method(imp))
    if imp.available:
        doc.table(_importance_view(imp))
    doc.bullets(importance_lines(data))
    doc.figure("importance", f"Parameter importances for {imp.target_name()}")
    doc.heading("Pareto front")
    doc.paragraph(
        "Trials no other trial beats on both validation accuracy (higher) and cost (lower), from "
        "all complete trials whatever the study's objective."
    )
    for cost, front in data.fronts.items():
        doc.subheading(f"Validation accuracy vs {plots.COST_LABELS[cost]}")
        params = shown_params(frame)
        doc.table(param_view(front[["number", "source", *params, "n_params", "train_seconds",
                                    "val_accuracy", "test_accuracy"]], params))  # fmt: skip
    doc.figure("pareto", "Pareto fronts (red) of validation accuracy vs parameters and time")
    doc.heading("Optimization history and slices")
    doc.figure("history", "Validation accuracy per trial and best so far")
    doc.figure("slice", "Validation accuracy against each parameter")
    doc.heading("Files")
    doc.paragraph(
        "`trials.csv` holds one row per trial (every state). Figures are beside this report."
    )
    return doc


def _importance_method(imp: importance.ImportanceResult) -> str:
    text = (
        f"What they explain: {imp.target_name()}. Computed by {imp.evaluator_name()}; interval: "
        f"5–95 % of the unnormalized importance over {imp.resamples} bootstrap resamples of those "
        f"trials; noise floor: from {imp.permutations} studies with the accuracies permuted "
        "across the same trials (where no parameter can matter), each parameter's floor set so "
        "that in a study where nothing matters all parameters fall under their floors 95 % of "
        "the time (Westfall–Young min-p); p is the matching family-wise permutation p-value. "
        "A parameter under its floor is not distinguishable from noise, and its rank among the "
        "others is not a finding: those are listed after the ones above noise, in search-space "
        f"order. Settings: `{imp.settings()}`."
    )
    if imp.note:
        text += f" Note: {imp.note}."
    if imp.available and not np.isfinite(imp.table["floor"]).all():
        text += (
            f" A floor of ∞: {imp.permutations} permutations are too few to reach the "
            "family-wise 5 % level for that parameter (ask for more with "
            "--importance-permutations)."
        )
    if imp.reason:
        text += f" Not available: {imp.reason}."
    return text


def _importance_view(imp: importance.ImportanceResult) -> pd.DataFrame:
    t = importance.ordered(imp.table)
    return pd.DataFrame(
        {
            "param": t["param"],
            "importance (normalized)": t["importance"].map(lambda v: f"{v:.2f}"),
            "importance (unnormalized)": t["raw"].map(lambda v: f"{v:.4f}"),
            "interval 5–95 %": [f"{lo:.4f}–{hi:.4f}" for lo, hi in zip(t["low"], t["high"],
                                                                     strict=True)],
            "ranked first": t["first_share"].map(lambda v: f"{v:.0%}"),
            "noise floor": t["floor"].map(lambda v: f"{v:.4f}" if math.isfinite(v) else "∞"),
            "p (family-wise)": t["p_value"].map(lambda v: f"{v:.3f}"),
            "verdict": [importance.ABOVE if a else importance.NOISE for a in t["above_noise"]],
        }
    )  # fmt: skip


def importance_lines(data: ReportData) -> list[str]:
    """The importance verdicts in sentences, and where they disagree with the axis ANOVAs.

    Parameters above the noise floor are named, largest first; when none is, no ranking is
    given. For every axis whose findings ran an ANOVA against the seed spread, a verdict that
    differs from the importance's gets one sentence saying why both can hold.
    """
    imp = data.importances
    if not imp.available:
        return [f"No parameter importances: {imp.reason}."]
    verdicts = imp.verdicts()
    above = [p for p, a in verdicts.items() if a]  # table order: largest first
    under = [p for p in verdicts if p not in above]
    basis = f"({imp.target_name()}, {imp.evaluator})"
    if above:
        lines = [f"Above the noise floor {basis}: {', '.join(above)} (largest first)."]
        if under:
            lines.append(f"Not distinguishable from noise: {', '.join(under)}.")
    else:
        lines = [
            f"No parameter's importance is distinguishable from noise {basis}: every one lies "
            "under the floor of permuted studies, so their order is not a finding."
        ]
    why = (
        "they test different things: the importance asks how this study's single runs vary "
        "along the parameter over the whole search space, the ANOVA compares the notebook's "
        "controlled settings of it against the seed-to-seed spread of repeated runs"
    )
    for section in data.sections:
        param, p = section.axis.param, section.anova_p
        if p is None or param not in verdicts:
            continue
        differs = p < ALPHA
        if verdicts[param] and not differs:
            lines.append(
                f"{param}: above the importance noise floor, but the axis ANOVA finds its "
                f"settings within seed noise (p = {p:.3f}); {why}."
            )
        elif differs and not verdicts[param]:
            lines.append(
                f"{param}: the axis ANOVA finds its settings differ beyond seed noise "
                f"(p = {p:.3f}), but its importance is not distinguishable from noise; {why}."
            )
    return lines


def _study_facts(
    study: optuna.Study,
    frame: pd.DataFrame,
    confirmed: dict[str, Any] | None = None,
    reproduction: bool = False,
) -> list[str]:
    attrs = study.user_attrs
    settings = attrs.get("config", {}) or {}
    if reproduction:
        watched = "recorded: test accuracy after every epoch (the notebook's protocol)"
    else:
        watched = (
            "objectives: "
            + ", ".join(d.name.lower() for d in study.directions)
            + (
                " (validation accuracy, parameter count)"
                if len(study.directions) > 1
                else " (validation accuracy)"
            )
        )
    facts = [watched, "trials: " + counts_text(frame)]
    space = study_space(study)
    if space is not NOTEBOOK:
        facts.append(
            f"search space: {space.name} (the notebook's axes, and the recurrent cell, "
            "direction, readout and learning rate)"
        )
    if settings:
        data_keys = ("data", "max_features", "maxlen", "val_split", "limit_train", "limit_test")
        facts.append("data: " + ", ".join(f"{k}={settings.get(k)}" for k in data_keys))
        if "data_sizes" in settings:
            facts.append(f"split sizes: {json.dumps(settings['data_sizes'])}")
        train_keys = ("epochs", "batch_size", "learning_rate", "pruner", "seed", "backend")
        facts.append("training: " + ", ".join(f"{k}={settings.get(k)}" for k in train_keys))
    devices = sorted({d for d in frame["device"].dropna()})
    if devices:
        facts.append("device: " + "; ".join(devices))
    if attrs.get("versions"):
        facts.append(
            "versions: " + ", ".join(f"{k} {v}" for k, v in sorted(attrs["versions"].items()))
        )
    if confirmed:
        # The headline: a mean over other seeds. The best single run below was picked for being
        # high among many noisy runs, so it overstates what its configuration gives.
        text = repeats.confirmed_text(confirmed).removeprefix("confirmed best: ")
        facts.append(f"best trial, confirmed (mean ± std over other seeds): {text}")
    done = complete(frame)
    if not done.empty and not reproduction:
        best = done.loc[done["val_accuracy"].idxmax()]
        params = ", ".join(
            f"{p}={render.cell(best[p]) if p in NOTEBOOK_PARAMS else param_text(p, best[p])}"
            for p in shown_params(frame)
        )
        seeds = (
            f" ± {best['val_accuracy_std']:.4f} (mean ± std of {int(best['repeats'])} seeds)"
            if best["repeats"] >= 2 and not math.isnan(best["val_accuracy_std"])
            else ""
        )
        label = "one seed" if not seeds else f"{int(best['repeats'])} seeds"
        facts.append(
            f"best single run ({label}): #{int(best['number'])} ({best['source']}): "
            "validation accuracy "
            f"{best['val_accuracy']:.4f}{seeds}, test accuracy "
            f"{render.cell(best['test_accuracy'])}, "
            f"{render.cell(best['n_params'])} parameters, "
            f"{render.cell(best['train_seconds'])} s; {params}"
        )
    return facts


def _pm(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "—"
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def _reference_finding(data: ReportData) -> str | None:
    # A reproduction's "validation" is the test set: it has no best RNN to set beside anything.
    if data.references is None or data.is_reproduction:
        return None
    return reference.finding(data.frame, data.repeats, data.references, data.confirmed, data.space)


def _baseline_view(table: pd.DataFrame, references: pd.DataFrame | None = None) -> pd.DataFrame:
    view = table[["heading", "notebook_params", "n_params", "notebook_test_accuracy",
                  "test_accuracy", "val_accuracy", "train_seconds", "state"]].copy()  # fmt: skip
    view.columns = ["notebook heading", "notebook params", "params", "notebook test acc",
                    "test acc", "val acc", "train s", "state"]  # fmt: skip
    if "val_mean" in table:
        view["val acc (repeats)"] = [
            _pm(m, s) for m, s in zip(table["val_mean"], table["val_std"], strict=True)
        ]
        view["test acc (repeats)"] = [
            _pm(m, s) for m, s in zip(table["test_mean"], table["test_std"], strict=True)
        ]
        view["repeats"] = table["repeats"]
    if references is None or references.empty:
        return view
    rows = pd.DataFrame(
        {
            "notebook heading": [f"reference: {label}" for label in references["label"]],
            "params": references["n_features"].astype(int) + 1,  # a weight per feature, a bias
            "test acc": references["test_accuracy"].astype(float),
            "val acc": references["val_accuracy"].astype(float),
            "train s": references["fit_seconds"].astype(float),
            "state": [f"reference model, C={c:g}" for c in references["c"]],
            "test acc 95% interval (test reviews)": [
                f"{lo:.4f}–{hi:.4f}"
                for lo, hi in zip(references["test_low"], references["test_high"], strict=True)
            ],
        }
    )
    view["test acc 95% interval (test reviews)"] = None
    # As objects, so that the concatenation decides no dtype from the all-empty cells.
    return pd.concat(
        [view.astype(object), rows.reindex(columns=view.columns).astype(object)],
        ignore_index=True,
    )


def _reproduction_view(table: pd.DataFrame) -> pd.DataFrame:
    view = table[["heading", "notebook_params", "n_params", "runs", "notebook_test_accuracy",
                  "diff_pp", "inside"]].copy()  # fmt: skip
    view.insert(
        5, "our test acc", [_pm(m, s) for m, s in zip(table["test_mean"], table["test_std"],
                                                        strict=True)]
    )  # fmt: skip
    view.columns = ["notebook heading", "notebook params", "our params", "runs",
                    "notebook test acc", "our test acc (mean ± std)", "diff (pp)",
                    "notebook inside mean ± 2 std"]  # fmt: skip
    return view


def _repeats_view(summary: pd.DataFrame) -> pd.DataFrame:
    shown = shown_params(summary)
    view = param_view(summary[["source", *shown, "repeats", "n_params", "train_seconds"]], shown)
    view.insert(
        len(view.columns), "val acc", [_pm(m, s) for m, s in zip(
            summary["val_mean"], summary["val_std"], strict=True)]
    )  # fmt: skip
    view.insert(
        len(view.columns), "test acc", [_pm(m, s) for m, s in zip(
            summary["test_mean"], summary["test_std"], strict=True)]
    )  # fmt: skip
    return view
