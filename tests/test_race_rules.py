"""The race's rules on synthetic configurations (no training): error rate and power over races."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ttest_rel

from study.reruns.race_rules import ALPHA, judge, look_seeds, replay

#: Seed-to-seed std of one run and the std of a seed's shared effect, as measured on the
#: notebook's models (docs/results.md: pooled seed std 0.42 pp).
SIGMA = 0.004
SEED_EFFECT = 0.003


def races(
    means: list[float], n: int, max_seeds: int = 16, seed: int = 0
) -> list[tuple[list[str], list[str], int]]:
    """``n`` races of configurations with these true means: (survivors, dropped keys, seeds)."""
    rng = np.random.default_rng(seed)
    keys = [f"c{i}" for i in range(len(means))]
    out = []
    for _ in range(n):
        shared = rng.normal(0.0, SEED_EFFECT, max_seeds)
        results = {
            k: {j: m + shared[j] + rng.normal(0.0, SIGMA) for j in range(max_seeds)}
            for k, m in zip(keys, means, strict=True)
        }
        standing = replay(keys, results, max_seeds)
        assert standing.next_seeds is None  # every run is there: the race is over
        out.append((standing.survivors, [d.key for d in standing.dropped], standing.seeds))
    return out


def test_the_rounds_double_from_two_seeds_up_to_the_cap() -> None:
    assert look_seeds(16) == [2, 4, 8, 16]
    assert look_seeds(10) == [2, 4, 8, 10]
    assert look_seeds(2) == [2]
    with pytest.raises(ValueError, match="at least 2 seeds, got 1"):
        look_seeds(1)


def test_two_configurations_are_judged_by_the_paired_t_test() -> None:
    rng = np.random.default_rng(1)
    agreed = 0
    for _ in range(200):
        table = rng.normal(0.8, SIGMA, (2, 4)) + rng.normal(0.0, SEED_EFFECT, 4)
        table[0] += rng.choice([0.0, 0.005, 0.01])
        verdict = judge(table, ALPHA)
        paired = ttest_rel(table[0], table[1]).pvalue < ALPHA
        agreed += bool(verdict.dropped) == paired
    assert agreed == 200


def test_a_tie_is_called_a_tie_at_the_nominal_rate() -> None:
    # Five configurations truly equal: any drop is an error. Tukey's range test at each of the
    # four rounds' share of the level, over 1,000 races.
    outcome = races([0.80] * 5, 1000)
    wrong = np.mean([bool(dropped) for _, dropped, _ in outcome])
    assert wrong <= ALPHA
    assert np.mean([seeds for *_, seeds in outcome]) > 15  # most ran to the cap, all tied


def test_the_leader_chosen_for_being_highest_does_not_inflate_the_error() -> None:
    # The naive rule, a paired t-test of the leader against each other at 5 % per round,
    # drops a truly equal configuration in most races: what the range test is for.
    rng = np.random.default_rng(2)
    naive = 0
    for _ in range(300):
        table = rng.normal(0.8, SIGMA, (5, 16)) + rng.normal(0.0, SEED_EFFECT, 16)
        leader = int(np.argmax(table.mean(axis=1)))
        naive += any(
            ttest_rel(table[leader, :n], table[i, :n]).pvalue < ALPHA
            for n in (2, 4, 8, 16)
            for i in range(5)
            if i != leader
        )
    assert naive / 300 > 3 * ALPHA


def test_a_truly_better_configuration_wins_alone() -> None:
    # Better by three seed stds (1.2 pp): found, alone, in every race, well before the cap.
    outcome = races([0.812, 0.80, 0.80, 0.80, 0.80], 500)
    assert np.mean([survivors == ["c0"] for survivors, _, _ in outcome]) >= 0.95
    assert np.mean([seeds for *_, seeds in outcome]) < 12


def test_among_two_truly_best_neither_is_dropped_beyond_the_rate() -> None:
    outcome = races([0.80, 0.80, 0.788, 0.788, 0.788], 500)
    best_dropped = np.mean([bool({"c0", "c1"} & set(dropped)) for _, dropped, _ in outcome])
    assert best_dropped <= ALPHA
    assert np.mean([set(survivors) <= {"c0", "c1"} for survivors, _, _ in outcome]) >= 0.9


def test_a_race_resumes_from_the_runs_it_has() -> None:
    keys = ["a", "b", "c"]
    full = {"a": {j: 0.83 for j in range(8)}, "b": {j: 0.80 + 0.001 * j for j in range(8)}}
    full["c"] = {j: 0.831 - 0.001 * (j % 2) for j in range(8)}
    partial = {k: {j: v for j, v in runs.items() if j < 3} for k, runs in full.items()}
    standing = replay(keys, partial, max_seeds=8)
    assert (standing.seeds, standing.next_seeds) == (2, 4)  # the round to 4 seeds is incomplete
    assert [d.key for d in standing.dropped] == ["b"]
    assert standing.survivors == ["c", "a"]
    assert replay(keys, full, max_seeds=8).dropped[0] == standing.dropped[0]


def test_a_lone_entrant_gets_one_round_for_its_spread() -> None:
    assert replay(["a"], {}, 16).next_seeds == 2
    done = replay(["a"], {"a": {0: 0.8, 1: 0.81}}, 16)
    assert (done.survivors, done.seeds, done.next_seeds) == (["a"], 2, None)
