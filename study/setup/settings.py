"""The settings a study records, and the checks that refuse to resume it with other ones.

No Keras here: this runs before any model is built, and its checks must fail fast.
"""

from __future__ import annotations

import importlib.metadata
import math
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection

from search_spaces.lstm import ALL_DISTRIBUTIONS

#: The settings that change what a trial measures, as ``study.optimize`` names them (argparse
#: destinations). A stored study resumes only with the values its ``config`` user attribute
#: recorded for these: trials trained on other data or another way would be mixed into one
#: sampler and pruner history. ``data_fingerprint`` stands for ``--data``: the data's content
#: is compared, not the path it was given at. A new flag that changes results is one more name
#: here (a flag that does not goes into ``FREE_SETTINGS``; tests/test_resume.py checks that
#: every flag is in one of the two).
RESULT_SETTINGS: tuple[str, ...] = (
    "data_fingerprint",
    "max_features",
    "maxlen",
    "val_split",
    "limit_train",
    "limit_test",
    "seed",
    "epochs",
    "batch_size",
    "learning_rate",
    "dropout_style",
    "repeats",
    "max_lstm_params",
    "space",
)
#: What a study created before a setting existed used: every study before ``--dropout-style``
#: trained Keras 3's LSTM as it is, one seed per trial (``--repeats``), with no cost cap
#: (``--max-lstm-params``), over the notebook's axes (``--space``).
LEGACY_SETTINGS: dict[str, Any] = {
    "dropout_style": "keras3",
    "repeats": 1,
    "max_lstm_params": 0,
    "space": "notebook",
}
#: Flags that may differ between runs of one study: which study, how many trials, where and how
#: it runs, not what a trial measures. ``pruner`` decides which trials stop early, not what an
#: epoch measures; ``objectives`` is checked through the stored directions; ``backend`` is the
#: same training on another numeric library (every trial records its own); ``repeat_mode``
#: trains the same replicas together or one by one; ``confirm_top``, ``confirm_budget`` and
#: ``confirm_max_seeds`` say how much of the race after the trials to run (its study checks its
#: own settings).
FREE_SETTINGS: tuple[str, ...] = (
    "trials",
    "storage",
    "study_name",
    "pruner",
    "objectives",
    "no_baseline",
    "artifact_dir",
    "data",
    "cache_dir",
    "backend",
    "repeat_mode",
    "workers",
    "heartbeat_grace",
    "max_failures",
    "confirm_top",
    "confirm_budget",
    "confirm_max_seeds",
)
#: Packages whose versions are recorded with the study.
RECORDED_PACKAGES = ("optuna", "optuna-integration", "keras", "tensorflow", "jax", "numpy")


class StudySetupError(ValueError):
    """The stored study cannot be resumed with these settings; one line for the user."""


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
            ours = ALL_DISTRIBUTIONS.get(param)
            if ours is not None and ours != dist:
                raise StudySetupError(
                    f"study {study.study_name!r} searched {param} over {dist}, this version "
                    f"searches {ours}: pick another --study-name"
                )
        return  # one trial shows the stored space: all trials of a study share it


def recorded_settings(study: optuna.Study) -> dict[str, Any]:
    """The settings a study recorded, with what older studies used for newer settings."""
    # Recorded as the user attribute "config" (its name since the first studies: they resume).
    recorded = study.user_attrs.get("config")
    if not isinstance(recorded, Mapping) or not recorded:
        return {}
    return {**LEGACY_SETTINGS, **recorded}


def stored_settings(storage: BaseStorage, name: str) -> dict[str, Any]:
    """``recorded_settings`` of the study ``name`` in ``storage``; empty when there is none yet."""
    try:
        return recorded_settings(optuna.load_study(study_name=name, storage=storage))
    except KeyError:
        return {}


def check_settings(study: optuna.Study, settings: Mapping[str, Any]) -> None:
    """Refuses to resume a study with other values of the settings that change results.

    Args:
        study: The stored study; its ``config`` user attribute holds the settings it was
            created with.
        settings: This run's resolved settings (``study.setup.optimize_flags.resolved_settings``).

    Raises:
        StudySetupError: One line naming every setting of ``RESULT_SETTINGS`` whose value
            differs, with both values. A setting the study did not record (a study made by an
            older version, or by hand) is unknown and never refused, except those older
            versions had one value of (``LEGACY_SETTINGS``).
    """
    recorded = recorded_settings(study)
    if not recorded:
        return
    differing = []
    for name in RESULT_SETTINGS:
        if name not in recorded or name not in settings:
            continue
        stored, now = recorded[name], settings[name]
        if name == "data_fingerprint":
            if _data_identity(stored) != _data_identity(now):
                differing.append(
                    f"--data: other reviews (the study's {_short(stored)}, this data's "
                    f"{_short(now)}; data is compared by content, so the same file at another "
                    "path resumes)"
                )
        elif not _same(stored, now):
            flag = f"--{name.replace('_', '-')}"
            differing.append(f"{flag} {_shown(stored)} (stored) vs {_shown(now)} (now)")
    if differing:
        raise StudySetupError(
            f"study {study.study_name!r} was run with other settings: {'; '.join(differing)}. "
            "Rerun with the stored values, or pick another --study-name"
        )


def _same(stored: Any, now: Any) -> bool:
    numbers = (int, float)
    if isinstance(stored, numbers) and isinstance(now, numbers):
        if isinstance(stored, bool) or isinstance(now, bool):
            return stored is now
        # Stored values went through JSON: 1e-3 and 0.001 are one learning rate.
        return math.isclose(stored, now, rel_tol=1e-9, abs_tol=0.0)
    return bool(stored == now)


def _shown(value: Any) -> str:
    return "unset" if value is None else str(value)


def _data_identity(fingerprint: Any) -> Any:
    # Keras' IMDB download is one fixed file whatever Keras' version (which the fingerprint
    # names): an upgraded Keras reads the same reviews.
    if isinstance(fingerprint, str) and fingerprint.startswith("keras.datasets.imdb"):
        return "keras.datasets.imdb"
    return fingerprint


def _short(fingerprint: Any) -> str:
    text = str(fingerprint)
    kind, sep, digest = text.partition(":")
    return f"{kind}:{digest[:12]}..." if sep and len(digest) > 12 else text


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that decide the results."""
    versions = {}
    for package in RECORDED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
