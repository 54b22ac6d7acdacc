"""Pruning that gives every value of a categorical axis a warm-up before it judges it.

In the extended space the notebook's grid gives the LSTM, the forward direction and the last
state 14 complete trials before the first GRU, bidirectional or pooled model runs; the median
pruner then judges that model after epoch 1 against those fast-starting notebook LSTMs, and a
choice that starts slower never completes a trial. Here a trial is not pruned while any of its
categorical choices (``CHOICE_AXES``) has fewer than ``WARMUP_COMPLETE`` complete trials;
after that, Optuna's own median or Hyperband pruner decides, as it always did.

Why a warm-up rather than judging a trial against its own kind only: Optuna's pruners judge
against the whole study (Hyperband against its bracket); a per-kind median would mean
re-implementing them over a filtered set of trials, where the warm-up only holds them back. The
pruners are subclasses, not wrappers, so that what Optuna checks by type (TPE reads only a
Hyperband trial's own bracket) still holds. No Keras here.
"""

from __future__ import annotations

from collections import Counter

import optuna
from optuna.trial import FrozenTrial, TrialState

#: The extended space's categorical axes whose every value gets a warm-up.
CHOICE_AXES: tuple[str, ...] = ("cell", "bidirectional", "readout")
#: Complete trials a value needs before a trial holding it may be pruned.
WARMUP_COMPLETE = 5


def under_represented(study: optuna.Study, trial: FrozenTrial) -> list[str]:
    """The trial's categorical choices (``axis=value``) with fewer than the warm-up's trials.

    Counts the study's complete trials holding each of the trial's values of ``CHOICE_AXES``;
    a trial without those parameters (the notebook space) has none.
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    counts = Counter(
        (axis, t.params[axis]) for t in complete for axis in CHOICE_AXES if axis in t.params
    )
    return [
        f"{axis}={trial.params[axis]}"
        for axis in CHOICE_AXES
        if axis in trial.params and counts[(axis, trial.params[axis])] < WARMUP_COMPLETE
    ]


class WarmupMedianPruner(optuna.pruners.MedianPruner):
    """Optuna's ``MedianPruner``, holding back while a trial's choice is in its warm-up."""

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return not under_represented(study, trial) and super().prune(study, trial)


class WarmupHyperbandPruner(optuna.pruners.HyperbandPruner):
    """Optuna's ``HyperbandPruner``, holding back while a trial's choice is in its warm-up."""

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return not under_represented(study, trial) and super().prune(study, trial)
