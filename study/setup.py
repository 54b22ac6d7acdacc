"""Creates or resumes the study in its storage: sampler, pruner, baseline grid, recorded config.

No Keras here: this runs before any model is built, and its checks must fail fast.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.exceptions import DuplicatedStudyError
from optuna.storages import BaseStorage
from optuna.study import StudyDirection

from search_spaces.baseline import BASELINE_GRID
from search_spaces.lstm import DISTRIBUTIONS
from study.objectives import name_metrics

PRUNERS = ("median", "hyperband", "none")
#: Settings recorded with a study that change what a trial measures: a resumed study refuses a
#: value other than the one it was created with.
RESULT_SETTINGS = ("dropout_style", "repeats")
#: What a study created before a setting existed used: every study before ``--dropout-style``
#: trained Keras 3's LSTM as it is, and one seed per trial.
LEGACY_SETTINGS: dict[str, Any] = {"dropout_style": "keras3", "repeats": 1}
#: Packages whose versions are recorded with the study.
RECORDED_PACKAGES = ("optuna", "optuna-integration", "keras", "tensorflow", "jax", "numpy")


class StudySetupError(ValueError):
    """The stored study cannot be resumed with these settings; one line for the user."""


def make_sampler(seed: int) -> optuna.samplers.BaseSampler:
    """TPE, seeded, so the same command on the same machine proposes the same trials."""
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    """The pruner named on the command line; steps are epochs (0-based)."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"--pruner must be one of {', '.join(PRUNERS)}, got {name!r}")


def open_study(
    storage: BaseStorage,
    name: str,
    *,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    baseline: bool,
    config: Mapping[str, Any],
    directions: Sequence[str] = ("maximize",),
) -> tuple[optuna.Study, bool]:
    """Creates the study, or loads it when it exists.

    ``directions`` are the objectives' directions (``("maximize",)``: validation accuracy;
    ``("maximize", "minimize")``: also the parameter count); a stored study must match them.

    Only the process that creates the study enqueues the baseline grid and records the
    configuration, so N workers starting at once enqueue it exactly once (the storage's unique
    study name decides who created it).

    Returns:
        The study and whether this call created it.

    Raises:
        StudySetupError: The existing study optimizes something else or has conflicting params.
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
        check_settings(study, config)
        return study, False
    for key, value in {
        "config": dict(config),
        "versions": package_versions(),
        "baseline_enqueued": baseline,
    }.items():
        study.set_user_attr(key, value)
    name_metrics(study)
    if baseline:
        enqueue_baseline(study)
    return study, True


def enqueue_baseline(study: optuna.Study) -> None:
    """Enqueues the notebook's 14 configurations, each labelled with its part and heading."""
    for entry in BASELINE_GRID:
        study.enqueue_trial(
            entry.config.as_params(),
            user_attrs={
                "baseline": entry.label,
                "notebook_part": entry.part,
                "notebook_heading": entry.heading,
            },
        )


def check_compatible(study: optuna.Study, directions: Sequence[str] = ("maximize",)) -> None:
    """Refuses a stored study with other objective directions or other param ranges."""
    expected = [StudyDirection[d.upper()] for d in directions]
    if study.directions != expected:
        shown = ", ".join(d.name.lower() for d in study.directions)
        raise StudySetupError(
            f"study {study.study_name!r} exists with direction(s) [{shown}], not "
            f"[{', '.join(directions)}] (--objectives): pick another --study-name"
        )
    for trial in study.get_trials(deepcopy=False):
        if not trial.distributions:
            continue  # a waiting trial has none yet
        for param, dist in trial.distributions.items():
            ours = DISTRIBUTIONS.get(param)
            if ours is not None and ours != dist:
                raise StudySetupError(
                    f"study {study.study_name!r} searched {param} over {dist}, this version "
                    f"searches {ours}: pick another --study-name"
                )
        return  # one trial shows the stored space: all trials of a study share it


def recorded_settings(study: optuna.Study) -> dict[str, Any]:
    """The configuration a study recorded, with what older studies used for newer settings."""
    recorded = dict(study.user_attrs.get("config") or {})
    if recorded:
        for name, value in LEGACY_SETTINGS.items():
            recorded.setdefault(name, value)
    return recorded


def check_settings(study: optuna.Study, config: Mapping[str, Any]) -> None:
    """Refuses to resume a study with result-changing settings other than those it recorded."""
    recorded = recorded_settings(study)
    differing = [
        f"--{name.replace('_', '-')} {config[name]} (the study has {recorded[name]})"
        for name in RESULT_SETTINGS
        if name in recorded and name in config and recorded[name] != config[name]
    ]
    if differing:
        raise StudySetupError(
            f"study {study.study_name!r} was trained with other settings: {'; '.join(differing)}"
            ": rerun with the study's settings or pick another --study-name"
        )


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that decide the results."""
    versions = {}
    for package in RECORDED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
