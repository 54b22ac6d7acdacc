"""Fixed configurations trained R times each, as the trials of a study of their own.

``python -m study.confirm`` (the best and the notebook's configurations, other seeds) and
``python -m study.reproduce`` (the notebook's 14 under its own protocol) both enqueue every
(configuration, repeat) once, tagged with ``confirm_key`` and ``repeat``, and train what waits.
A rerun enqueues only what is neither complete, running nor waiting, so it resumes after a crash
and extends the study when ``--repeats`` grows; the runs of a worker that died are failed and
re-queued first (``study.reruns.confirmation.recover_lost_runs``), or they would count as
running for ever.

A configuration's missing repeats are asked together, trained together as replicas of one
vectorized program (``Objective.train_together``) and told together.

No Keras here: the trainer is passed in.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, NamedTuple, Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState
from tqdm import tqdm  # Optuna's own dependency

from storage.optuna_private import heartbeat_thread
from study.workers.ownership import (
    OWNER_ATTR,
    check_interrupt,
    deferred_interrupts,
    exit_code,
    fail_own_running_trials,
    install_signal_handlers,
    owner_id,
)

#: The user attribute of a run whose seed was chosen when it was enqueued (the trainer reads it).
SEED_ATTR = "seed"


class Candidate(NamedTuple):
    """One configuration to repeat.

    Attributes:
        key: A stable text key of the configuration (``search_spaces.keys.config_key``).
        params: The configuration as Optuna params.
        label: What reports call it.
        baseline: The notebook label when it is one of the notebook's configurations.
        source_trial: The trial of the original study it repeats, if any.
    """

    key: str
    params: dict[str, Any]
    label: str
    baseline: str | None
    source_trial: int | None


def missing(
    study: optuna.Study | None, wanted: list[Candidate], repeats: int
) -> list[tuple[Candidate, int]]:
    """Each (configuration, repeat) that is not complete, running or waiting; reads only.

    Args:
        study: The study of the repeats, or None before it exists (then all are missing).
        wanted: The configurations.
        repeats: Runs per configuration.
    """
    alive = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    return _without(study, wanted, repeats, alive)


def incomplete(
    study: optuna.Study | None, wanted: list[Candidate], repeats: int
) -> list[tuple[Candidate, int]]:
    """Each (configuration, repeat) with no COMPLETE run yet (waiting, running, failed or none).

    A comparison of the configurations is fair only when this is empty: a configuration whose
    runs are missing would otherwise drop out of it, or be compared on fewer seeds.
    """
    return _without(study, wanted, repeats, (TrialState.COMPLETE,))


def _without(
    study: optuna.Study | None,
    wanted: list[Candidate],
    repeats: int,
    states: tuple[TrialState, ...],
) -> list[tuple[Candidate, int]]:
    have = set()
    if study is not None:
        have = {
            (t.user_attrs.get("confirm_key"), t.user_attrs.get("repeat"))
            for t in study.get_trials(deepcopy=False, states=states)
        }
    return [(c, r) for c in wanted for r in range(repeats) if (c.key, r) not in have]


def describe_incomplete(study: optuna.Study, lacking: list[tuple[Candidate, int]]) -> str:
    """Names each configuration with runs lacking, how many, and the state of each lacking run.

    E.g. ``top 1: trial #0 lacks 3 of its runs (2 running, 1 failed: TrainingDiverged: ...)``.
    """
    latest: dict[tuple[Any, Any], FrozenTrial] = {}
    for run in study.get_trials(deepcopy=False):
        latest[(run.user_attrs.get("confirm_key"), run.user_attrs.get("repeat"))] = run
    fates: dict[str, list[str]] = {}  # by label, in the order of ``lacking``
    for candidate, repeat in lacking:
        trial = latest.get((candidate.key, repeat))
        if trial is None:
            fate = "not enqueued"
        elif trial.state == TrialState.FAIL:
            fate = f"failed: {trial.user_attrs.get('fail_reason', 'no reason recorded')}"
        else:
            fate = trial.state.name.lower()
        fates.setdefault(candidate.label, []).append(fate)
    parts = []
    for label, found in fates.items():
        counted = {fate: found.count(fate) for fate in found}
        states = ", ".join(f"{n} {fate}" for fate, n in counted.items())
        parts.append(f"{label} lacks {len(found)} run{'s' if len(found) > 1 else ''} ({states})")
    return "; ".join(parts)


def enqueue_missing(
    study: optuna.Study,
    wanted: list[Candidate],
    repeats: int,
    seed_of: Callable[[int], int] | None = None,
) -> int:
    """Enqueues each (configuration, repeat) that is not complete, running or waiting.

    Args:
        study: The study of the repeats.
        wanted: The configurations.
        repeats: Runs per configuration.
        seed_of: The seed of each repeat, the same for every configuration (the race pairs
            its runs on them); None: each run's seed is derived from its trial number.

    Returns:
        How many trials were enqueued.
    """
    added = 0
    for candidate, repeat in missing(study, wanted, repeats):
        attrs: dict[str, Any] = {
            "confirm_key": candidate.key,
            "confirm_label": candidate.label,
            "repeat": repeat,
        }
        if seed_of is not None:
            attrs[SEED_ATTR] = seed_of(repeat)
        if candidate.baseline is not None:
            attrs["baseline"] = candidate.baseline
        if candidate.source_trial is not None:
            attrs["confirm_of"] = candidate.source_trial
        study.enqueue_trial(candidate.params, user_attrs=attrs)
        added += 1
    return added


def waiting(study: optuna.Study) -> int:
    """How many enqueued trials wait to be trained."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


class GroupTrainer(Protocol):
    """Trains trials of one configuration together (``study.trials.objective.Objective``)."""

    def train_together(self, trials: list[optuna.Trial]) -> list[float]: ...


def ask_group(study: optuna.Study) -> list[optuna.Trial]:
    """Asks the next waiting trial and every waiting trial after it with the same configuration.

    ``enqueue_missing`` enqueues a configuration's repeats one after another, and ``ask`` takes
    waiting trials in order, so a group is a configuration's missing repeats.
    """
    first = _ask(study)
    group = [first]
    key = first.user_attrs.get("confirm_key")
    for trial in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        if trial.user_attrs.get("confirm_key") != key:
            break
        group.append(_ask(study))
    return group


def _ask(study: optuna.Study) -> optuna.Trial:
    with warnings.catch_warnings():
        # "Heartbeat of storage is supposed to be used with Study.optimize": run_waiting runs
        # the same heartbeat thread for each trial it asks.
        warnings.filterwarnings("ignore", message="Heartbeat of storage", category=UserWarning)
        trial = study.ask()
    # Owned from the start, so that a rerun on this host can tell the run's process died even
    # when it died before training began (the trainer records the owner again).
    trial.set_user_attr(OWNER_ATTR, owner_id())
    return trial


def run_waiting(
    study: optuna.Study,
    trainer: GroupTrainer,
    catch: tuple[type[Exception], ...],
    *,
    progress: bool = True,
) -> int:
    """Trains every waiting trial, a configuration's repeats together; interrupts fail them.

    Args:
        study: The study whose enqueued trials are trained.
        trainer: Trains the trials of one configuration at once.
        catch: Errors that fail the trials of one configuration and let the others run
            (divergence, out of memory).
        progress: Show a progress bar on stderr.

    Returns:
        0 when every waiting trial ran, 130/143 when interrupted.
    """
    todo = waiting(study)
    start = time.perf_counter()
    bar = tqdm(total=todo, unit="run", file=sys.stderr, disable=not progress)
    install_signal_handlers()
    group: list[optuna.Trial] = []
    try:
        with deferred_interrupts():
            while waiting(study):
                group = ask_group(study)
                try:
                    with ExitStack() as beating:
                        # Trials asked by hand get the heartbeat study.optimize gives its own,
                        # so that another process can tell when this one has died.
                        for trial in group:
                            thread = heartbeat_thread(study, trial)
                            thread.start()
                            beating.callback(thread.join)
                        values = trainer.train_together(group)
                except catch:
                    for trial in group:
                        study.tell(trial, state=TrialState.FAIL)
                        reason = trial.user_attrs.get("fail_reason", "no reason recorded")
                        print(f"trial {trial.number} failed: {reason}", file=sys.stderr)
                else:
                    for trial, value in zip(group, values, strict=True):
                        study.tell(trial, value)
                bar.update(len(group))
                group = []
                check_interrupt()
    except KeyboardInterrupt as exc:
        reason = f"interrupted ({type(exc).__name__})"
        for trial in group:
            trial.set_user_attr("fail_reason", reason)
            study.tell(trial, state=TrialState.FAIL)
        fail_own_running_trials(study, reason)
        print(
            "interrupted: the running trials were recorded as FAIL; rerun the same command to "
            "resume",
            file=sys.stderr,
        )
        return exit_code(exc)
    finally:
        bar.close()
    print(f"ran {todo} trainings in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0
