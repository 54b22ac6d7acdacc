"""When a worker stops starting trials: the study holds its target, or trials keep failing.

Both are ``Study.optimize`` callbacks, called after every trial of this process. No Keras here.
"""

from __future__ import annotations

import sys

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState

from study.workers import fail_stale_trials

#: What ``--trials`` counts: trials that ran their course, to the end or until pruned.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
#: A worker stops starting trials once finished plus running ones reach the target: with several
#: workers, counting only finished ones would let each start one more and overshoot. If a running
#: trial then fails, its own worker is still alive, sees the count drop, and goes on.
TARGET_STATES = (*FINISHED, TrialState.RUNNING)


def count_trials(study: optuna.Study, states: tuple[TrialState, ...]) -> int:
    """How many of the study's trials are in one of ``states``, as the storage says now."""
    return len(study.get_trials(deepcopy=False, states=states))


class TargetCallback:
    """Stops the worker once finished plus running trials reach the target.

    Optuna's ``MaxTrialsCallback`` over ``TARGET_STATES``, after failing the trials whose
    heartbeat stopped, so that a dead worker's trial is not counted as running.
    """

    def __init__(self, target: int) -> None:
        self._max_trials = MaxTrialsCallback(target, states=TARGET_STATES)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        fail_stale_trials(study)
        self._max_trials(study, trial)


class FailureGuard:
    """Stops the study after ``limit`` trials in a row fail in this worker (``--max-failures``).

    Attributes:
        limit: Failures in a row that stop the worker.
        failures: Failures in a row so far.
        tripped: Whether the limit was reached (the worker then exits 1).
        last_reason: The ``fail_reason`` of the last failed trial.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.failures = 0
        self.tripped = False
        self.last_reason = ""

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state != TrialState.FAIL:
            self.failures = 0
            return
        self.failures += 1
        self.last_reason = str(trial.user_attrs.get("fail_reason", "no reason recorded"))
        # One line instead of Optuna's logged traceback (its log level is ERROR here).
        print(f"trial {trial.number} failed: {self.last_reason}", file=sys.stderr)
        if self.failures >= self.limit:
            self.tripped = True
            study.stop()
