"""When a worker stops starting trials: the study holds its target, or trials keep failing.

What ``--trials`` counts: trained models. A sampled configuration over ``--max-lstm-params`` is
pruned untrained and records ``over_cost_cap``: TPE learns from it, but it counts toward the
target nowhere (``count_trials``: the single process, every worker, the progress bar, the
resume line). ``CostCapGuard`` stops a worker the cap keeps from training anything.

All three are ``Study.optimize`` callbacks, called after every trial of this process. No Keras
here.
"""

from __future__ import annotations

import sys

import optuna
from optuna.trial import FrozenTrial, TrialState

from study.workers.ownership import fail_stale_trials

#: What ``--trials`` counts: trials that ran their course, to the end or until pruned (except the
#: ones the cost cap pruned before they trained: ``count_trials``).
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
#: A worker stops starting trials once finished plus running ones reach the target: with several
#: workers, counting only finished ones would let each start one more and overshoot. If a running
#: trial then fails, its own worker is still alive, sees the count drop, and goes on.
TARGET_STATES = (*FINISHED, TrialState.RUNNING)


#: The user attribute of a trial the cost cap pruned before it trained.
OVER_COST_CAP = "over_cost_cap"
#: Proposals over the cost cap in a row after which a worker stops: the cap leaves (next to)
#: nothing TPE can find. TPE learns to sample under a sensible cap long before, and its random
#: start-up draws under the cap (``study.setup.capped_startup``).
MAX_OVER_CAP_IN_A_ROW = 100


def counts_toward_target(trial: FrozenTrial) -> bool:
    """Whether a trial counts toward ``--trials``: not one the cost cap kept from training."""
    return OVER_COST_CAP not in trial.user_attrs


def count_trials(study: optuna.Study, states: tuple[TrialState, ...]) -> int:
    """How many of the study's trials in one of ``states`` count toward ``--trials``, now.

    Trials pruned over the cost cap (``over_cost_cap``) are left out: ``--trials N`` means N
    models trained (or pruned while training), whatever the cap turned away.
    """
    trials = study.get_trials(deepcopy=False, states=states)
    return sum(counts_toward_target(t) for t in trials)


class TargetCallback:
    """Stops the worker once finished plus running trials reach the target.

    Counts as ``count_trials`` does (``TARGET_STATES``, no trial the cost cap pruned), after
    failing the trials whose heartbeat stopped, so that a dead worker's trial is not counted as
    running.
    """

    def __init__(self, target: int) -> None:
        self._target = target

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        fail_stale_trials(study)
        if count_trials(study, TARGET_STATES) >= self._target:
            study.stop()


class CostCapGuard:
    """Stops the worker after ``limit`` proposals in a row are over the cost cap.

    They do not count toward ``--trials``, so a cap that (next to) nothing fits under would
    otherwise keep the worker proposing forever. The worker then exits 1 with one line.

    Attributes:
        limit: Over-cap proposals in a row that stop the worker.
        in_a_row: Over-cap proposals in a row so far.
        tripped: Whether the limit was reached.
    """

    def __init__(self, limit: int = MAX_OVER_CAP_IN_A_ROW) -> None:
        self.limit = limit
        self.in_a_row = 0
        self.tripped = False

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if counts_toward_target(trial):
            self.in_a_row = 0
            return
        self.in_a_row += 1
        if self.in_a_row >= self.limit:
            self.tripped = True
            study.stop()


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
