"""The study's non-recurrent reference models, and how the best RNN compares with them.

``python -m study.optimize`` stores logistic regressions on the study's own inputs (bag of words,
bag of bigrams: ``study.training.reference``) as the user attribute ``reference_models``. Here that
attribute becomes a table (``reference_table``), and one finding (``finding``) says how far the
best RNN lies above or below the best of them on test accuracy and whether that is beyond noise
(``compare`` holds the rule). In an extended study (``--space extended``) that sentence answers the
question the extended space asks, whether any RNN design it holds beats a bag of bigrams, and
names the RNN's configuration. No scikit-learn and no Keras: this only reads what was stored.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import optuna
import pandas as pd
from scipy import stats

from reports.tables import complete, config_text
from search_spaces.keys import row_params

#: The study user attribute ``study.setup.references`` writes.
ATTR = "reference_models"
COLUMNS = [
    "name", "label", "features", "n_features", "c", "val_accuracy", "test_accuracy", "test_low",
    "test_high", "n_test", "fit_seconds",
]  # fmt: skip
Z95 = stats.norm.ppf(0.975)


class BestRnn(NamedTuple):
    """The RNN the references are compared with, chosen on validation accuracy.

    Attributes:
        description: What it is, for a reader (which trial or configuration, how many runs).
        test_accuracy: Its test accuracy (the mean over its runs when repeated).
        test_std: Seed-to-seed std of one run's test accuracy (NaN for a single run).
        runs: Number of training runs behind ``test_accuracy``.
    """

    description: str
    test_accuracy: float
    test_std: float
    runs: int


class Comparison(NamedTuple):
    """Best RNN minus best reference model on test accuracy, with its 95 % noise band.

    Attributes:
        rnn: The best RNN.
        reference: The best reference model's row of ``reference_table``.
        diff: RNN test accuracy minus the reference's (a fraction; > 0: the RNN is above).
        half_width: Half width of the 95 % interval of ``diff`` (see ``compare``).
        within_noise: ``abs(diff) <= half_width``.
    """

    rnn: BestRnn
    reference: pd.Series
    diff: float
    half_width: float
    within_noise: bool


def reference_table(study: optuna.Study) -> pd.DataFrame:
    """One row per stored reference model (``COLUMNS``); empty when the study holds none."""
    stored: Any = study.user_attrs.get(ATTR)
    models = stored.get("models") if isinstance(stored, dict) else None
    if not models:
        return pd.DataFrame(columns=COLUMNS)
    return pd.DataFrame([{k: m.get(k) for k in COLUMNS} for m in models], columns=COLUMNS)


def best_reference(table: pd.DataFrame) -> pd.Series | None:
    """The reference model with the best validation accuracy (never chosen on test)."""
    if table.empty:
        return None
    return table.loc[table["val_accuracy"].astype(float).idxmax()]


def best_rnn(
    frame: pd.DataFrame,
    repeats: pd.DataFrame | None,
    confirmed: dict[str, Any] | None = None,
    space: str = "notebook",
) -> BestRnn | None:
    """The best RNN, chosen on validation accuracy only.

    Args:
        frame: The study's trials (``reports.tables.study_frame``).
        repeats: Mean ± std per configuration (``ReportData.repeats``: a confirmation study,
            or trials run with ``--repeats``), or None.
        confirmed: The report's confirmed answer (``repeats.confirmed_best``, the record its
            headline quotes), or None. When it has a test mean it is the best RNN, so that the
            reference sentence and the headline never name two configurations.
        space: The study's search space (``"notebook"`` or ``"extended"``). An extended
            study's description names the configuration (``tables.config_text``): which cell,
            direction, readout and learning rate won is part of the answer.

    Returns:
        The confirmed answer; else the configuration with the best validation mean when
        ``repeats`` has one with a test accuracy (its test mean and seed std); else the complete
        trial with the best validation accuracy (a single run); None when there is none.
    """
    if confirmed and confirmed.get("test_mean") is not None:
        runs = int(confirmed["repeats"])
        source = confirmed.get("source_trial")
        which = f"trial #{source}'s configuration" if source is not None else "its configuration"
        if space != "notebook" and confirmed.get("params"):
            which += f" ({config_text(confirmed['params'])})"
        return BestRnn(
            description=f"the confirmed best, {which}, mean of {runs} seeds",
            test_accuracy=float(confirmed["test_mean"]),
            test_std=math.nan if confirmed.get("test_std") is None else confirmed["test_std"],
            runs=runs,
        )
    if repeats is not None and not repeats.empty:
        usable = repeats[repeats["test_mean"].notna()]
        if not usable.empty:
            row = usable.loc[usable["val_mean"].astype(float).idxmax()]
            runs = int(row["repeats"])
            return BestRnn(
                description=(
                    f"the confirmed best configuration ({row['config']}), mean of {runs} seeds"
                    if runs >= 2
                    else f"the best configuration ({row['config']}), a single run"
                ),
                test_accuracy=float(row["test_mean"]),
                test_std=float(row["test_std"]) if runs >= 2 else math.nan,
                runs=runs,
            )
    done = complete(frame)
    done = done[done["test_accuracy"].notna()] if not done.empty else done
    if done.empty:
        return None
    row = done.loc[done["val_accuracy"].astype(float).idxmax()]
    which = f"#{int(row['number'])}"
    params = row_params(row) if space != "notebook" else None
    if params:
        which += f" ({config_text(params)})"
    return BestRnn(
        description=f"the best trial by validation, {which}, a single run",
        test_accuracy=float(row["test_accuracy"]),
        test_std=math.nan,
        runs=1,
    )


def compare(rnn: BestRnn, reference: pd.Series) -> Comparison:
    """Whether the best RNN and the best reference differ beyond noise on test accuracy.

    The difference ``d = p_rnn - p_ref`` is called within noise when ``|d|`` is at most the half
    width of its 95 % interval::

        h = sqrt((t * s / sqrt(R))**2 + z**2 * (p_rnn (1 - p_rnn) + p_ref (1 - p_ref)) / n)

    * ``t * s / sqrt(R)``: the RNN's seed spread, a t-interval (R - 1 degrees of freedom) of its
      mean over R seeds with ``s`` the std of one run's test accuracy. A single run has no
      measured seed spread: the term is left out, and the finding says so.
    * The binomial term: the sampling of the ``n`` test reviews, for each model. Both models are
      scored on the same reviews, so their errors are positively correlated and the variance of
      the difference is smaller than this sum: counting them as independent makes ``h`` wider,
      the rule conservative (it says "within noise" sooner, "beyond noise" only when clear).

    What it covers: which seeds trained the RNN and which ``n`` reviews happened to form the test
    set. What it does not: the choice of the configuration and of ``C`` on validation, another
    vocabulary or ``maxlen``, other data.
    """
    p_rnn = rnn.test_accuracy
    p_ref = float(reference["test_accuracy"])
    n = int(reference["n_test"])
    sampling = Z95**2 * (p_rnn * (1 - p_rnn) + p_ref * (1 - p_ref)) / n
    seeds = 0.0
    if rnn.runs >= 2 and not math.isnan(rnn.test_std):
        seeds = (stats.t.ppf(0.975, rnn.runs - 1) * rnn.test_std / math.sqrt(rnn.runs)) ** 2
    half = math.sqrt(seeds + sampling)
    diff = p_rnn - p_ref
    return Comparison(rnn, reference, diff, half, abs(diff) <= half)


def finding(
    frame: pd.DataFrame,
    repeats: pd.DataFrame | None,
    references: pd.DataFrame,
    confirmed: dict[str, Any] | None = None,
    space: str = "notebook",
) -> str | None:
    """One sentence: the best RNN (``best_rnn``) against the best reference model, or None.

    In an extended study (``space="extended"``) the sentence opens with the question that
    space is searched to answer and its answer: "Yes" (the RNN is above, beyond noise), "No"
    (below, beyond noise) or "Not beyond noise".
    """
    reference = best_reference(references)
    rnn = best_rnn(frame, repeats, confirmed, space)
    if reference is None or rnn is None:
        return None
    c = compare(rnn, reference)
    if c.diff == 0:
        where = "level with"
    else:
        where = f"{100 * abs(c.diff):.2f} pp {'above' if c.diff > 0 else 'below'}"
    noise = "within noise" if c.within_noise else "beyond noise"
    covers = (
        f"its {rnn.runs} seeds and the sampling of the {int(reference['n_test']):,} test reviews"
        if rnn.runs >= 2 and not math.isnan(rnn.test_std)
        else f"the sampling of the {int(reference['n_test']):,} test reviews only; one run "
        "measures no seed spread"
    )
    if space != "notebook":
        answer = "Not beyond noise" if c.within_noise else ("Yes" if c.diff > 0 else "No")
        return (
            f"Can any RNN design of the {space} space beat the best reference model, "
            f"{reference['label']}? {answer}: on test accuracy the best {space}-space RNN "
            f"({rnn.description}: {_acc(rnn)}) is {where} {reference['label']} "
            f"({float(reference['test_accuracy']):.4f}, chosen on validation), {noise} (95 % "
            f"interval of the difference ± {100 * c.half_width:.2f} pp, covering {covers})."
        )
    return (
        f"On test accuracy the best RNN ({rnn.description}: {_acc(rnn)}) is {where} the best "
        f"reference model, {reference['label']} ({float(reference['test_accuracy']):.4f}, "
        f"chosen on validation): {noise} (95 % interval of the difference "
        f"± {100 * c.half_width:.2f} pp, covering {covers})."
    )


def _acc(rnn: BestRnn) -> str:
    if rnn.runs >= 2 and not math.isnan(rnn.test_std):
        return f"{rnn.test_accuracy:.4f} ± {rnn.test_std:.4f}"
    return f"{rnn.test_accuracy:.4f}"
