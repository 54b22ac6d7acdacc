"""The confirmation: re-train chosen configurations R times with other seeds, record the winner.

Single runs differ by about a point of accuracy between seeds, as much as the differences the
notebook reports. The runs go into a study named ``<NAME>-confirm`` in the same storage, each
(configuration, repeat) enqueued once (``study.reruns.groups``), so a rerun resumes after a crash
and extends the study when the repeats grow. The configuration of best mean validation accuracy
is recorded as the study's ``confirmed_best`` user attribute. The confirmation study records its
settings once, when created, and refuses runs with other values of those that change what a run
measures (``RUN_SETTINGS``) before writing anything.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import optuna
from optuna.exceptions import DuplicatedStudyError
from optuna.storages import BaseStorage

from reports.load import confirm_study_name
from reports.repeats import confirmed_best
from reports.tables import complete, study_frame
from search_spaces.baseline import BASELINE_GRID
from search_spaces.keys import config_key, row_params
from search_spaces.lstm import study_space
from storage.optuna_private import storage_of
from study.reruns.groups import (
    Candidate,
    GroupTrainer,
    describe_incomplete,
    enqueue_missing,
    incomplete,
    missing,
    run_waiting,
    waiting,
)
from study.setup.settings import RESULT_SETTINGS, StudySetupError, check_settings
from study.training.data import Dataset
from study.trials.directions import name_metrics
from study.workers.ownership import fail_stale_trials, recover_dead_trials
from study.workers.run import build_objective

#: Added to the study's seed for the repeats, so that no repeat reuses a seed of the study's own
#: trials (each trial's Keras seed is hashed from the study's seed and the trial's number,
#: ``study.training.seeds.trial_seed``).
SEED_OFFSET = 1000
#: The data and training flags of ``study.optimize`` a confirmation takes (and records).
FLAGS = (
    "data", "max_features", "maxlen", "val_split", "limit_train", "limit_test", "seed",
    "epochs", "batch_size", "learning_rate", "backend", "dropout_style", "repeat_mode", "space",
)  # fmt: skip
#: The settings a confirmation study refuses to be extended with other values of: what one of
#: its runs measures. Not ``repeats`` (a confirmation run trains one seed; more repeats extend
#: the study) nor ``max_lstm_params`` (the candidates were trained already).
RUN_SETTINGS = tuple(s for s in RESULT_SETTINGS if s not in ("repeats", "max_lstm_params"))
#: Builds the trainer of the runs and the errors that fail one configuration's runs only; called
#: only when runs wait, since the real one imports Keras.
TrainerFactory = Callable[[], tuple[GroupTrainer, tuple[type[Exception], ...]]]


class Plan(NamedTuple):
    """Which configurations a confirmation re-trains, and how often.

    Attributes:
        top: The study's best distinct configurations (by their single run's validation
            accuracy).
        repeats: Runs per configuration, with other seeds.
        baseline: Also the notebook's 14 configurations.
    """

    top: int
    repeats: int
    baseline: bool


def settings_argv(recorded: dict[str, Any], rest: list[str]) -> list[str]:
    """study.optimize flags: the study's recorded settings, then the user's (last one wins)."""
    argv: list[str] = []
    for name in FLAGS:
        value = recorded.get(name)
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv + rest


def candidates(study: optuna.Study, top: int, baseline: bool) -> list[Candidate]:
    """The notebook's configurations (unless ``baseline`` is False) and the top-K others."""
    chosen: dict[str, Candidate] = {}
    space = study_space(study)
    if baseline:
        for entry in BASELINE_GRID:
            params = space.baseline_config(entry.config).as_params()
            key = config_key(params)
            chosen[key] = Candidate(key, params, entry.label, entry.label, None)
    done = complete(study_frame(study)).sort_values("val_accuracy", ascending=False)
    picked = 0
    for _, row in done.iterrows():
        if picked >= top:
            break
        key = config_key(row)
        found = row_params(row)
        if key in chosen or found is None:
            continue
        baseline_label = None if row["source"] == "sampler" else str(row["source"])
        label = f"top {picked + 1}: trial #{int(row['number'])}"
        chosen[key] = Candidate(key, found, label, baseline_label, int(row["number"]))
        picked += 1
    return list(chosen.values())


def confirm_settings(
    settings: argparse.Namespace, data: Dataset, study_name: str, backend: str
) -> dict[str, Any]:
    """What a confirmation study records once, when created: how its runs train, on what data.

    Args:
        settings: The study.optimize flags the runs train with.
        data: The loaded data (its fingerprint and split sizes are recorded).
        study_name: The study confirmed.
        backend: The Keras backend chosen.
    """
    flags = {name: getattr(settings, name) for name in FLAGS}
    recorded = {k: (str(v) if isinstance(v, Path) else v) for k, v in flags.items()}
    recorded.update(
        backend=backend,
        data_fingerprint=data.fingerprint,
        data_sizes=data.sizes(),
        confirms=study_name,
        seed_offset=SEED_OFFSET,
    )
    return recorded


def check_confirm_study(storage: BaseStorage, study_name: str, settings: dict[str, Any]) -> None:
    """Refuses, before anything is written, a stored confirmation trained another way.

    Reads only: a command calls it before it writes anything, so that a refusal leaves the
    storage as it was.

    Raises:
        StudySetupError: ``<study_name>-confirm`` exists and recorded other values of
            ``RUN_SETTINGS`` (one line naming each, with both values).
    """
    name = confirm_study_name(study_name)
    if any(s.study_name == name for s in storage.get_all_studies()):
        _check(optuna.load_study(storage=storage, study_name=name), settings)


def check_trained_as_study(study: optuna.Study, settings: dict[str, Any]) -> None:
    """Refuses a confirmation whose runs would train otherwise than the study's trials.

    Its winner becomes the study's ``confirmed_best``, the answer every report headlines; runs
    with another ``--seed`` (another validation split) or ``--epochs`` would measure something
    else than the trials they confirm. Reads only.

    Raises:
        StudySetupError: ``settings`` differ from the study's recorded settings in
            ``RUN_SETTINGS`` (one line naming each, with both values).
    """
    try:
        _check(study, settings)
    except StudySetupError as exc:
        raise StudySetupError(
            f"{exc} (a confirmation trains as the study it confirms: its winner is recorded "
            "as the study's answer)"
        ) from None


def _check(confirm: optuna.Study, settings: dict[str, Any]) -> None:
    check_settings(confirm, {k: v for k, v in settings.items() if k in RUN_SETTINGS})


def open_confirm_study(
    storage: BaseStorage, study_name: str, settings: dict[str, Any]
) -> optuna.Study:
    """Creates the confirmation study and records ``settings``, or loads and checks it.

    The settings are recorded once, by the call that creates the study, and never overwritten.

    Raises:
        StudySetupError: As ``check_confirm_study``; nothing is written then.
    """
    name = confirm_study_name(study_name)
    try:
        confirm = optuna.create_study(
            storage=storage, study_name=name, direction="maximize", load_if_exists=False
        )
    except DuplicatedStudyError:
        confirm = optuna.load_study(storage=storage, study_name=name)
        _check(confirm, settings)
    else:
        # Stored under the attribute name "config", as ever: stored studies still resume.
        confirm.set_user_attr("config", settings)
    name_metrics(confirm)
    return confirm


def confirmation_pending(study: optuna.Study, plan: Plan) -> int:
    """How many runs of ``plan`` have no complete run yet (missing, waiting, running); reads only.

    Runs RUNNING under a worker that died count: the confirmation fails and re-runs them.
    """
    name = confirm_study_name(study.study_name)
    storage = storage_of(study)
    wanted = candidates(study, plan.top, plan.baseline)
    if not any(s.study_name == name for s in storage.get_all_studies()):
        return len(incomplete(None, wanted, plan.repeats))
    confirm = optuna.load_study(storage=storage, study_name=name)
    return len(incomplete(confirm, wanted, plan.repeats))


def recover_lost_runs(confirm: optuna.Study) -> list[int]:
    """Fails and re-queues the confirmation runs whose worker died, as a resumed study's trials.

    A configuration's repeats train together, so a killed confirmation (SIGKILL, the OOM killer,
    a pre-empted host) leaves all of them RUNNING: without this they would count as under way
    for ever and the configuration would drop out of the comparison. A run is lost when its
    owner is a dead process of this host, or when its heartbeat stopped (RDB storages); the
    re-queued copy keeps ``confirm_key`` and ``repeat`` (``storage.PROVENANCE_ATTRS``).

    Returns:
        The numbers of the runs failed.
    """
    return sorted(recover_dead_trials(confirm) + fail_stale_trials(confirm))


def run_confirmation(
    study: optuna.Study,
    storage: BaseStorage,
    settings: dict[str, Any],
    make_trainer: TrainerFactory,
    plan: Plan,
    *,
    progress: bool = True,
) -> int:
    """Re-trains ``plan``'s configurations (what is missing of them) and records the winner.

    The runs go into ``<study>-confirm`` (``open_confirm_study``); then the configuration of
    highest mean validation accuracy over its runs in that study is recorded as ``study``'s
    ``confirmed_best`` user attribute (``reports.repeats.confirmed_best``; every configuration
    the confirmation study holds is compared, the study's own single run is not pooled in).

    Args:
        study: The study confirmed.
        storage: A storage to write the runs to (with a heartbeat where it has one).
        settings: ``confirm_settings`` of this run.
        make_trainer: Called once when runs wait (``keras_trainer``).
        plan: The configurations and repeats.
        progress: Show a progress bar on stderr.

    Returns:
        0 (also when the study has no complete trial: nothing to confirm), 2 when the stored
        confirmation was trained another way (one line on stderr), 130/143 when interrupted
        (rerun to resume).
    """
    wanted = candidates(study, plan.top, plan.baseline)
    if not wanted:
        print(
            f"nothing to confirm: study {study.study_name!r} has no complete trial",
            file=sys.stderr,
        )
        return 0
    try:
        confirm = open_confirm_study(storage, study.study_name, settings)
    except StudySetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lost = recover_lost_runs(confirm)
    if lost:
        print(f"re-queued confirmation run(s) {lost}: their worker died", file=sys.stderr)
    added = enqueue_missing(confirm, wanted, plan.repeats)
    todo = waiting(confirm)
    print(
        f"study {confirm.study_name!r}: {len(wanted)} configurations x {plan.repeats} repeats; "
        f"{added} newly enqueued, {todo} to run; data {settings.get('data_sizes')}; "
        f"backend {settings.get('backend')}",
        file=sys.stderr,
    )
    if todo:
        trainer, catch = make_trainer()
        code = run_waiting(confirm, trainer, catch, progress=progress)
        if code:
            return code
    return record_winner(study, confirm, wanted, plan)


def record_winner(
    study: optuna.Study, confirm: optuna.Study, wanted: list[Candidate], plan: Plan
) -> int:
    """Records ``confirmed_best`` once every run of every candidate is complete, else says why not.

    A winner chosen while a candidate's runs are missing would be chosen without it (or on fewer
    seeds), and nothing would show it. The record counts the complete runs it was computed from
    (``runs``), so a report can tell when the confirmation study has changed since.

    Returns:
        0 when recorded, or when the lacking runs are still waiting or running elsewhere (the
        process that completes the last one records it); 1 when some failed (a rerun retries
        them).
    """
    lacking = incomplete(confirm, wanted, plan.repeats)
    if lacking:
        described = describe_incomplete(confirm, lacking)
        print(
            f"no confirmed best recorded: the confirmation is incomplete: {described}; rerun "
            "the same command to complete it",
            file=sys.stderr,
        )
        # Failed (not waiting or running): nothing under way will complete them.
        return 1 if missing(confirm, wanted, plan.repeats) else 0
    runs = study_frame(confirm)
    record = confirmed_best(study_frame(study), runs, min(2, plan.repeats))
    if record is not None:
        record["runs"] = len(complete(runs))
        study.set_user_attr("confirmed_best", record)
    return 0


def keras_trainer(settings: argparse.Namespace, data: Dataset) -> TrainerFactory:
    """The trainer of confirmation runs: the study's objective, seeded apart (``SEED_OFFSET``)."""

    def make() -> tuple[GroupTrainer, tuple[type[Exception], ...]]:
        from study.trials.objective import trial_errors  # imports Keras

        # TensorFlow warns that its functions retrace when it trains one new model after
        # another ("5 out of the last 14 calls ... triggered tf.function retracing"): that is
        # what repeats are. Its other warnings are not silenced.
        logging.getLogger("tensorflow").addFilter(_NotRetracing())

        objective = build_objective(
            settings, data, seed=settings.seed + SEED_OFFSET, pruning=False
        )
        return objective, trial_errors()

    return make


class _NotRetracing(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()
