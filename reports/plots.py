"""Draws the report's figures: static files with matplotlib (Agg) and interactive HTML with plotly.

The optimization history and slice figures are Optuna's own:
``optuna.visualization.matplotlib`` draws the static files and ``optuna.visualization`` the
interactive ones, with validation accuracy named ``val_accuracy`` (in a multi-objective study, the
first objective). The importance figure is drawn here from ``reports.importance``'s data, as
Optuna's bar chart has no interval and no noise floor: unnormalized importance with its
bootstrap interval, each parameter's noise floor as a red mark, and each one under its floor grey
and labelled "not distinguishable from noise" (those come after the ones above it, in
search-space order, so that no ranking of noise is shown). The Pareto fronts of validation
accuracy against parameter count and training time are drawn here: Optuna draws a front only over
a study's own objectives, and neither cost is an objective of the default study; ours also marks
the notebook's configurations.

The Pareto and history figures also draw the study's reference models (``reports.reference``:
logistic regressions on the same inputs) as labelled horizontal lines at their validation accuracy.

Optuna's functions warn or raise when there is nothing to draw, so a figure without data (no
complete trial, no importances) is a placeholder saying why, and every file is still written.
Interactive pages load ``plotly.min.js`` from the output folder (written once), so they open
offline.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, no browser

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
import optuna.visualization as optuna_plotly  # noqa: E402
import optuna.visualization.matplotlib as optuna_mpl  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402
from optuna.exceptions import ExperimentalWarning  # noqa: E402
from optuna.trial import FrozenTrial, TrialState  # noqa: E402
from plotly.subplots import make_subplots  # noqa: E402

from reports.analysis import COSTS, pareto_fronts  # noqa: E402
from reports.importance import ABOVE, NOISE, ImportanceResult, ordered  # noqa: E402
from reports.reference import reference_table  # noqa: E402
from reports.tables import PARAMS, SAMPLER, complete  # noqa: E402

STATIC_FORMATS = ("png", "svg", "pdf")
FORMATS = (*STATIC_FORMATS, "html")
FIGURES = ("importance", "pareto", "history", "slice")
COST_LABELS = {"n_params": "parameters", "train_seconds": "training time (s)"}
#: What Optuna's figures call the value they plot (its default is "Objective Value").
TARGET_NAME = "val_accuracy"
NO_TRIAL = "No complete trial yet"


def save_figures(
    out: Path,
    study: optuna.Study,
    frame: pd.DataFrame,
    imp: ImportanceResult,
    formats: Iterable[str],
    fronts: dict[str, pd.DataFrame] | None = None,
) -> list[Path]:
    """Writes every figure in every requested format; returns the files written.

    Args:
        out: Folder to write into.
        study: The study, for Optuna's figures.
        frame: Its trials (``reports.tables.study_frame``), for the Pareto fronts.
        imp: Its importances (``reports.importance.compute_importances``), drawn when available.
        formats: Out of ``FORMATS``.
        fronts: ``frame``'s Pareto fronts (``reports.analysis.pareto_fronts``); computed here
            when None.
    """
    formats = list(formats)
    fronts = pareto_fronts(frame) if fronts is None else fronts
    wanted = [f for f in formats if f in STATIC_FORMATS]
    written: list[Path] = []
    for name in FIGURES:
        if wanted:
            fig = static_figure(name, study, frame, imp, fronts)
            for fmt in wanted:
                path = out / f"{name}.{fmt}"
                fig.savefig(path, dpi=120, bbox_inches="tight")
                written.append(path)
            plt.close(fig)
        if "html" in formats:
            path = out / f"{name}.html"
            interactive_figure(name, study, frame, imp, fronts).write_html(
                path, include_plotlyjs="directory", full_html=True
            )
            written.append(path)
    return written


def static_figure(
    name: str,
    study: optuna.Study,
    frame: pd.DataFrame,
    imp: ImportanceResult,
    fronts: dict[str, pd.DataFrame] | None = None,
) -> Figure:
    """One of ``FIGURES`` drawn with matplotlib, for PNG, SVG and PDF files.

    ``fronts``: ``frame``'s Pareto fronts (``reports.analysis.pareto_fronts``), computed when None.
    """
    if name == "pareto":
        return _pareto_mpl(
            frame, pareto_fronts(frame) if fronts is None else fronts, reference_table(study)
        )
    missing = _missing(name, study, imp)
    if missing:
        return _empty_mpl(missing)
    if name == "importance":
        return _importance_mpl(imp)
    # Optuna's functions switch matplotlib to its ggplot style; keep that to their own figure.
    with matplotlib.rc_context():
        drawn = _draw_with_optuna(optuna_mpl, name, study)
        if name == "history":
            _reference_lines_mpl(drawn, reference_table(study))
        fig = _figure_of(drawn)
    for ax in fig.axes:
        if ax.get_xscale() == "log":
            _readable_log_ticks(ax)  # narrow log ranges get colliding 4x10^0 ... labels
        _unquoted_ticks(ax)
    return fig


def interactive_figure(
    name: str,
    study: optuna.Study,
    frame: pd.DataFrame,
    imp: ImportanceResult,
    fronts: dict[str, pd.DataFrame] | None = None,
) -> go.Figure:
    """One of ``FIGURES`` drawn with plotly, for an HTML page (``fronts`` as ``static_figure``)."""
    if name == "pareto":
        return _pareto_plotly(
            frame, pareto_fronts(frame) if fronts is None else fronts, reference_table(study)
        )
    missing = _missing(name, study, imp)
    if missing:
        return _empty_plotly(_TITLES[name], missing)
    if name == "importance":
        return _importance_plotly(imp)
    fig = _draw_with_optuna(optuna_plotly, name, study)
    assert isinstance(fig, go.Figure)
    _unquoted_categories(fig)
    if name == "history":
        _reference_lines_plotly(fig, reference_table(study))
    return fig


_TITLES = {
    "importance": "Parameter importances",
    "history": "Optimization history",
    "slice": "Slice plot",
    "pareto": "Pareto front",
}


def accuracy_target(study: optuna.Study) -> Callable[[FrozenTrial], float] | None:
    """Validation accuracy for Optuna's plots: the value, or a multi-objective study's first."""
    return None if len(study.directions) == 1 else _accuracy


def _accuracy(trial: FrozenTrial) -> float:
    return trial.values[0]


def _missing(name: str, study: optuna.Study, imp: ImportanceResult) -> str:
    """Why figure ``name`` has nothing to draw, or "" when it has."""
    if name not in _TITLES:
        raise ValueError(f"no figure {name!r}; figures are {', '.join(FIGURES)}")
    if name == "importance":
        return "" if imp.available else f"No parameter importances: {imp.reason}."
    if not _complete_trials(study):
        return f"{NO_TRIAL}: no {_TITLES[name].lower()}."
    return ""


def _draw_with_optuna(plotting: ModuleType, name: str, study: optuna.Study) -> Any:
    """Optuna's figure ``name`` from ``optuna.visualization`` or its ``matplotlib`` twin."""
    target = accuracy_target(study)
    with warnings.catch_warnings():
        # Warnings here would reach the terminal and say nothing to a reader of the report: the
        # matplotlib functions are experimental; one trial is one x value.
        warnings.simplefilter("ignore", ExperimentalWarning)
        warnings.filterwarnings("ignore", "Attempting to set identical low and high xlims")
        if name == "history":
            return plotting.plot_optimization_history(
                study, target=target, target_name=TARGET_NAME
            )
        params = _params(_complete_trials(study))
        return plotting.plot_slice(study, params=params, target=target, target_name=TARGET_NAME)


def importance_view(imp: ImportanceResult) -> pd.DataFrame:
    """The importance figure's rows, top to bottom: what both renderings draw.

    Parameters above the noise floor come first, largest first; those under it follow in
    search-space order (their order among themselves is noise, so none is ranked). Columns:
    ``param``, ``raw``, ``minus``/``plus`` (error bar lengths to the bootstrap interval, never
    negative), ``floor``, ``above_noise``, ``verdict`` (``ABOVE`` or ``NOISE``) and ``label``
    (the parameter, with "not distinguishable from noise" when it is under the floor).
    """
    rows = ordered(imp.table)
    return pd.DataFrame(
        {
            "param": rows["param"],
            "raw": rows["raw"].astype(float),
            "minus": (rows["raw"] - rows["low"]).clip(lower=0).astype(float),
            "plus": (rows["high"] - rows["raw"]).clip(lower=0).astype(float),
            "floor": rows["floor"].astype(float),
            "above_noise": rows["above_noise"].astype(bool),
            "verdict": [ABOVE if a else NOISE for a in rows["above_noise"]],
            "label": [p if a else f"{p} ({NOISE})" for p, a in zip(rows["param"],
                                                                    rows["above_noise"],
                                                                    strict=True)],
        }
    )  # fmt: skip


def _importance_title(imp: ImportanceResult) -> str:
    return f"Parameter importances for {imp.target_name()}"


_FLOOR_LABEL = "noise floor (permuted studies, family-wise 5 %)"


def _importance_mpl(imp: ImportanceResult) -> Figure:
    view = importance_view(imp)
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(view) + 1.8))
    y = np.arange(len(view))[::-1]  # first row on top
    colors = ["tab:blue" if a else "0.7" for a in view["above_noise"]]
    ax.barh(y, view["raw"], color=colors, xerr=[view["minus"], view["plus"]], capsize=3)
    ax.set_yticks(y, list(view["param"]))
    floors = view["floor"].to_numpy()
    shown = np.isfinite(floors)  # inf: too few permutations to reach the level
    if shown.any():
        ax.scatter(floors[shown], y[shown], marker="|", s=300, c="tab:red", label=_FLOOR_LABEL)
        ax.legend(fontsize=7, loc="best")
    for yi, row in zip(y, view.itertuples(), strict=True):
        if not row.above_noise:  # right of the error bar and of the floor mark
            right = max(row.raw + row.plus, row.floor if np.isfinite(row.floor) else 0.0)
            ax.text(right, yi, f"  {NOISE}", va="center", fontsize=8, color="0.35")
    ax.set_xlabel(f"importance (unnormalized; bars: {imp.resamples} bootstrap resamples, 5–95 %)")
    ax.set_title(_importance_title(imp), fontsize=10)
    return fig


def _importance_plotly(imp: ImportanceResult) -> go.Figure:
    view = importance_view(imp)
    fig = go.Figure()
    order = list(view["param"])
    for verdict, color in ((ABOVE, "steelblue"), (NOISE, "lightgrey")):
        part = view[view["verdict"] == verdict]
        if part.empty:
            continue
        fig.add_trace(
            go.Bar(
                x=part["raw"], y=part["param"], orientation="h", name=verdict,
                marker={"color": color}, text=list(part["verdict"]), textposition="outside",
                error_x={"type": "data", "array": list(part["plus"]),
                         "arrayminus": list(part["minus"])},
            )
        )  # fmt: skip
    shown = view[np.isfinite(view["floor"])]
    if not shown.empty:
        fig.add_trace(
            go.Scatter(
                x=shown["floor"], y=shown["param"], mode="markers", name=_FLOOR_LABEL,
                marker={"color": "red", "symbol": "line-ns-open", "size": 22},
            )
        )  # fmt: skip
    fig.update_yaxes(categoryorder="array", categoryarray=order[::-1])
    fig.update_layout(
        title=_importance_title(imp),
        xaxis_title=f"importance (unnormalized; error bars: {imp.resamples} bootstrap resamples, "
        "5–95 %)",
    )
    return fig


def _complete_trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _params(done: list[FrozenTrial]) -> list[str]:
    """The search-space parameters the complete trials have (Optuna refuses any other)."""
    return [p for p in PARAMS if any(p in t.params for t in done)]


def _unquote(text: str) -> str:
    """``'gru'`` as ``gru``: Optuna's slice plot quotes string choices (``repr``)."""
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


def _unquoted_categories(fig: go.Figure) -> None:
    """Writes a categorical param's values as its axis' categories are written (``gru``).

    Optuna's plotly slice names the categories ``gru`` but places the points at ``'gru'``,
    which plotly then shows as further, quoted categories.
    """
    for trace in fig.data:
        xs = getattr(trace, "x", None)
        if xs is not None and len(xs) and all(isinstance(x, str) for x in xs):
            trace.x = [_unquote(x) for x in xs]


def _unquoted_ticks(ax: Axes) -> None:
    """The matplotlib twin of ``_unquoted_categories``: tick labels ``gru``, not ``'gru'``."""
    labels = [t.get_text() for t in ax.get_xticklabels()]
    if any(_unquote(t) != t for t in labels):
        ax.set_xticks(ax.get_xticks(), [_unquote(t) for t in labels])


def _figure_of(axes: Any) -> Figure:
    """The figure of the Axes (or array of Axes, one per parameter) Optuna returns."""
    ax = axes.flat[0] if isinstance(axes, np.ndarray) else axes
    fig = ax.figure
    assert isinstance(fig, Figure)
    return fig


def _readable_log_ticks(ax: Axes, label: Callable[[float, int], str] | None = None) -> None:
    """Labels a log x axis at 1-2-5 steps only (``label`` writes them; default ``%g``)."""
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(label or (lambda v, _: f"{v:g}")))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _empty_mpl(text: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.set_axis_off()
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


def _empty_plotly(title: str, text: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=title)
    return fig


#: Line styles of the reference models, in the order they were stored.
_REFERENCE_STYLES = ("--", ":", "-.")
_REFERENCE_COLORS = ("tab:purple", "tab:brown", "tab:olive")


def reference_label(row: pd.Series) -> str:
    """The legend text of a reference model's line."""
    return f"reference: {row['label']}, val {float(row['val_accuracy']):.4f}"


def _reference_lines_mpl(ax: Axes, references: pd.DataFrame | None) -> None:
    """A labelled horizontal line per reference model at its validation accuracy."""
    if references is None or references.empty:
        return
    for i, (_, row) in enumerate(references.iterrows()):
        ax.axhline(
            float(row["val_accuracy"]), ls=_REFERENCE_STYLES[i % len(_REFERENCE_STYLES)],
            c=_REFERENCE_COLORS[i % len(_REFERENCE_COLORS)], lw=1, label=reference_label(row),
        )  # fmt: skip
    ax.legend(fontsize=7)


def _reference_lines_plotly(fig: go.Figure, references: pd.DataFrame | None, **where: Any) -> None:
    """The plotly twin of ``_reference_lines_mpl`` (``where``: ``row``/``col`` of subplots)."""
    if references is None or references.empty:
        return
    dashes = ("dash", "dot", "dashdot")
    for i, (_, row) in enumerate(references.iterrows()):
        fig.add_hline(
            y=float(row["val_accuracy"]), line_dash=dashes[i % len(dashes)],
            line_color=_REFERENCE_COLORS[i % len(_REFERENCE_COLORS)].removeprefix("tab:"),
            line_width=1, annotation_text=reference_label(row),
            annotation_position="bottom right", annotation_font_size=10, **where,
        )  # fmt: skip


def _pareto_mpl(
    frame: pd.DataFrame, fronts: dict[str, pd.DataFrame], references: pd.DataFrame | None
) -> Figure:
    done = complete(frame)
    fig, axes = plt.subplots(1, len(COSTS), figsize=(11, 4))
    if done.empty:
        plt.close(fig)
        return _empty_mpl(f"{NO_TRIAL}: no Pareto front.")
    for ax, cost in zip(axes, COSTS, strict=True):
        front = fronts[cost]
        baseline = done["source"] != SAMPLER
        ax.scatter(
            done.loc[~baseline, cost], done.loc[~baseline, "val_accuracy"], s=14, c="0.6",
            label="sampled trial",
        )  # fmt: skip
        ax.scatter(
            done.loc[baseline, cost], done.loc[baseline, "val_accuracy"], s=22, marker="s",
            c="tab:green", label="notebook configuration",
        )  # fmt: skip
        ax.step(front[cost], front["val_accuracy"], where="post", c="tab:red", lw=1)
        ax.scatter(
            front[cost], front["val_accuracy"], s=40, facecolors="none", edgecolors="tab:red",
            label="Pareto front",
        )  # fmt: skip
        for _, row in front.iterrows():
            ax.annotate(f"#{int(row['number'])}", (row[cost], row["val_accuracy"]), fontsize=7)
        if cost == "n_params":
            ax.set_xscale("log")
            _readable_log_ticks(ax, lambda v, _: f"{v / 1000:g}k")  # "20k"
        ax.set_xlabel(COST_LABELS[cost])
        ax.set_ylabel("validation accuracy")
        ax.set_title(f"Accuracy vs {COST_LABELS[cost]}")
        _reference_lines_mpl(ax, references)
    axes[0].legend(fontsize=7)
    return fig


def _pareto_plotly(
    frame: pd.DataFrame, fronts: dict[str, pd.DataFrame], references: pd.DataFrame | None
) -> go.Figure:
    done = complete(frame)
    if done.empty:
        return _empty_plotly(_TITLES["pareto"], f"{NO_TRIAL}: no Pareto front.")
    fig = make_subplots(rows=1, cols=len(COSTS), subplot_titles=[COST_LABELS[c] for c in COSTS])
    for col, cost in enumerate(COSTS, start=1):
        front = fronts[cost]
        fig.add_trace(
            go.Scatter(
                x=done[cost], y=done["val_accuracy"], mode="markers", name="trials",
                text=[f"#{n} {s}" for n, s in zip(done["number"], done["source"], strict=True)],
                marker={"color": "grey"}, showlegend=col == 1,
            ),
            row=1, col=col,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=front[cost], y=front["val_accuracy"], mode="lines+markers", name="Pareto front",
                line={"shape": "hv", "color": "red"}, showlegend=col == 1,
                text=[f"#{n}" for n in front["number"]],
            ),
            row=1, col=col,
        )  # fmt: skip
    _reference_lines_plotly(fig, references, row="all", col="all")
    fig.update_xaxes(type="log", row=1, col=1)
    fig.update_yaxes(title_text="validation accuracy")
    fig.update_layout(title="Pareto front: validation accuracy vs cost")
    return fig
