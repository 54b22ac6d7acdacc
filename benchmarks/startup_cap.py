"""Share of sampled proposals over the cost cap, TPE alone against the capped start-up.

No training: each proposal of the extended space (after the notebook's 14 enqueued
configurations) is told a noise value, as a study whose choices do not matter would be, and
proposals the cap would prune are told as pruned, as the objective does. The table gives, per
sampler, the share of the first N sampled proposals over the default cap as mean ± std over the
seeds.

    python benchmarks/startup_cap.py                  # 40 proposals, seeds 0-4
    python benchmarks/startup_cap.py --proposals 20 --seeds 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import optuna
from optuna.trial import TrialState

from search_spaces.cost import NOTEBOOK_MAX_LSTM_PARAMS, over_cap
from search_spaces.lstm import EXTENDED
from study.setup.baselines import enqueue_baseline
from study.setup.sampling import make_sampler, startup_trials


def over_share(seed: int, proposals: int, capped: bool) -> float:
    """Share of the first ``proposals`` sampled (not enqueued) proposals over the default cap."""
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("config", {"space": "extended"})
    enqueue_baseline(study)
    cap = NOTEBOOK_MAX_LSTM_PARAMS if capped else 0
    study.sampler = make_sampler(seed, startup_trials(study), space=EXTENDED, max_lstm_params=cap)
    rng = np.random.default_rng(seed)
    over = sampled = 0
    while sampled < proposals:
        trial = study.ask()
        config = EXTENDED.suggest(trial)
        if "baseline" in trial.user_attrs:
            study.tell(trial, 0.8 + rng.normal(0, 0.01))
            continue
        sampled += 1
        if over_cap(config, NOTEBOOK_MAX_LSTM_PARAMS):
            over += 1
            if capped:  # what the objective now records; before, TPE saw a pruned trial only
                trial.set_constraint("cost_cap", 1.0)
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, 0.8 + rng.normal(0, 0.01))
    return over / proposals


def main() -> int:
    """Prints the table; exits 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    what = f"over the cap, first {args.proposals} sampled (mean ± std, {args.seeds} seeds)"
    print(f"| sampler | {what} |")
    print("|---|---|")
    for name, capped in (("TPE alone (before)", False), ("capped start-up (after)", True)):
        shares = [over_share(seed, args.proposals, capped) for seed in range(args.seeds)]
        spread = statistics.stdev(shares) if len(shares) > 1 else 0.0
        print(f"| {name} | {100 * statistics.fmean(shares):.1f} % ± {100 * spread:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
