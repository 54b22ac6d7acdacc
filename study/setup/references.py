"""Fits the reference models once per study and keeps them in its storage (``reference_models``).

``python -m study.optimize`` calls ``ensure_references`` before its trials start (with
``--workers N``, the main process, before it spawns any). The first run fits the models of
``study.training.reference`` (seconds on the full split) and stores them as the study user
attribute ``reference_models``; a resumed run finds them there and fits nothing, as long as they
were fitted on the same data and settings and by the same method. Stored references of other data
(another fingerprint, e.g. a study made before the data checks), other settings or an older method
are fitted again and replaced. Reports read the attribute (``reports.reference``).

Two processes starting one study at the same moment may both fit them: both store the same
deterministic record, so either write is right.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna

from study.training.data import Dataset, DataSettings

#: The study user attribute that holds the reference models.
ATTR = "reference_models"
#: Bump when the models, their features or their C grid change: stored ones are refitted.
METHOD_VERSION = 1

Fitter = Callable[[Dataset, int], Sequence[Any]]


def reference_settings(settings: DataSettings) -> dict[str, Any]:
    """The data settings the reference models depend on (the source is the fingerprint)."""
    return {
        "max_features": settings.max_features,
        "maxlen": settings.maxlen,
        "val_split": settings.val_split,
        "seed": settings.seed,
        "limit_train": settings.limit_train,
        "limit_test": settings.limit_test,
    }


def is_current(stored: Any, data: Dataset, settings: DataSettings) -> bool:
    """Whether stored references were fitted on this data, with these settings, by this method."""
    return (
        isinstance(stored, Mapping)
        and stored.get("data_fingerprint") == data.fingerprint
        and stored.get("settings") == reference_settings(settings)
        and stored.get("method_version") == METHOD_VERSION
        and bool(stored.get("models"))
    )


def ensure_references(
    study: optuna.Study,
    data: Dataset,
    settings: DataSettings,
    fit: Fitter | None = None,
) -> tuple[dict[str, Any], bool]:
    """The study's reference models: the stored ones when current, else fitted and stored.

    Args:
        study: The study whose ``reference_models`` attribute holds them.
        data: The study's arrays.
        settings: The data settings the arrays were made with.
        fit: What fits the models (``study.training.reference.fit_references`` by default;
            tests spy).

    Returns:
        The record (``data_fingerprint``, ``settings``, ``method_version``, ``sizes``,
        ``seconds``, ``models``: one ``ReferenceResult.as_dict()`` each) and whether it was
        fitted by this call.

    Raises:
        ValueError: The data cannot fit them (a split without both classes).
    """
    stored = study.user_attrs.get(ATTR)
    if isinstance(stored, Mapping) and is_current(stored, data, settings):
        return dict(stored), False
    if fit is None:
        from study.training.reference import fit_references  # lazy: scikit-learn only when fitting

        fit = fit_references
    start = time.perf_counter()
    models = fit(data, settings.max_features)
    record = {
        "data_fingerprint": data.fingerprint,
        "settings": reference_settings(settings),
        "method_version": METHOD_VERSION,
        "sizes": data.sizes(),
        "seconds": time.perf_counter() - start,
        "models": [m.as_dict() for m in models],
    }
    study.set_user_attr(ATTR, record)
    return record, True


def describe(record: Mapping[str, Any], fitted: bool) -> str:
    """One line: each reference model's validation and test accuracy, and the seconds taken."""
    shown = "; ".join(
        f"{m['name']} val {m['val_accuracy']:.4f} test {m['test_accuracy']:.4f} (C={m['c']:g})"
        for m in record["models"]
    )
    when = (
        f"fitted in {record['seconds']:.0f} s"
        if fitted
        else f"stored, fitted in {record['seconds']:.0f} s"
    )
    return f"reference models (logistic regression, {when}): {shown}"


def report_references(study: optuna.Study, data: Dataset, settings: DataSettings) -> None:
    """``ensure_references`` and its one line on stderr (a note instead when it cannot fit)."""
    try:
        record, fitted = ensure_references(study, data, settings)
    except ValueError as exc:
        print(f"reference models not fitted: {exc}", file=sys.stderr)
        return
    print(describe(record, fitted), file=sys.stderr)
