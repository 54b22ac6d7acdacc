"""Creates or resumes the study in its storage: sampler, pruner, baseline grid, recorded config.

No Keras here: this runs before any model is built, and its checks must fail fast.
"""

from __future__ import annotations

import importlib.metadata
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import optuna
from optuna.exceptions import DuplicatedStudyError
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState

from search_spaces.baseline import BASELINE_GRID
from search_spaces.lstm import ALL_DISTRIBUTIONS, NOTEBOOK, study_space
from study.training.seeds import derive_seed
from study.trials.directions import name_metrics
from study.workers.ownership import owner_id

PRUNERS = ("median", "hyperband", "none")
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
#: trains the same replicas together or one by one; ``confirm_top`` and ``confirm_repeats`` say
#: how much of the confirmation after the trials to run (its study checks its own settings).
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
    "confirm_repeats",
)
#: Packages whose versions are recorded with the study.
RECORDED_PACKAGES = ("optuna", "optuna-integration", "keras", "tensorflow", "jax", "numpy")


class StudySetupError(ValueError):
    """The stored study cannot be resumed with these settings; one line for the user."""


#: TPE's random proposals before it models the study: Optuna's default.
STARTUP_TRIALS = 10
#: Random proposals the extended space gets after the notebook's grid (about two per parameter).
EXTENDED_STARTUP_TRIALS = 20


def startup_trials(study: optuna.Study) -> int:
    """How many finished trials TPE waits for before it models the study (``n_startup_trials``).

    TPE counts every finished trial, the enqueued notebook grid included, so in the notebook
    space the grid's 14 take the place of Optuna's 10 random proposals: they spread over its
    axes. In the extended space they all sit at one value of each new axis (LSTM, forward, last
    state, 1e-3), and TPE, fed only those, kept proposing them: of the first 22 sampled trials of
    a 100-trial extended study, 1 was a GRU and none bidirectional (on a noise objective, 4 GRUs
    and 12 bidirectional of 258 proposals over three seeds). So the extended space's random
    start-up comes after the grid: ``EXTENDED_STARTUP_TRIALS`` more, whatever the grid holds.
    """
    if study_space(study) is NOTEBOOK:
        return STARTUP_TRIALS
    trials = study.get_trials(deepcopy=False)
    grid = {t.user_attrs["baseline"] for t in trials if "baseline" in t.user_attrs}
    return len(grid) + EXTENDED_STARTUP_TRIALS


def make_sampler(seed: int, n_startup_trials: int = STARTUP_TRIALS) -> optuna.samplers.BaseSampler:
    """TPE with the given seed (``sampler_seed``), and the constant liar on.

    With ``constant_liar`` TPE counts every RUNNING trial as a poor result while it proposes, so
    workers running at once do not all propose around the same promising point; with one
    process the only running trial is the one being proposed, and nothing changes.
    ``n_startup_trials``: random proposals until the study holds that many finished trials
    (``startup_trials``).
    """
    return optuna.samplers.TPESampler(
        seed=seed, constant_liar=True, n_startup_trials=n_startup_trials
    )


def sampler_seed(seed: int, *, concurrent: bool, started: int = 0) -> int:
    """The TPE seed of this process, derived from ``--seed`` (any integer).

    Args:
        seed: The study's ``--seed``.
        concurrent: Whether other processes may run trials of the study at the same time
            (``--workers N``, a journal file, PostgreSQL). Then the seed also depends on this
            process's identity (host, boot id, PID namespace, pid and start time:
            ``study.workers.ownership.owner_id``), so that the same command on every host, or a
            second command beside the first, does not propose the same configurations. Alone
            (SQLite, one worker), the same command proposes the same trials.
        started: How many of the study's trials had started when this process took it over.
            Alone, a process resuming a study (``started`` > 0) hashes it in too: TPE draws its
            random start-up proposals from its own generator, and the same seed again would
            propose the interrupted run's first configurations once more. A fresh study
            (``started`` 0) keeps the seed it always had, and the same command history still
            gives the same trials.

    Returns:
        A seed in ``[0, 2**31)``; every trial records the seed of the sampler that proposed it
        (``sampler_seed``).
    """
    if not concurrent:
        if started:
            return derive_seed("sampler", seed, "resumed", started)
        return derive_seed("sampler", seed)
    return derive_seed("sampler", seed, owner_id())


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
        check_settings(study, config)
        if baseline and study.user_attrs.get("baseline_enqueued"):
            requeue_missing_baselines(study)
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


def enqueue_baseline(study: optuna.Study, only: Sequence[str] | None = None) -> None:
    """Enqueues the notebook's 14 configurations, each labelled with its part and heading.

    In the extended space they carry its further params at the notebook's values (LSTM,
    forward, last state, learning rate 1e-3), so they train as the notebook's models.

    Args:
        study: The study.
        only: The labels to enqueue (``Baseline.label``); all 14 when None.
    """
    space = study_space(study)
    for entry in BASELINE_GRID:
        if only is not None and entry.label not in only:
            continue
        study.enqueue_trial(
            space.baseline_config(entry.config).as_params(),
            user_attrs={
                "baseline": entry.label,
                "notebook_part": entry.part,
                "notebook_heading": entry.heading,
            },
        )


#: How a ``fail_reason`` begins when the trial failed for no fault of its configuration: an
#: interrupt (``study.trials.objective``, ``study.workers.ownership.fail_own_running_trials``) or
#: a dead worker (``study.workers.ownership.recover_dead_trials``).
NOT_ITS_OWN_FAILURE = ("KeyboardInterrupt", "Terminated", "interrupted", "worker ")
#: Failures of its own after which a baseline is no longer re-enqueued: it gets one more try.
BASELINE_TRIES = 2
#: A baseline that holds any of these needs nothing: it is done, or under way.
ALIVE = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)


class MissingBaseline(NamedTuple):
    """A notebook configuration the study does not hold complete.

    Attributes:
        label: Its label (``Baseline.label``).
        reasons: The ``fail_reason`` of each of its failed trials, in order.
        retry: Whether a resume re-enqueues it (it failed fewer than ``BASELINE_TRIES`` times
            for a reason of its own, such as divergence or running out of memory).
        pending: ``"waiting"`` or ``"running"`` when a trial of it is under way, else ``""``.
    """

    label: str
    reasons: list[str]
    retry: bool
    pending: str


def failed_on_its_own(reason: str) -> bool:
    """Whether a ``fail_reason`` blames the configuration rather than an interrupt or a crash."""
    return bool(reason) and not reason.startswith(NOT_ITS_OWN_FAILURE)


def missing_baselines(study: optuna.Study, *, pending: bool = False) -> list[MissingBaseline]:
    """The notebook configurations with no COMPLETE trial (and none under way), and why.

    Only trials labelled ``baseline`` count: a sampled trial that happens to draw a notebook
    configuration is not the notebook's (it may be pruned, or over the cost cap).

    Args:
        study: The study.
        pending: Also list the configurations whose trial waits or runs (the summary does).
    """
    trials = [t for t in study.get_trials(deepcopy=False) if "baseline" in t.user_attrs]
    missing = []
    for entry in BASELINE_GRID:
        own = [t for t in trials if t.user_attrs["baseline"] == entry.label]
        states = {t.state for t in own}
        if TrialState.COMPLETE in states:
            continue
        under_way = next(
            (s.name.lower() for s in (TrialState.RUNNING, TrialState.WAITING) if s in states), ""
        )
        if under_way and not pending:
            continue
        reasons = [
            str(t.user_attrs.get("fail_reason", "no reason recorded"))
            for t in own
            if t.state == TrialState.FAIL
        ]
        tries = sum(failed_on_its_own(r) for r in reasons)
        missing.append(MissingBaseline(entry.label, reasons, tries < BASELINE_TRIES, under_way))
    return missing


def requeue_missing_baselines(study: optuna.Study) -> list[str]:
    """Re-enqueues the notebook configurations a resumed study is missing; returns their labels.

    A baseline interrupted (Ctrl-C, SIGTERM) or failed is FAIL, and FAIL does not count toward
    ``--trials``: without this, a sampled trial would take its place and the report would
    compare an axis with one setting missing. One that failed ``BASELINE_TRIES`` times for a
    reason of its own (diverged, out of memory) is left out; the summary names it.

    Several ``study.optimize`` commands may resume one study at the same moment (one per host
    on PostgreSQL or a shared journal; ``--workers N`` spawns workers that do not call this).
    Each would find the same baselines missing and enqueue them again, so the one that
    re-enqueues is decided as the study's creator is: by the storage's unique study names,
    the only write every Optuna storage makes atomic. A process claims the name
    ``<study>#baseline-requeue#<trials it saw>``, checks again what is missing (a process that
    held the claim before may have enqueued it already) and enqueues that, then drops the
    claim. A process that finds the name taken leaves it to its holder. Should the holder die
    between claim and drop, that claim blocks only resumes that see the same number of trials:
    the next trial run frees it, and the summary names what is missing meanwhile.
    """
    if not [m for m in missing_baselines(study) if m.retry]:
        return []
    storage = study._storage
    claim = f"{study.study_name}#baseline-requeue#{len(study.get_trials(deepcopy=False))}"
    try:
        claim_id = storage.create_new_study([StudyDirection.MAXIMIZE], claim)
    except DuplicatedStudyError:
        return []  # another process is re-enqueuing them now
    try:
        labels = [m.label for m in missing_baselines(study) if m.retry]
        enqueue_baseline(study, only=labels)
    finally:
        storage.delete_study(claim_id)
    return labels


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
    """The configuration a study recorded, with what older studies used for newer settings."""
    recorded = study.user_attrs.get("config")
    if not isinstance(recorded, Mapping) or not recorded:
        return {}
    return {**LEGACY_SETTINGS, **recorded}


def check_settings(study: optuna.Study, config: Mapping[str, Any]) -> None:
    """Refuses to resume a study with other values of the settings that change results.

    Args:
        study: The stored study; its ``config`` user attribute holds the settings it was
            created with.
        config: This run's resolved configuration (``study.setup.optimize_flags.resolved_config``).

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
        if name not in recorded or name not in config:
            continue
        stored, now = recorded[name], config[name]
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
