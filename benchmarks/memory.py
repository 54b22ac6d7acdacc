"""Resident memory across trials in one process: does it stay flat (clear_session + gc)?

Runs N trials of the real objective (the notebook's baseline grid first, then TPE samples) in one
process on a subset of the data, and prints the RSS after each trial as a Markdown table.

    python benchmarks/memory.py --trials 20 --data ../shared/data/aclImdb_reviews.tar.gz
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import DEFAULT_DATA  # noqa: E402
from study.training.backend import select_backend  # noqa: E402


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--limit-train", type=int, default=2000)
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--backend", default="auto")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/memory.json"))
    args = p.parse_args()
    backend = select_backend(args.backend)

    import optuna

    from study.setup.baselines import enqueue_baseline
    from study.training.data import DataSettings, default_cache_dir, load_dataset
    from study.training.settings import TrainSettings
    from study.trials.objective import Objective, trial_errors

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    data = load_dataset(
        DataSettings(source=args.data, limit_train=args.limit_train, limit_test=1000,
                     cache_dir=default_cache_dir())
    )  # fmt: skip
    objective = Objective(
        data, TrainSettings(epochs=args.epochs), vocab_size=1000, sequence_length=80, seed=0,
        pruning=False,
    )  # fmt: skip
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    enqueue_baseline(study)
    rows = []
    start = time.perf_counter()
    study.optimize(
        objective,
        n_trials=args.trials,
        catch=trial_errors(),
        callbacks=[lambda s, t: rows.append((t.number, t.user_attrs.get("n_params"), rss_mib()))],
    )
    print(f"{args.trials} trials, backend {backend}, {time.perf_counter() - start:.0f} s, "
          f"pid {os.getpid()}\n")  # fmt: skip
    print("| trial | n_params | RSS after (MiB) |\n|---:|---:|---:|")
    for number, n_params, rss in rows:
        print(f"| {number} | {n_params} | {rss:.0f} |")
    first, last = rows[0][2], rows[-1][2]
    tail = [r[2] for r in rows[len(rows) // 2 :]]
    print(f"\nRSS after trial 0: {first:.0f} MiB; after trial {rows[-1][0]}: {last:.0f} MiB; "
          f"second half range {min(tail):.0f}-{max(tail):.0f} MiB")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"backend": backend, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
