"""Non-recurrent reference models: logistic regression on the study's own word indices.

A study of LSTM design choices needs a line to hold them against: how far does a model with no
recurrence get on the very same inputs (the ``max_features``-word vocabulary, the last ``maxlen``
tokens, the same train/validation/test split)? Two linear models answer it in seconds:

* ``bow``: bag of words, one binary feature per word index present in the review;
* ``bigrams``: the same plus one binary feature per pair of adjacent word indices (word order
  over two tokens), indexed ``first * max_features + second`` modulo ``BIGRAM_BUCKETS`` (exact,
  no collisions, while ``max_features**2 <= BIGRAM_BUCKETS``: 1,000 words make 1,000,000 pairs).

Both are L2-regularised logistic regressions solved by liblinear, in the dual when there are more
feature columns than training reviews (the bigram model: with a million columns and 20,000 reviews
the dual is the small problem, about 1-2 s per fit instead of about 20 s in the primal).

Padding (index 0) is no word: it makes no feature and no pair. Each model's L2 strength ``C`` is
chosen on the validation split (fit on train, score on validation, for every ``C`` of ``C_GRID``);
the chosen model, fitted on the training reviews only, is then evaluated once on the test
reviews. Nothing here looks at test accuracy to choose anything.

No Optuna and no Keras: this takes a ``study.training.data.Dataset`` and returns plain records
(``ReferenceResult``), which ``study.setup.references`` stores with the study.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import sparse

from study.training.data import Dataset

#: Candidate inverse regularisation strengths, chosen between on validation accuracy.
C_GRID: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)
#: Columns the bigram features are folded into (2**20 > 1,000**2: exact for the default vocab).
BIGRAM_BUCKETS = 2**20
#: ``random_state`` of the solver (liblinear's dual coordinate descent visits reviews in a
#: shuffled order).
RANDOM_STATE = 0
#: Iteration cap of the solver (it converges in far fewer on the real data).
MAX_ITER = 1000
#: The models, in the order they are fitted: name -> (label, features).
MODELS: dict[str, tuple[str, str]] = {
    "bow": (
        "bag of words (logistic regression)",
        "binary word presence over the vocabulary",
    ),
    "bigrams": (
        "bag of bigrams (logistic regression)",
        "binary word presence + binary adjacent-word-pair presence "
        f"(pair index modulo {BIGRAM_BUCKETS:,})",
    ),
}


@dataclass(frozen=True)
class ReferenceResult:
    """One reference model's choice and scores.

    Attributes:
        name: Short key (``"bow"``, ``"bigrams"``).
        label: What a reader sees.
        features: How the reviews were turned into features.
        n_features: Number of feature columns.
        c: The chosen inverse regularisation strength (best validation accuracy; ties go to
            the smaller, more regularised ``C``).
        grid: Validation accuracy of every ``C`` tried, as ``{str(C): accuracy}``.
        val_accuracy: Validation accuracy of the chosen ``C``.
        test_accuracy: Test accuracy of the chosen model (fitted on the training reviews only).
        test_low: Lower end of the 95 % Wilson interval of ``test_accuracy``.
        test_high: Upper end of it. It covers the sampling of the test reviews only (how much
            the accuracy of this fitted model would move on another test set of the same size
            drawn from the same reviews), not a refit on other training reviews.
        n_test: Number of test reviews.
        fit_seconds: Wall time of the whole model: features, every fit of the grid, the test.
    """

    name: str
    label: str
    features: str
    n_features: int
    c: float
    grid: dict[str, float]
    val_accuracy: float
    test_accuracy: float
    test_low: float
    test_high: float
    n_test: int
    fit_seconds: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for a study user attribute)."""
        return asdict(self)


def fit_references(
    data: Dataset,
    max_features: int,
    c_grid: Sequence[float] = C_GRID,
    models: Sequence[str] = tuple(MODELS),
) -> list[ReferenceResult]:
    """Fits every reference model: ``C`` chosen on validation, test evaluated once.

    Args:
        data: The study's arrays (word indices below ``max_features``, 0 = padding).
        max_features: The vocabulary size the arrays were encoded with.
        c_grid: The ``C`` values to choose from.
        models: Which of ``MODELS`` to fit.

    Returns:
        One result per model, in ``models`` order.

    Raises:
        ValueError: An unknown model name, an empty or non-positive ``C`` grid, or a split
            without both classes.
    """
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown reference model(s) {unknown}; known: {', '.join(MODELS)}")
    if not c_grid or any(c <= 0 for c in c_grid):
        raise ValueError(f"the C grid must hold positive values, got {list(c_grid)}")
    for split, y in (("train", data.y_train), ("val", data.y_val)):
        if len(np.unique(y)) < 2:
            raise ValueError(f"the {split} split needs both classes, got {np.unique(y)}")
    return [_fit_one(name, data, max_features, c_grid) for name in models]


def features(x: np.ndarray, max_features: int, *, bigrams: bool) -> sparse.csr_matrix:
    """Binary sparse features of padded word-index rows.

    Args:
        x: ``(reviews, maxlen)`` word indices; 0 is padding and makes no feature.
        max_features: Vocabulary size: word ``w`` is column ``w``.
        bigrams: Also one column per adjacent pair ``(a, b)`` of non-padding words, at
            ``max_features + (a * max_features + b) % BIGRAM_BUCKETS``.

    Returns:
        A ``(reviews, max_features [+ BIGRAM_BUCKETS])`` CSR matrix of 0/1.
    """
    x = np.asarray(x, dtype=np.int64)
    rows, cols = np.nonzero(x)
    columns = [x[rows, cols]]
    row_ids = [rows]
    width = max_features
    if bigrams:
        first, second = x[:, :-1], x[:, 1:]
        prow, pcol = np.nonzero((first != 0) & (second != 0))
        pairs = (first[prow, pcol] * max_features + second[prow, pcol]) % BIGRAM_BUCKETS
        columns.append(max_features + pairs)
        row_ids.append(prow)
        width += BIGRAM_BUCKETS
    matrix = sparse.csr_matrix(
        (
            np.ones(sum(len(c) for c in columns), dtype=np.float64),
            (np.concatenate(row_ids), np.concatenate(columns)),
        ),
        shape=(len(x), width),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0  # presence, not counts
    return matrix


def wilson_interval(correct: int, n: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion ``correct / n`` (SciPy's ``binomtest``)."""
    if n <= 0:
        raise ValueError(f"an interval needs at least one review, got n={n}")
    from scipy.stats import binomtest  # lazy: scipy.stats takes a while to import

    ci = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def _fit_one(
    name: str, data: Dataset, max_features: int, c_grid: Sequence[float]
) -> ReferenceResult:
    from sklearn.linear_model import LogisticRegression  # lazy: --help stays fast

    start = time.perf_counter()
    bigrams = name == "bigrams"
    x_train = features(data.x_train, max_features, bigrams=bigrams)
    x_val = features(data.x_val, max_features, bigrams=bigrams)

    # The dual has one variable per review, the primal one per feature: solve the smaller.
    dual = x_train.shape[1] > x_train.shape[0]

    def fit(c: float) -> LogisticRegression:
        model = LogisticRegression(
            C=c, solver="liblinear", dual=dual, max_iter=MAX_ITER, random_state=RANDOM_STATE
        )
        return model.fit(x_train, data.y_train)

    grid: dict[str, float] = {}
    best_c, best_val, best_model = c_grid[0], -1.0, None
    for c in sorted(c_grid):
        model = fit(c)
        val = float(np.mean(model.predict(x_val) == data.y_val))
        grid[str(c)] = val
        if val > best_val:  # strict: a tie keeps the smaller C
            best_c, best_val, best_model = c, val, model
    assert best_model is not None
    x_test = features(data.x_test, max_features, bigrams=bigrams)
    correct = int(np.sum(best_model.predict(x_test) == data.y_test))
    n_test = len(data.y_test)
    low, high = wilson_interval(correct, n_test)
    label, described = MODELS[name]
    return ReferenceResult(
        name=name,
        label=label,
        features=described,
        n_features=int(x_train.shape[1]),
        c=float(best_c),
        grid=grid,
        val_accuracy=best_val,
        test_accuracy=correct / n_test,
        test_low=low,
        test_high=high,
        n_test=n_test,
        fit_seconds=time.perf_counter() - start,
    )
