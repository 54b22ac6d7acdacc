"""TPE whose random start-up never proposes a configuration over the cost cap.

TPE's start-up draws each parameter on its own, and in the extended space most such draws land
over ``--max-lstm-params``: trials the objective prunes untrained, which the start-up is then
spent on. ``CappedStartup`` draws the start-up's configurations itself, every parameter at once
(Optuna's relative sampling), from the space's distributions with Optuna's ``RandomSampler`` on
its own seed, and draws again until one fits under the cap. After the start-up, TPE proposes as
it always did; the cost cap reaches it as a constraint each trial records
(``study.trials.objective``). No Keras here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from search_spaces.cost import over_cap
from search_spaces.lstm import SearchSpace, config_from_params
from study.training.seeds import derive_seed

#: Joint draws one start-up proposal may take to fit under the cap. Under the default cap about
#: one draw in three fits in the extended space; past this bound (a cap next to the smallest
#: configuration) the last draw is proposed, and the objective prunes it as over the cap.
MAX_STARTUP_DRAWS = 1000
#: What TPE counts toward its start-up (``n_startup_trials``).
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class CappedStartup(optuna.samplers.BaseSampler):
    """A ``TPESampler`` whose start-up proposals are drawn jointly and under the cost cap.

    Args:
        tpe: The TPE sampler; it proposes every trial after the start-up, and every enqueued
            trial's parameters the queue does not fix.
        space: The study's search space: what a start-up proposal draws.
        max_lstm_params: The cost cap (``--max-lstm-params``; positive).
        n_startup_trials: TPE's ``n_startup_trials``: the start-up lasts while the study holds
            fewer finished (complete or pruned) trials, as TPE counts.
        seed: Seeds the start-up's own generator (derived from it, apart from TPE's).
    """

    def __init__(
        self,
        tpe: optuna.samplers.TPESampler,
        *,
        space: SearchSpace,
        max_lstm_params: int,
        n_startup_trials: int,
        seed: int,
    ) -> None:
        self.tpe = tpe
        self._space = space
        self._cap = max_lstm_params
        self._n_startup_trials = n_startup_trials
        self._random = optuna.samplers.RandomSampler(seed=derive_seed("capped startup", seed))

    def _in_startup(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if "fixed_params" in trial.system_attrs:  # an enqueued trial: the queue decides
            return False
        finished = study.get_trials(deepcopy=False, states=_FINISHED)
        return len(finished) < self._n_startup_trials

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if self._in_startup(study, trial):
            return dict(self._space.distributions)
        return self.tpe.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not self._in_startup(study, trial) or search_space != self._space.distributions:
            return self.tpe.sample_relative(study, trial, search_space)
        params: dict[str, Any] = {}
        for _ in range(MAX_STARTUP_DRAWS):
            params = {
                name: self._random.sample_independent(study, trial, name, distribution)
                for name, distribution in search_space.items()
            }
            if not over_cap(config_from_params(params), self._cap):
                break
        return params

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self.tpe.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.tpe.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.tpe.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.tpe.reseed_rng()
        self._random.reseed_rng()
