"""The non-recurrent reference models: fitting, storing once per study, report data and figures."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from reports import plots, reference
from reports.build import compute, document, findings_markdown
from reports.importance import compute_importances
from reports.tables import study_frame
from study.setup.references import ATTR, describe, ensure_references
from study.training.data import Dataset, DataSettings, load_dataset
from study.training.reference import features, fit_references, wilson_interval
from tests.cli_study import load
from tests.conftest import ROOT
from tests.report_studies import add_baselines
from tests.stderr_lines import OPTIMIZE, foreign_lines

VOCAB = 50


def order_dataset(
    n_train: int = 300, n_val: int = 101, n_test: int = 203, seed: int = 0
) -> Dataset:
    """Reviews whose label only word ORDER carries: "7 8" in positive, "8 7" in negative ones.

    Every review holds the same words (fillers, 7 and 8) in the same numbers, so which words a
    review holds says nothing; which pair follows which says everything. Left padding as Keras.
    """
    rng = np.random.default_rng(seed)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.zeros((n, 30), dtype=np.int32)
        y = rng.integers(0, 2, n)
        for i in range(n):
            body = list(rng.integers(10, VOCAB, rng.integers(6, 14)))
            pair = [7, 8] if y[i] == 1 else [8, 7]
            at = int(rng.integers(0, len(body) + 1))
            body[at:at] = pair
            x[i, -len(body) :] = body
        return x, y

    (xt, yt), (xv, yv), (xs, ys) = split(n_train), split(n_val), split(n_test)
    return Dataset(xt, yt, xv, yv, xs, ys, fingerprint="synthetic:order")


# --- the models ------------------------------------------------------------------------------


def test_features_ignore_padding_and_mark_pairs() -> None:
    x = np.array([[0, 0, 3, 4, 3], [0, 0, 0, 0, 5]])
    matrix = features(x, 10, bigrams=True).toarray()
    assert matrix.shape == (2, 10 + 2**20)
    assert list(np.nonzero(matrix[0])[0]) == [3, 4, 10 + 34, 10 + 43]
    assert list(np.nonzero(matrix[1])[0]) == [5]  # no pair with padding, no padding feature
    assert set(np.unique(matrix)) == {0.0, 1.0}  # "3" twice is still one


def test_references_learn_the_tiny_reviews(tiny_imdb: Path, tmp_path: Path) -> None:
    settings = DataSettings(source=str(tiny_imdb), maxlen=40, cache_dir=tmp_path)
    results = fit_references(load_dataset(settings), settings.max_features)
    assert [r.name for r in results] == ["bow", "bigrams"]
    for result in results:
        assert result.val_accuracy > 0.8 and result.test_accuracy > 0.8, result
        assert result.test_low < result.test_accuracy <= result.test_high
        assert result.n_test == 100


def test_only_the_bigram_model_sees_word_order() -> None:
    bow, bigrams = fit_references(order_dataset(), VOCAB)
    assert abs(bow.test_accuracy - 0.5) < 0.1, bow
    assert bigrams.test_accuracy > 0.9, bigrams
    assert bigrams.n_features > bow.n_features


def test_c_is_chosen_on_validation_and_test_is_scored_once(monkeypatch) -> None:
    data = order_dataset()
    calls: list[tuple[str, int]] = []
    fit, predict = LogisticRegression.fit, LogisticRegression.predict

    def spy_fit(self: LogisticRegression, x: Any, y: Any) -> LogisticRegression:
        calls.append(("fit", x.shape[0]))
        return fit(self, x, y)

    def spy_predict(self: LogisticRegression, x: Any) -> np.ndarray:
        calls.append(("predict", x.shape[0]))
        return predict(self, x)

    monkeypatch.setattr(LogisticRegression, "fit", spy_fit)
    monkeypatch.setattr(LogisticRegression, "predict", spy_predict)
    grid = (0.001, 0.1, 10.0)
    results = fit_references(data, VOCAB, c_grid=grid)
    monkeypatch.undo()
    sizes = data.sizes()
    assert {n for kind, n in calls if kind == "fit"} == {sizes["train"]}  # train only
    predicted = [n for kind, n in calls if kind == "predict"]
    assert predicted.count(sizes["val"]) == len(grid) * len(results)
    assert predicted.count(sizes["test"]) == len(results)  # test scored once per model
    for result in results:
        x_train = features(data.x_train, VOCAB, bigrams=result.name == "bigrams")
        x_val = features(data.x_val, VOCAB, bigrams=result.name == "bigrams")
        dual = x_train.shape[1] > x_train.shape[0]
        on_val = {
            str(c): float(
                np.mean(
                    LogisticRegression(C=c, solver="liblinear", dual=dual, random_state=0)
                    .fit(x_train, data.y_train)
                    .predict(x_val)
                    == data.y_val
                )
            )
            for c in grid
        }
        assert result.grid == pytest.approx(on_val)
        assert result.c == float(max(on_val, key=lambda c: on_val[c]))
        assert result.val_accuracy == pytest.approx(max(on_val.values()))


def test_wilson_interval_matches_the_textbook() -> None:
    low, high = wilson_interval(80, 100)  # Wilson (1927), z = 1.96: 0.7112 to 0.8666
    assert (round(low, 4), round(high, 4)) == (0.7112, 0.8666)
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_the_optimize_command_imports_scikit_learn_only_to_fit() -> None:
    # --help and bad input answer at once: the models' libraries load when they fit.
    code = "import sys, study.optimize; print(sorted({'sklearn'} & set(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# --- stored once per study -------------------------------------------------------------------


class CountingFit:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, data: Dataset, max_features: int) -> list[Any]:
        self.calls += 1
        return fit_references(data, max_features)


def test_references_are_stored_once_and_reused_on_resume(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    data, settings = order_dataset(), DataSettings(max_features=VOCAB, maxlen=30)
    fit = CountingFit()
    study = optuna.create_study(storage=url, study_name="s")
    first, fitted = ensure_references(study, data, settings, fit=fit)
    assert fitted and fit.calls == 1
    again = optuna.load_study(storage=url, study_name="s")  # a resumed run
    second, fitted = ensure_references(again, data, settings, fit=fit)
    assert not fitted and fit.calls == 1
    assert second == first == again.user_attrs[ATTR]
    assert [m["name"] for m in first["models"]] == ["bow", "bigrams"]
    assert first["settings"]["max_features"] == VOCAB and first["sizes"] == data.sizes()
    assert "stored" in describe(second, fitted) and "bigrams val" in describe(second, fitted)


@pytest.mark.parametrize(
    "change",
    [
        {"data": {"fingerprint": "other:reviews"}},
        {"settings": {"maxlen": 29}},
        {"stored": {"data_fingerprint": None}},  # a study made before data checks
    ],
)
def test_stale_references_are_refitted_and_replaced(change: dict[str, dict[str, Any]]) -> None:
    data, settings = order_dataset(), DataSettings(max_features=VOCAB, maxlen=30)
    fit = CountingFit()
    study = optuna.create_study()
    ensure_references(study, data, settings, fit=fit)
    if "stored" in change:
        study.set_user_attr(ATTR, {**study.user_attrs[ATTR], **change["stored"]})
    data = dataclasses.replace(data, **change.get("data", {}))
    settings = dataclasses.replace(settings, **change.get("settings", {}))
    record, fitted = ensure_references(study, data, settings, fit=fit)
    assert fitted and fit.calls == 2
    assert study.user_attrs[ATTR]["data_fingerprint"] == data.fingerprint
    assert study.user_attrs[ATTR]["settings"]["maxlen"] == settings.maxlen


# --- report data -----------------------------------------------------------------------------


def ref_model(name: str, val: float, test: float, n_test: int = 25000) -> dict[str, Any]:
    return {
        "name": name, "label": f"{name} model", "features": "f", "n_features": 1000, "c": 0.03,
        "grid": {"0.03": val}, "val_accuracy": val, "test_accuracy": test,
        "test_low": test - 0.005, "test_high": test + 0.005, "n_test": n_test, "fit_seconds": 2.0,
    }  # fmt: skip


def study_with_references(*models: dict[str, Any]) -> optuna.Study:
    """The notebook grid (best: val 0.813, test 0.803) and the given reference models."""
    study = optuna.create_study(direction="maximize")
    add_baselines(study)
    study.set_user_attr(ATTR, {"data_fingerprint": "x", "models": list(models)})
    return study


def test_reference_table_reads_the_attribute() -> None:
    study = study_with_references(ref_model("bow", 0.81, 0.82), ref_model("bigrams", 0.83, 0.84))
    table = reference.reference_table(study)
    assert list(table["name"]) == ["bow", "bigrams"]
    assert list(table["test_accuracy"]) == [0.82, 0.84]
    assert reference.reference_table(optuna.create_study()).empty


@pytest.mark.parametrize(
    ("ref_test", "words"),
    [(0.78, ("above", "beyond noise")), (0.85, ("below", "beyond noise")),
     (0.805, ("below", "within noise")), (0.801, ("above", "within noise"))],
)  # fmt: skip
def test_findings_place_the_best_rnn_against_the_best_reference(
    ref_test: float, words: tuple[str, str]
) -> None:
    # The better reference on validation is the one compared, whatever its test accuracy.
    study = study_with_references(
        ref_model("bow", 0.70, 0.99), ref_model("bigrams", 0.80, ref_test)
    )
    data = compute(study)
    sentence = reference.finding(data.frame, data.repeats, data.references)
    assert sentence is not None
    gap = f"{100 * abs(0.803 - ref_test):.2f} pp {words[0]}"
    assert gap in sentence and words[1] in sentence, sentence
    assert "bigrams model" in sentence and "single run" in sentence
    assert sentence in findings_markdown(study, data)


def test_the_confirmed_best_is_chosen_on_validation_and_its_seed_spread_counts() -> None:
    repeats = pd.DataFrame(
        {
            "config": ["a", "b"], "repeats": [3, 3], "val_mean": [0.83, 0.82],
            "val_std": [0.001, 0.001], "test_mean": [0.825, 0.86], "test_std": [0.002, 0.002],
        }
    )  # fmt: skip
    best = reference.best_rnn(pd.DataFrame(), repeats)
    assert best is not None and best.test_accuracy == 0.825 and best.runs == 3
    ref = pd.Series(ref_model("bigrams", 0.83, 0.838))
    tight = reference.compare(best, ref)
    # 1.3 pp apart; test sampling allows about 0.65 pp and 3 seeds of std 0.2 pp about 0.5.
    assert not tight.within_noise and tight.half_width == pytest.approx(0.0083, abs=2e-4)
    noisy = reference.compare(best._replace(test_std=0.006), ref)
    assert noisy.within_noise and noisy.half_width > tight.half_width


def test_the_reference_sentence_names_the_headlines_confirmed_answer() -> None:
    # A confirmation study can hold a configuration with a single (interrupted) run whose
    # validation beats the confirmed answer's mean: the sentence still takes the answer the
    # report's headline quotes, so the two never name different configurations.
    repeats = pd.DataFrame(
        {
            "config": ["lucky", "answer"], "repeats": [1, 3], "val_mean": [0.84, 0.82],
            "val_std": [math.nan, 0.001], "test_mean": [0.85, 0.821],
            "test_std": [math.nan, 0.003],
        }
    )  # fmt: skip
    confirmed = {"source_trial": 7, "repeats": 3, "test_mean": 0.821, "test_std": 0.003}
    best = reference.best_rnn(pd.DataFrame(), repeats, confirmed)
    assert best is not None and (best.test_accuracy, best.runs) == (0.821, 3)
    assert "trial #7" in best.description
    sentence = reference.finding(
        pd.DataFrame(), repeats, pd.DataFrame([ref_model("bigrams", 0.83, 0.838)]), confirmed
    )
    assert sentence is not None and "0.8210 ± 0.0030" in sentence


def test_the_grid_table_holds_the_references_beside_the_notebook_rows() -> None:
    study = study_with_references(ref_model("bow", 0.81, 0.82), ref_model("bigrams", 0.83, 0.84))
    doc = document(study, compute(study))
    grid = next(
        body for kind, body in doc.blocks
        if kind == "table" and "notebook heading" in body.columns
    )  # fmt: skip
    assert len(grid) == 14 + 2
    refs = grid[grid["notebook heading"].str.startswith("reference: ")]
    assert list(refs["test acc"]) == [0.82, 0.84]
    assert list(refs["test acc 95% interval (test reviews)"]) == ["0.8150–0.8250", "0.8350–0.8450"]
    assert grid.iloc[:14]["test acc 95% interval (test reviews)"].isna().all()
    paragraphs = [body for kind, body in doc.blocks if kind == "p"]
    assert any("3.70 pp below" in p for p in paragraphs)  # 0.803 vs bigrams' 0.84


# --- figures ---------------------------------------------------------------------------------


def test_pareto_and_history_figures_draw_a_line_per_reference() -> None:
    study = study_with_references(ref_model("bow", 0.71, 0.82), ref_model("bigrams", 0.72, 0.84))
    frame, imp = study_frame(study), compute_importances(study)
    for name, panels in (("pareto", 2), ("history", 1)):
        fig = plots.interactive_figure(name, study, frame, imp)
        ys = sorted(shape.y0 for shape in fig.layout.shapes)
        assert ys == sorted([0.71, 0.72] * panels), name
        texts = [a.text for a in fig.layout.annotations]
        assert any("bigrams model" in t for t in texts), name
        static = plots.static_figure(name, study, frame, imp)
        drawn = [
            line.get_ydata()[0]
            for ax in static.axes
            for line in ax.lines
            if line.get_label().startswith("reference: ")
        ]
        assert sorted(drawn) == sorted([0.71, 0.72] * panels), name


# --- the command -----------------------------------------------------------------------------


def test_optimize_stores_the_references_once(finished_study, finished_study_rerun) -> None:
    # The CLI's study (tests/cli_study.py), trained once, and the same command run again.
    runs = [finished_study[2], finished_study_rerun[1]]
    stored = load(finished_study[0]).user_attrs[ATTR]
    assert [m["name"] for m in stored["models"]] == ["bow", "bigrams"]
    assert all(m["n_test"] == 100 and not math.isnan(m["test_accuracy"]) for m in stored["models"])
    assert "reference models (logistic regression, fitted in" in runs[0].stderr
    assert "reference models (logistic regression, stored, fitted in" in runs[1].stderr
    assert foreign_lines(runs[0].stderr, OPTIMIZE) == []
