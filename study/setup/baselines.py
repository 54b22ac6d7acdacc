"""The notebook's 14 configurations in a study: enqueued once, missing ones found and re-enqueued.

No Keras here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import optuna
from optuna.exceptions import DuplicatedStudyError
from optuna.study import StudyDirection
from optuna.trial import TrialState

from search_spaces.baseline import BASELINE_GRID
from search_spaces.lstm import study_space
from storage.optuna_private import storage_of


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
    ``requeue_claim(study)``, checks again what is missing (a process that held the claim
    before may have enqueued it already) and enqueues that, then drops the claim. A process
    that finds the name taken leaves it to its holder. The name depends only on which baseline
    trials have failed, which enqueueing does not change, so a process that looks while
    another is partway through enqueueing claims the same name (it once held the number of
    trials, which the enqueueing changes: two processes could then both hold a claim and both
    enqueue). Should the holder die between claim and drop, its claim blocks only resumes that
    see the same failed baselines: the next failed baseline frees it, and the summary names
    what is missing meanwhile.
    """
    if not [m for m in missing_baselines(study) if m.retry]:
        return []
    storage = storage_of(study)
    try:
        claim_id = storage.create_new_study([StudyDirection.MAXIMIZE], requeue_claim(study))
    except DuplicatedStudyError:
        return []  # another process is re-enqueuing them now
    try:
        labels = [m.label for m in missing_baselines(study) if m.retry]
        enqueue_baseline(study, only=labels)
    finally:
        storage.delete_study(claim_id)
    return labels


def requeue_claim(study: optuna.Study) -> str:
    """The study name that ``requeue_missing_baselines`` claims: ``<study>#baseline-requeue#<N>``.

    ``N`` is the number of the study's latest failed baseline trial (``none`` when none
    failed): the same for every process that sees the same baselines lost, whatever it enqueued.
    """
    failed = [
        t.number
        for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if "baseline" in t.user_attrs
    ]
    return f"{study.study_name}#baseline-requeue#{max(failed) if failed else 'none'}"
