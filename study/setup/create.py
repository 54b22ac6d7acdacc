"""Creates the study in its storage, or loads it and checks that it may be resumed.

No Keras here: this runs before any model is built, and its checks must fail fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.exceptions import DuplicatedStudyError
from optuna.storages import BaseStorage
from optuna.study import StudyDirection

from study.setup.baselines import enqueue_baseline, requeue_missing_baselines
from study.setup.settings import check_compatible, check_settings, package_versions
from study.trials.directions import name_metrics


def open_study(
    storage: BaseStorage,
    name: str,
    *,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    baseline: bool,
    settings: Mapping[str, Any],
    directions: Sequence[str] = ("maximize",),
) -> tuple[optuna.Study, bool]:
    """Creates the study, or loads it when it exists.

    ``directions`` are the objectives' directions (``("maximize",)``: validation accuracy;
    ``("maximize", "minimize")``: also the parameter count); a stored study must match them.

    Only the process that creates the study enqueues the baseline grid and records the
    settings, so N workers starting at once enqueue it exactly once (the storage's unique
    study name decides who created it).

    A resumed study re-enqueues the notebook configurations that have not completed and are
    neither running nor waiting (``requeue_missing_baselines``): an interrupted baseline is
    trained on the next run instead of being replaced by a sampled trial.

    Returns:
        The study and whether this call created it.

    Raises:
        StudySetupError: The existing study optimizes something else, has conflicting params, or
            recorded other values of ``RESULT_SETTINGS``.
    """
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            directions=[StudyDirection[d.upper()] for d in directions],
            sampler=sampler,
            pruner=pruner,
            load_if_exists=False,
        )
    except DuplicatedStudyError:
        study = optuna.load_study(storage=storage, study_name=name, sampler=sampler, pruner=pruner)
        check_compatible(study, directions)
        check_settings(study, settings)
        if baseline and study.user_attrs.get("baseline_enqueued"):
            requeue_missing_baselines(study)
        return study, False
    for key, value in {
        "config": dict(settings),  # the stored name stays "config": stored studies resume
        "versions": package_versions(),
        "baseline_enqueued": baseline,
    }.items():
        study.set_user_attr(key, value)
    name_metrics(study)
    if baseline:
        enqueue_baseline(study)
    return study, True
