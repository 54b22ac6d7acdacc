"""The race's rules: which configurations a round of shared seeds leaves in the race.

Pure (NumPy and SciPy, no Optuna, no Keras), so that its error rate and power can be measured
over thousands of synthetic races (``tests/test_race_rules.py``, ``benchmarks/race.py``).

Every configuration still in the race is trained on the same seeds, so its runs form a
configurations x seeds table with a seed (block) effect. After each round, Tukey's honestly
significant difference on that blocked table (the paired t-test when two are left) drops
each configuration whose mean is below the leader's by more than the margin. Tukey's range
test holds the chance that any truly equal pair is told apart at its level even though the
leader was chosen for being highest; the rounds, at most ``len(look_seeds(max_seeds))``, share
the race's level equally (Bonferroni), so one race wrongly drops a truly best configuration
with a chance of at most ``alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np

#: The race's family-wise level: the chance of dropping a truly best configuration.
ALPHA = 0.05
#: Seeds every configuration gets in the first round: the fewest a paired test can use.
FIRST_SEEDS = 2


def look_seeds(max_seeds: int) -> list[int]:
    """The shared seeds after each round: doubling from 2 (as SMAC's intensifier), up to the cap.

    E.g. ``look_seeds(16) == [2, 4, 8, 16]``, ``look_seeds(10) == [2, 4, 8, 10]``.

    Raises:
        ValueError: ``max_seeds`` is below 2 (no paired test on one seed).
    """
    if max_seeds < FIRST_SEEDS:
        raise ValueError(f"a race needs at least {FIRST_SEEDS} seeds, got {max_seeds}")
    looks = [FIRST_SEEDS]
    while looks[-1] < max_seeds:
        looks.append(min(2 * looks[-1], max_seeds))
    return looks


class Verdict(NamedTuple):
    """One round's judgement of the configurations still in the race.

    Attributes:
        means: Each configuration's mean over the shared seeds, in the order given.
        leader: Index of the highest mean.
        margin: How far below the leader's mean a mean must lie to be dropped (nan: no
            test was possible, one seed or one configuration).
        dropped: Indices of the configurations dropped, in the order given.
    """

    means: list[float]
    leader: int
    margin: float
    dropped: list[int]


def judge(values: np.ndarray, alpha: float) -> Verdict:
    """Tukey's HSD on a configurations x seeds table, against its leader.

    Args:
        values: Shape (configurations, seeds); row i, column j is configuration i's
            validation accuracy with seed j.
        alpha: The level of this round's test.
    """
    configs, seeds = values.shape
    means = values.mean(axis=1)
    leader = int(np.argmax(means))
    dof = (configs - 1) * (seeds - 1)
    if dof == 0:
        return Verdict(means.tolist(), leader, math.nan, [])
    # Two-way residuals: each seed's shared effect (its data order, its initialization draw)
    # is taken out, which is what pairing the runs on the same seeds buys.
    residuals = values - means[:, None] - values.mean(axis=0)[None, :] + values.mean()
    mse = float((residuals**2).sum()) / dof
    margin = _range_quantile(configs, dof, alpha) * math.sqrt(mse / seeds)
    dropped = [i for i in range(configs) if means[leader] - means[i] > margin]
    return Verdict(means.tolist(), leader, margin, dropped)


@lru_cache(maxsize=512)
def _range_quantile(configs: int, dof: int, alpha: float) -> float:
    # The studentized range's quantile takes tens of milliseconds (numerical integration);
    # a race, and thousands of synthetic ones, ask for few distinct ones. SciPy is imported
    # here, not at the top: study.optimize's flags read this module's constants.
    from scipy.stats import studentized_range

    return float(studentized_range.ppf(1.0 - alpha, configs, dof))


class Drop(NamedTuple):
    """A configuration the race dropped.

    Attributes:
        key: The configuration.
        seeds: The shared seeds it had when dropped.
        gap: Its mean's distance below the leader's then.
        margin: The margin it exceeded.
    """

    key: str
    seeds: int
    gap: float
    margin: float


class Standing(NamedTuple):
    """Where a race stands, replayed from the runs it has.

    Attributes:
        survivors: The configurations still in the race, best mean first.
        dropped: The ones dropped, in the order they were.
        seeds: The shared seeds every survivor has complete (0 before the first round).
        next_seeds: The shared seeds after the next round, or None when the race is over
            (one left after a round, or ``max_seeds`` reached).
    """

    survivors: list[str]
    dropped: list[Drop]
    seeds: int
    next_seeds: int | None


def replay(
    keys: Sequence[str],
    results: Mapping[str, Mapping[int, float]],
    max_seeds: int,
    alpha: float = ALPHA,
) -> Standing:
    """Replays a race's rounds on the runs it has: the same runs give the same standing.

    A race keeps no state of its own but its runs, so an interrupted one resumes where its
    complete rounds left it.

    Args:
        keys: The configurations that entered, in the order they entered (ties of the mean go
            to the earlier one).
        results: Each configuration's validation accuracy by seed index (0, 1, ...); a round
            counts once each survivor has all of its seeds.
        max_seeds: The most seeds a configuration gets.
        alpha: The race's level (``ALPHA``), shared by its rounds.
    """
    looks = look_seeds(max_seeds)
    per_look = alpha / len(looks)
    survivors = list(keys)
    dropped: list[Drop] = []
    seeds = 0
    for n in looks:
        if len(survivors) < 2 and seeds:  # a lone entrant still gets a first round
            break
        if any(any(r not in results.get(k, {}) for r in range(n)) for k in survivors):
            break
        table = np.array([[results[k][r] for r in range(n)] for k in survivors])
        verdict = judge(table, per_look)
        best = verdict.means[verdict.leader]
        for i in verdict.dropped:
            dropped.append(Drop(survivors[i], n, best - verdict.means[i], verdict.margin))
        kept = [i for i in range(len(survivors)) if i not in verdict.dropped]
        kept.sort(key=lambda i: -verdict.means[i])  # stable: earlier entrant first on a tie
        survivors = [survivors[i] for i in kept]
        seeds = n
    over = (len(survivors) < 2 and seeds > 0) or seeds >= looks[-1]
    next_seeds = None if over else next(n for n in looks if n > seeds)
    return Standing(survivors, dropped, seeds, next_seeds)
