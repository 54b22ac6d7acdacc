"""Draws the report's figures: static files with matplotlib (Agg) and interactive HTML with plotly.

Every figure is drawn from data computed elsewhere (``tables``, ``analysis``), so an empty study
still gets every file, with a line saying what is missing, rather than a crash. Interactive pages
load ``plotly.min.js`` from the output folder (written once), so they open offline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, no browser

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402
from plotly.subplots import make_subplots  # noqa: E402

from reports.analysis import COSTS, Importances, pareto_mask  # noqa: E402
from reports.tables import PARAMS, SAMPLER, complete  # noqa: E402

STATIC_FORMATS = ("png", "svg", "pdf")
FORMATS = (*STATIC_FORMATS, "html")
FIGURES = ("importance", "pareto", "history", "slice")
COST_LABELS = {"n_params": "parameters", "train_seconds": "training time (s)"}


def save_figures(
    out: Path, frame: pd.DataFrame, imp: Importances, formats: Iterable[str]
) -> list[Path]:
    """Writes every figure in every requested format; returns the files written."""
    formats = list(formats)
    written: list[Path] = []
    static = {
        "importance": lambda: _importance_mpl(imp),
        "pareto": lambda: _pareto_mpl(frame),
        "history": lambda: _history_mpl(frame),
        "slice": lambda: _slice_mpl(frame),
    }
    interactive: dict[str, Callable[[], go.Figure]] = {
        "importance": lambda: _importance_plotly(imp),
        "pareto": lambda: _pareto_plotly(frame),
        "history": lambda: _history_plotly(frame),
        "slice": lambda: _slice_plotly(frame),
    }
    for name in FIGURES:
        wanted = [f for f in formats if f in STATIC_FORMATS]
        if wanted:
            fig = static[name]()
            for fmt in wanted:
                path = out / f"{name}.{fmt}"
                fig.savefig(path, dpi=120, bbox_inches="tight")
                written.append(path)
            plt.close(fig)
        if "html" in formats:
            path = out / f"{name}.html"
            interactive[name]().write_html(path, include_plotlyjs="directory", full_html=True)
            written.append(path)
    return written


def _empty(fig: Figure, text: str) -> Figure:
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


def _importance_mpl(imp: Importances) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 3))
    if not imp.values:
        ax.set_axis_off()
        return _empty(fig, f"No parameter importances: {imp.reason}.")
    names = list(imp.values)[::-1]
    ax.barh(names, [imp.values[n] for n in names], color="tab:blue")
    ax.set_xlabel("importance for validation accuracy (PED-ANOVA, sums to 1)")
    ax.set_title("Parameter importances")
    return fig


def _importance_plotly(imp: Importances) -> go.Figure:
    names = list(imp.values)[::-1]
    fig = go.Figure(go.Bar(x=[imp.values[n] for n in names], y=names, orientation="h"))
    fig.update_layout(title=f"Parameter importances ({imp.reason or 'PED-ANOVA'})")
    return fig


def _pareto_mpl(frame: pd.DataFrame) -> Figure:
    done = complete(frame)
    fig, axes = plt.subplots(1, len(COSTS), figsize=(11, 4))
    if done.empty:
        for ax in axes:
            ax.set_axis_off()
        return _empty(fig, "No complete trial yet: no Pareto front.")
    for ax, cost in zip(axes, COSTS, strict=True):
        front = done[pareto_mask(done, cost)].sort_values(cost)
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
            # Labels at 1-2-5 steps, written short ("20k"), so log-axis labels never collide.
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(COST_LABELS[cost])
        ax.set_ylabel("validation accuracy")
        ax.set_title(f"Accuracy vs {COST_LABELS[cost]}")
    axes[0].legend(fontsize=7)
    return fig


def _pareto_plotly(frame: pd.DataFrame) -> go.Figure:
    done = complete(frame)
    fig = make_subplots(rows=1, cols=len(COSTS), subplot_titles=[COST_LABELS[c] for c in COSTS])
    for col, cost in enumerate(COSTS, start=1):
        front = done[pareto_mask(done, cost)].sort_values(cost)
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
    fig.update_xaxes(type="log", row=1, col=1)
    fig.update_yaxes(title_text="validation accuracy")
    fig.update_layout(title="Pareto front: validation accuracy vs cost")
    return fig


def _history_mpl(frame: pd.DataFrame) -> Figure:
    done = complete(frame).sort_values("number")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if done.empty:
        ax.set_axis_off()
        return _empty(fig, "No complete trial yet: no optimization history.")
    ax.scatter(done["number"], done["val_accuracy"], s=14, label="trial")
    ax.plot(done["number"], done["val_accuracy"].cummax(), c="tab:red", label="best so far")
    ax.set_xlabel("trial number")
    ax.set_ylabel("validation accuracy")
    ax.set_title("Optimization history")
    ax.legend(fontsize=7)
    return fig


def _history_plotly(frame: pd.DataFrame) -> go.Figure:
    done = complete(frame).sort_values("number")
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=done["number"], y=done["val_accuracy"], mode="markers", name="trial")
    )
    fig.add_trace(
        go.Scatter(x=done["number"], y=done["val_accuracy"].cummax(), name="best so far")
    )
    fig.update_layout(
        title="Optimization history", xaxis_title="trial", yaxis_title="val accuracy"
    )
    return fig


def _slice_mpl(frame: pd.DataFrame) -> Figure:
    done = complete(frame)
    fig, axes = plt.subplots(1, len(PARAMS), figsize=(3 * len(PARAMS), 3), sharey=True)
    if done.empty:
        for ax in axes:
            ax.set_axis_off()
        return _empty(fig, "No complete trial yet: no slice plot.")
    for ax, param in zip(axes, PARAMS, strict=True):
        ax.scatter(done[param], done["val_accuracy"], c=done["number"], s=14, cmap="viridis")
        if param in ("units", "embedding_dim"):
            ax.set_xscale("log", base=2)
        ax.set_xlabel(param)
    axes[0].set_ylabel("validation accuracy")
    fig.suptitle("Slice plots (colour: trial number)")
    return fig


def _slice_plotly(frame: pd.DataFrame) -> go.Figure:
    done = complete(frame)
    fig = make_subplots(rows=1, cols=len(PARAMS), subplot_titles=list(PARAMS), shared_yaxes=True)
    for col, param in enumerate(PARAMS, start=1):
        fig.add_trace(
            go.Scatter(
                x=done[param], y=done["val_accuracy"], mode="markers", name=param,
                text=[f"#{n}" for n in done["number"]], showlegend=False,
            ),
            row=1, col=col,
        )  # fmt: skip
    fig.update_layout(title="Slice plots: validation accuracy per parameter")
    return fig
