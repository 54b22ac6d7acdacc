"""Fixed configurations trained R times each, as the trials of a study of their own.

``python -m study.confirm`` (the best and the notebook's configurations, other seeds) and
``python -m study.reproduce`` (the notebook's 14 under its own protocol) both enqueue every
(configuration, repeat) once, tagged with ``confirm_key`` and ``repeat``, and train what waits.
A rerun enqueues only what is neither complete, running nor waiting, so it resumes after a crash
and extends the study when ``--repeats`` grows.

No Keras here: the objective that trains is passed in.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import optuna
from optuna.trial import FrozenTrial, TrialState
from tqdm import tqdm  # Optuna's own dependency

from study.workers import (
    check_interrupt,
    deferred_interrupts,
    exit_code,
    fail_own_running_trials,
    install_signal_handlers,
)


class Candidate(NamedTuple):
    """One configuration to repeat.

    Attributes:
        key: A stable text key of the configuration (``reports.tables.config_key``).
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


def enqueue_missing(study: optuna.Study, wanted: list[Candidate], repeats: int) -> int:
    """Enqueues each (configuration, repeat) that is not complete, running or waiting.

    Returns:
        How many trials were enqueued.
    """
    alive = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    have = {
        (t.user_attrs.get("confirm_key"), t.user_attrs.get("repeat"))
        for t in study.get_trials(deepcopy=False, states=alive)
    }
    added = 0
    for candidate in wanted:
        for repeat in range(repeats):
            if (candidate.key, repeat) in have:
                continue
            attrs: dict[str, Any] = {
                "confirm_key": candidate.key,
                "confirm_label": candidate.label,
                "repeat": repeat,
            }
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


def _report_failure(study: optuna.Study, trial: FrozenTrial) -> None:
    if trial.state == TrialState.FAIL:
        reason = trial.user_attrs.get("fail_reason", "no reason recorded")
        print(f"trial {trial.number} failed: {reason}", file=sys.stderr)


def _check(study: optuna.Study, trial: FrozenTrial) -> None:
    check_interrupt()  # checked after every trial; the objective checks after every batch


def run_waiting(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    catch: tuple[type[Exception], ...],
    *,
    progress: bool = True,
) -> int:
    """Trains every waiting trial; SIGINT/SIGTERM fail the running one and stop.

    Args:
        study: The study whose enqueued trials are trained.
        objective: Trains one trial.
        catch: Errors that fail one trial and let the others run (divergence, out of memory).
        progress: Show a progress bar on stderr.

    Returns:
        0 when every waiting trial ran, 130/143 when interrupted.
    """
    todo = waiting(study)
    start = time.perf_counter()
    bar = tqdm(total=todo, unit="run", file=sys.stderr, disable=not progress)
    install_signal_handlers()
    try:
        with deferred_interrupts():
            study.optimize(
                objective,
                n_trials=todo,
                catch=catch,
                callbacks=[_report_failure, lambda study, trial: bar.update(), _check],
            )
    except KeyboardInterrupt as exc:
        fail_own_running_trials(study, f"interrupted ({type(exc).__name__})")
        print(
            "interrupted: the running trial was recorded as FAIL; rerun the same command to "
            "resume",
            file=sys.stderr,
        )
        return exit_code(exc)
    finally:
        bar.close()
    print(f"ran {todo} trainings in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0
