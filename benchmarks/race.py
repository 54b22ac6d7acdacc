"""The race against the fixed confirmation, on synthetic configurations: errors, power, runs.

No training: K configurations with chosen true accuracies, each run drawing its seed's shared
effect and its own noise (the notebook models' seed-to-seed spread, docs/results.md), as the
race (``study.reruns.race_rules.replay``, its rounds of 2, 4, 8, 16 shared seeds) and the
fixed confirmation (every configuration R seeds, the best mean named) would see them. Per
scenario, over many races: how often each names the truly best configuration alone, how often
it names a wrong one or drops a truly best one (with no lead, all five are), how often the race
calls a tie, and the runs spent. The
budget is left out (a race here may run to its seed cap); ``study.reruns.race`` adds it.

    python benchmarks/race.py                     # 2,000 races per scenario, 3 s
    python benchmarks/race.py --races 200
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks._common import default_out, show_and_save
from study.reruns.race_rules import ALPHA, replay

#: One run's seed-to-seed std and its seed's shared part (the pooled 0.42 pp of docs/results.md).
SIGMA = 0.004
SHARED = 0.003
#: The scenarios: the first configuration's lead over four equal others, in seed stds.
LEADS = (0.0, 0.5, 1.0, 2.0, 3.0)


COLUMNS = (
    "best's lead over 4 equal others",
    "race: best named alone",
    "race: tie called",
    "race: a best dropped (its error)",
    "race: runs (mean)",
    "fixed: best named",
    "fixed: another named",
    "fixed: runs",
)


def scenario(lead: float, races: int, max_seeds: int, fixed: int, seed: int) -> dict[str, str]:
    """One table row: the race's and the fixed confirmation's outcomes for this lead."""
    rng = np.random.default_rng(seed)
    means = [0.80 + lead * SIGMA] + [0.80] * 4
    keys = [f"c{i}" for i in range(len(means))]
    best = set(keys) if lead == 0 else {"c0"}  # with no lead, every one is a best
    alone = wrong = tie = runs = fixed_right = 0
    for _ in range(races):
        shared = rng.normal(0.0, SHARED, max_seeds)
        table = np.array(means)[:, None] + shared[None, :]
        table = table + rng.normal(0.0, SIGMA, table.shape)
        results = {k: dict(enumerate(row)) for k, row in zip(keys, table, strict=True)}
        standing = replay(keys, results, max_seeds, ALPHA)
        alone += standing.survivors == ["c0"]
        wrong += any(d.key in best for d in standing.dropped)
        tie += len(standing.survivors) > 1
        runs += standing.seeds * len(standing.survivors) + sum(d.seeds for d in standing.dropped)
        fixed_right += int(np.argmax(table[:, :fixed].mean(axis=1))) == 0
    share = 100.0 / races
    values = (
        f"{lead:g} σ ({100 * lead * SIGMA:.1f} pp)",
        f"{alone * share:.1f} %",
        f"{tie * share:.1f} %",
        f"{wrong * share:.1f} %",
        f"{runs / races:.1f}",
        f"{fixed_right * share:.1f} %",
        f"{(races - fixed_right) * share:.1f} %",
        f"{len(means) * fixed}",
    )
    return dict(zip(COLUMNS, values, strict=True))


def main() -> int:
    """Prints the table, writes its JSON; exits 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--races", type=int, default=2000, help="races per scenario")
    parser.add_argument("--max-seeds", type=int, default=16, help="the race's seed cap")
    parser.add_argument("--fixed", type=int, default=3, help="the fixed confirmation's seeds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=default_out("race"))
    args = parser.parse_args()
    print(
        f"{args.races} races per row; run std {100 * SIGMA:.2f} pp, shared by seed "
        f"{100 * SHARED:.2f} pp; race level {ALPHA:.0%}, up to {args.max_seeds} seeds; the "
        f"fixed confirmation: {args.fixed} seeds each, the best mean named"
    )
    rows = [
        scenario(lead, args.races, args.max_seeds, args.fixed, args.seed + i)
        for i, lead in enumerate(LEADS)
    ]
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    return show_and_save(args.out, COLUMNS, settings=settings, rows=rows)


if __name__ == "__main__":
    sys.exit(main())
